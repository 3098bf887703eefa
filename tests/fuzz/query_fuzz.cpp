// libFuzzer harness for the agent's request parsing: the query strings of every endpoint
// (decoding, bounds, the filters, sort and limit of /v1/flows) and --listen addresses. Any
// input parses or yields an error with a message; a parsed filter is applied to a
// conversation; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "inventory/source.hpp"
#include "output/filter.hpp"
#include "server/listen_address.hpp"
#include "server/query.hpp"

// output/filter.cpp's check_names() and check_endpoints() name an unknown pod or node with
// the inventory's messages; the harness never calls them, and linking the inventory (its
// sources, the Kubernetes client, libcurl) for those sentences would fuzz nothing more.
std::string podpath::inventory::unknown_pod_message(const podpath::model::Cluster& /*cluster*/,
                                                    std::string_view pod) {
  return std::string("no pod ") + std::string(pod);
}
std::string podpath::inventory::unknown_node_message(const podpath::model::Cluster& /*cluster*/,
                                                     std::string_view node) {
  return std::string("no node ") + std::string(node);
}

namespace {

const podpath::output::ConversationView& sample() {
  static const auto pod = std::make_shared<const podpath::model::Pod>(
      podpath::model::Pod{"default", "web-1", "", "node1", *podpath::model::IpAddress::parse("10.10.129.2")});
  static podpath::flows::Flow flow = [] {
    podpath::flows::Flow f;
    f.key.src = pod->ip;
    f.key.dst = *podpath::model::IpAddress::parse("10.10.130.2");
    f.key.proto = 6;
    f.key.sport = 40000;
    f.key.dport = 5432;
    return f;
  }();
  static const podpath::output::ConversationView view = [] {
    podpath::output::ConversationView v;
    v.forward.flow = &flow;
    v.forward.src.kind = podpath::flows::EndpointKind::Pod;
    v.forward.src.ip = flow.key.src;
    v.forward.src.pod = pod;
    v.forward.src.node = "node1";
    v.forward.dst.ip = flow.key.dst;
    return v;
  }();
  return view;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto q = podpath::server::parse_flow_query(text)) {
    if (q->limit > podpath::server::kMaxLimit) std::abort();
    (void)q->filter.matches(sample());
  } else if (q.error().message.empty()) {
    std::abort();
  }
  if (auto params = podpath::server::parse_query_string(text)) {
    if (params->size() > podpath::server::kMaxQueryParams) std::abort();
    for (const auto& [name, value] : *params) {
      if (name.empty()) std::abort();
    }
  }
  (void)podpath::server::parse_drops_query(text);
  if (auto a = podpath::server::parse_listen_address(text)) {
    if (auto again = podpath::server::parse_listen_address(a->to_string());
        !again || again->to_string() != a->to_string()) {
      std::abort();
    }
  }
  return 0;
}
