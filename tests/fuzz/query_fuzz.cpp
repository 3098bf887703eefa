// libFuzzer harness for the agent's request parsing: the query strings of every endpoint
// (decoding, bounds, the filters, sort and limit of /v1/flows) and --listen addresses. Any
// input parses or yields an error with a message; a parsed filter is applied to a
// conversation; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "output/filter.hpp"
#include "server/listen_address.hpp"
#include "server/query.hpp"

namespace {

const podpath::output::ConversationView& sample() {
  static const podpath::model::Pod pod{"default", "web-1", "", "node1",
                                       *podpath::model::IpAddress::parse("10.10.129.2")};
  static podpath::flows::Flow flow = [] {
    podpath::flows::Flow f;
    f.key.src = pod.ip;
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
    v.forward.src.pod = &pod;
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
