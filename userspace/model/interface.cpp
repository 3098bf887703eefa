#include "model/interface.hpp"

namespace podpath::model {

const char* to_string(InterfaceRole role) {
  switch (role) {
  case InterfaceRole::PodVeth:
    return "pod_veth";
  case InterfaceRole::Bridge:
    return "bridge";
  case InterfaceRole::Uplink:
    return "uplink";
  case InterfaceRole::Gateway:
    return "gateway";
  case InterfaceRole::Other:
    break;
  }
  return "other";
}

}  // namespace podpath::model
