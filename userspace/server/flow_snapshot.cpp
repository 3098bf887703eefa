#include "server/flow_snapshot.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "output/flow_json.hpp"

namespace podpath::server {
namespace {

bool active_now(const flows::Flow* flow) {
  if (flow == nullptr) return false;
  return std::any_of(flow->points.begin(), flow->points.end(),
                     [](const flows::PointStats& p) { return p.delta_packets > 0 || p.delta_bytes > 0; });
}

}  // namespace

std::string conversation_id(const model::FlowKey& key) {
  return fmt::format("{}/{}/{}/{}/{}{}", key.proto, key.src.to_string(), key.sport, key.dst.to_string(),
                     key.dport, key.fragment ? "/frag" : "");
}

flows::Path node_path(const flows::Path& path, std::string_view node) {
  flows::Path out;
  std::size_t last_local = path.hops.size();
  for (std::size_t i = 0; i < path.hops.size(); ++i) {
    const flows::Hop& h = path.hops[i];
    if (h.node != node && !h.observed()) continue;
    out.hops.push_back(h);
    if (h.node == node) last_local = i;
    if (h.state == flows::HopState::Missing) out.complete = false;
  }
  if (last_local == path.hops.size() || last_local + 1 == path.hops.size()) {
    out.verdict = path.verdict;
  } else {
    out.verdict = fmt::format("left {} by {}; the rest of the path is on other nodes", node,
                              path.hops[last_local].interface);
  }
  return out;
}

void FlowSnapshotBuilder::note_generation(const FlowInputs& in) {
  bool changed = false;
  if (cluster_ != in.cluster) {
    cluster_ = in.cluster;
    changed = true;
  }
  if (!(topology_ == in.topology)) {
    topology_ = in.topology;
    changed = true;
  }
  if (changed) ++generation_;
}

FlowItemPtr FlowSnapshotBuilder::build(const FlowInputs& in, const flows::Conversation& c) const {
  output::ConversationView view;
  view.forward = output::describe(*c.forward, in.resolver, in.topology);
  if (!node_.empty()) view.forward.path = node_path(view.forward.path, node_);
  if (in.container_of) view.forward.container = in.container_of(c.forward->key, view.forward.src.pod.get());
  if (c.reverse != nullptr) {
    view.reverse = output::describe(*c.reverse, in.resolver, in.topology);
    if (!node_.empty()) view.reverse->path = node_path(view.reverse->path, node_);
    if (in.container_of)
      view.reverse->container = in.container_of(c.reverse->key, view.reverse->src.pod.get());
  }
  return make_flow_item(view);
}

FlowItemPtr make_flow_item(const output::ConversationView& view) {
  auto item = std::make_shared<FlowItem>();
  item->id = conversation_id(view.forward.flow->key);
  item->json = output::conversation_json_text(view, item->id);
  // The string grew by doubling: up to half of it would be slack, kept for the item's life.
  item->json.shrink_to_fit();
  item->packets = view.packets();
  item->bytes = view.bytes();
  item->pps = view.pps();
  item->bps = view.bps();
  item->key_flow.key = view.forward.flow->key;
  item->key_flow.nat_join = view.forward.flow->nat_join;
  item->src = view.forward.src;
  item->dst = view.forward.dst;
  return item;
}

FlowChanges FlowSnapshotBuilder::update(const FlowInputs& in, std::vector<FlowItemPtr>& items) {
  note_generation(in);
  const std::uint64_t now = ++updates_;
  FlowChanges changes;
  items.clear();
  items.reserve(in.conversations.size());
  for (const auto& c : in.conversations) {
    if (c.forward == nullptr) continue;
    const Signature sig{c.forward->last_active_ns, c.reverse != nullptr ? c.reverse->last_active_ns : 0,
                        c.reverse != nullptr, active_now(c.forward) || active_now(c.reverse), generation_};
    auto [it, added] = cache_.try_emplace(c.forward->key);
    Cached& entry = it->second;
    if (added || entry.signature != sig) {
      entry.item = build(in, c);
      entry.signature = sig;
      ++rebuilt_;
      changes.changed.push_back(entry.item);
    }
    entry.seen_in = now;
    items.push_back(entry.item);
  }
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (it->second.seen_in == now) {
      ++it;
      continue;
    }
    changes.removed.push_back(std::move(it->second.item));
    it = cache_.erase(it);
  }
  return changes;
}

std::vector<FlowItemPtr> select_flows(const std::vector<FlowItemPtr>& items, const output::FlowFilter& filter,
                                      output::SortKey sort, std::size_t limit, std::size_t& total) {
  std::vector<FlowItemPtr> out;
  for (const auto& item : items) {
    if (item->matches(filter)) out.push_back(item);
  }
  total = out.size();
  // The orders of `podpath trace --sort`; items come busiest (bits/s) first already.
  switch (sort) {
  case output::SortKey::Rate:
    std::stable_sort(out.begin(), out.end(), [](const FlowItemPtr& a, const FlowItemPtr& b) {
      if (a->bps != b->bps) return a->bps > b->bps;
      return a->pps > b->pps;
    });
    break;
  case output::SortKey::Packets:
    std::stable_sort(out.begin(), out.end(),
                     [](const FlowItemPtr& a, const FlowItemPtr& b) { return a->packets > b->packets; });
    break;
  case output::SortKey::Bytes:
    std::stable_sort(out.begin(), out.end(),
                     [](const FlowItemPtr& a, const FlowItemPtr& b) { return a->bytes > b->bytes; });
    break;
  case output::SortKey::None:
    break;
  }
  if (limit != 0 && out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace podpath::server
