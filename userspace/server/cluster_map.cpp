#include "server/cluster_map.hpp"

#include <algorithm>
#include <utility>

#include "cluster/merge.hpp"
#include "server/drop_watch.hpp"
#include "server/node_view.hpp"

namespace podpath::server {
namespace {

using nlohmann::json;

// The agent of `node` the view counts: the reachable one, else the first.
const cluster::AgentState* agent_of(const std::vector<cluster::AgentState>& agents, const std::string& node) {
  const cluster::AgentState* first = nullptr;
  for (const auto& a : agents) {
    if (a.name() != node) continue;
    if (a.reachable) return &a;
    if (first == nullptr) first = &a;
  }
  return first;
}

json agent_state_json(const cluster::AgentState* a, const cluster::MergedCluster& merged,
                      const std::string& node) {
  const auto unknown = merged.unknown.find(node);
  const json reason = unknown != merged.unknown.end() ? json(unknown->second) : json(nullptr);
  if (a == nullptr) {
    return {
        {"state", "none"}, {"address", nullptr}, {"since", nullptr}, {"error", nullptr}, {"reason", reason}};
  }
  return {{"state", a->reachable ? "reachable" : "unreachable"},
          {"address", a->endpoint.display()},
          {"since", a->unreachable_since ? json(cluster::clock_text(*a->unreachable_since)) : json(nullptr)},
          {"error", a->error.empty() ? json(nullptr) : json(a->error)},
          {"reason", reason}};
}

// A node nobody served a /v1/node for: what the names' source knows of it, pods included.
json node_from_names(const model::Cluster& names, const std::string& name) {
  const model::Node* n = names.find_node(name);
  const auto text = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"node", name},
          {"pod_cidr", n != nullptr ? json(n->pod_cidr.to_string()) : json(nullptr)},
          {"underlay_ip", n != nullptr ? json(n->underlay_ip.to_string()) : json(nullptr)},
          {"bridge", n != nullptr ? text(n->interfaces.bridge) : json(nullptr)},
          {"uplink", n != nullptr ? text(n->interfaces.uplink) : json(nullptr)},
          {"interfaces", json::array()},
          {"pods", pods_json(names, name)},
          {"routes", json::array()}};
}

}  // namespace

std::vector<std::string> merge_agent_drops(const std::vector<cluster::AgentState>& agents) {
  std::vector<std::pair<std::uint64_t, json>> all;
  for (const auto& a : agents) {
    if (!a.drops_json.is_object() || !a.drops_json.contains("drops")) continue;
    const json clock = a.node_json.is_object() ? a.node_json.value("clock", json::object()) : json::object();
    const auto offset = clock.value("offset_ns", std::int64_t{0});
    for (json d : a.drops_json["drops"]) {
      if (!d.is_object()) continue;
      const auto t =
          cluster::align_time(d.value("monotonic_ns", std::uint64_t{0}), offset, a.client_offset_ns);
      d["monotonic_ns"] = t;
      all.emplace_back(t, std::move(d));
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  if (all.size() > kDropsKept) all.resize(kDropsKept);
  std::vector<std::string> out;
  out.reserve(all.size());
  for (const auto& [t, d] : all) out.push_back(d.dump());
  return out;
}

MapRefresh cluster_map_refresh(const cluster::ClusterView& view) {
  MapRefresh out;
  auto selected = view.select(output::FlowFilter{}, output::SortKey::Rate, 0);
  out.flows.reserve(selected.views.size());
  for (const auto& v : selected.views) out.flows.push_back(make_flow_item(v));

  const auto agents = view.agents();
  const model::Cluster& names = view.cluster();
  std::vector<std::string> order;
  for (const auto& n : names.nodes) order.push_back(n.name);
  for (const auto& a : agents) {
    if (std::find(order.begin(), order.end(), a.name()) == order.end()) order.push_back(a.name());
  }
  json nodes = json::array();
  for (const auto& name : order) {
    const cluster::AgentState* a = agent_of(agents, name);
    json body = a != nullptr && a->ever_reached && a->node_json.is_object() ? a->node_json
                                                                            : node_from_names(names, name);
    body["agent_state"] = agent_state_json(a, view.merged(), name);
    nodes.push_back(std::move(body));
  }
  out.nodes = nodes_json(std::move(nodes), gateway_json(view.merged().topology, names, view.cidrs()));
  out.drops = std::make_shared<const std::vector<std::string>>(merge_agent_drops(agents));
  return out;
}

}  // namespace podpath::server
