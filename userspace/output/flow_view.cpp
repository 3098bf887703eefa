#include "output/flow_view.hpp"

namespace podpath::output {

double ConversationView::bps() const { return forward.flow->bps() + (reverse ? reverse->flow->bps() : 0); }
double ConversationView::pps() const { return forward.flow->pps() + (reverse ? reverse->flow->pps() : 0); }
std::uint64_t ConversationView::packets() const {
  return forward.flow->packets() + (reverse ? reverse->flow->packets() : 0);
}
std::uint64_t ConversationView::bytes() const {
  return forward.flow->bytes() + (reverse ? reverse->flow->bytes() : 0);
}

DirectionView describe(const flows::Flow& flow, const flows::EndpointResolver& resolver,
                       const flows::Topology& topology) {
  DirectionView v;
  v.flow = &flow;
  // Across a NAT the path runs between the pods: the request after the translation
  // (client -> backend), the reply before the reverse one (backend -> client).
  const model::FlowKey& between = flow.between_key();
  v.src = resolver.resolve_at(between.src, flow.first_seen_ns);
  v.dst = resolver.resolve_at(between.dst, flow.first_seen_ns);
  v.path = flows::compose_path(flow, v.src, v.dst, topology);
  if (const model::NatRecord* nat = flow.nat(); nat != nullptr) {
    v.service = resolver.resolve_at(nat->original.dst, flow.first_seen_ns);
    const flows::NatExplanation why = resolver.explain_nat(*nat);
    v.nat = flows::describe_nat(flow, why);
    flows::annotate_nat(v.path, flow, why);
  }
  return v;
}

std::vector<ConversationView> describe(const std::vector<flows::Conversation>& conversations,
                                       const flows::EndpointResolver& resolver,
                                       const flows::Topology& topology) {
  std::vector<ConversationView> out;
  out.reserve(conversations.size());
  for (const auto& c : conversations) {
    if (c.forward == nullptr) continue;
    ConversationView v;
    v.forward = describe(*c.forward, resolver, topology);
    if (c.reverse != nullptr) v.reverse = describe(*c.reverse, resolver, topology);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace podpath::output
