#include "flows/endpoint.hpp"

namespace podpath::flows {

const char* to_string(EndpointKind kind) {
  switch (kind) {
  case EndpointKind::Pod:
    return "pod";
  case EndpointKind::Node:
    return "node";
  case EndpointKind::Gateway:
    return "gateway";
  case EndpointKind::Service:
    return "service";
  case EndpointKind::External:
    break;
  }
  return "external";
}

}  // namespace podpath::flows
