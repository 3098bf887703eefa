#include "flows/select.hpp"

#include <algorithm>

namespace podpath::flows {
namespace {

/// First-seen times closer than this are a tie: the kernel's coarse clock ticks every
/// 1-10 ms, so a request and its reply often share a timestamp.
constexpr std::uint64_t kSameTickNs = 10'000'000;

/// A conversation with its sort key computed once.
struct Ranked {
  Conversation c;
  double bps = 0;
  double pps = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

Ranked rank(const Conversation& c) { return Ranked{c, c.bps(), c.pps(), c.packets(), c.bytes()}; }

bool before(const Ranked& a, const Ranked& b, ConversationOrder order) {
  switch (order) {
  case ConversationOrder::Rate:
    if (a.bps != b.bps) return a.bps > b.bps;
    if (a.pps != b.pps) return a.pps > b.pps;
    if (a.packets != b.packets) return a.packets > b.packets;
    break;
  case ConversationOrder::Packets:
    if (a.packets != b.packets) return a.packets > b.packets;
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    break;
  case ConversationOrder::Bytes:
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.packets != b.packets) return a.packets > b.packets;
    break;
  }
  return a.c.forward->key < b.c.forward->key;
}

}  // namespace

double Conversation::bps() const { return (forward ? forward->bps() : 0) + (reverse ? reverse->bps() : 0); }
double Conversation::pps() const { return (forward ? forward->pps() : 0) + (reverse ? reverse->pps() : 0); }
std::uint64_t Conversation::packets() const {
  return (forward ? forward->packets() : 0) + (reverse ? reverse->packets() : 0);
}
std::uint64_t Conversation::bytes() const {
  return (forward ? forward->bytes() : 0) + (reverse ? reverse->bytes() : 0);
}

/// An ICMP echo request (it is the initiator whatever the clocks say: podpath attaching in
/// the middle of a ping, interface by interface, can see a reply before its request); else
/// the one seen clearly first; else the one towards the lower port (clients use high
/// ephemeral ports, servers listen on low ones); else by key.
bool initiated_first(const Flow& a, const Flow& b) {
  if (a.key.is_echo_request() != b.key.is_echo_request()) return a.key.is_echo_request();
  if (a.first_seen_ns != 0 && b.first_seen_ns != 0) {
    const auto gap = a.first_seen_ns > b.first_seen_ns ? a.first_seen_ns - b.first_seen_ns
                                                       : b.first_seen_ns - a.first_seen_ns;
    if (gap > kSameTickNs) return a.first_seen_ns < b.first_seen_ns;
  }
  const bool a_to_server = a.key.dport < a.key.sport;
  const bool b_to_server = b.key.dport < b.key.sport;
  if (a_to_server != b_to_server && !a.key.is_icmp()) return a_to_server;
  return a.key < b.key;
}

bool shown_before(const Conversation& a, const Conversation& b, ConversationOrder order) {
  return before(rank(a), rank(b), order);
}

Selection select_conversations(const FlowStore& flows, const SelectOptions& options,
                               std::span<const Conversation> joined,
                               std::span<const std::uint8_t> in_joined) {
  Selection out;
  std::vector<Ranked> heap;  // with a limit: the best so far, the one shown last on top
  const auto later = [&](const Ranked& a, const Ranked& b) { return before(a, b, options.order); };
  const auto consider = [&](const Conversation& c) {
    ++out.total;
    if (options.keep && !options.keep(c)) return;
    ++out.matching;
    Ranked ranked = rank(c);
    if (options.limit == 0 || heap.size() < options.limit) {
      heap.push_back(ranked);
      if (options.limit != 0) std::push_heap(heap.begin(), heap.end(), later);
    } else if (later(ranked, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), later);
      heap.back() = ranked;
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  const auto held = [&](std::uint32_t pos) { return pos < in_joined.size() && in_joined[pos] != 0; };
  for (const Conversation& c : joined) consider(c);
  for (std::uint32_t i = 0; i < flows.size(); ++i) {
    if (held(i)) continue;
    std::uint32_t r = flows.reverse_of(i);
    if (r != FlowStore::kNone && held(r)) r = FlowStore::kNone;  // the reply belongs to a joined one
    if (r != FlowStore::kNone && r < i) continue;                // the pair was taken at its first flow
    Conversation c{&flows[i], r == FlowStore::kNone ? nullptr : &flows[r]};
    if (c.reverse != nullptr && !initiated_first(*c.forward, *c.reverse)) std::swap(c.forward, c.reverse);
    consider(c);
  }
  std::sort(heap.begin(), heap.end(), later);
  out.conversations.reserve(heap.size());
  for (const auto& h : heap) out.conversations.push_back(h.c);
  return out;
}

}  // namespace podpath::flows
