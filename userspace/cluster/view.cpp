#include "cluster/view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "output/flow_json.hpp"

namespace podpath::cluster {
namespace {

using nlohmann::json;

// The value of label `name` in a Prometheus series' label set `{a="x",b="y"}`.
std::string label(std::string_view labels, std::string_view name) {
  const std::string key = std::string(name) + "=\"";
  std::size_t at = 0;
  while ((at = labels.find(key, at)) != std::string_view::npos) {
    if (at == 0 || labels[at - 1] == '{' || labels[at - 1] == ',') {
      const auto start = at + key.size();
      const auto end = labels.find('"', start);
      if (end == std::string_view::npos) return {};
      return std::string(labels.substr(start, end - start));
    }
    at += key.size();
  }
  return {};
}

std::uint16_t cidr_id(const std::string& text, const inventory::CidrTable& cidrs) {
  const auto c = model::Cidr::parse(text);
  if (!c) return 0;
  const auto* e = cidrs.find(*c);
  return e != nullptr ? e->id : 0;
}

}  // namespace

void add_metrics_matrix(const std::string& metrics, const inventory::CidrTable& cidrs,
                        std::vector<bpf::MatrixCell>& cells) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    const bool packets = line.starts_with("podpath_cidr_pair_packets_total{");
    const bool bytes = line.starts_with("podpath_cidr_pair_bytes_total{");
    if (!packets && !bytes) continue;
    const auto open = line.find('{');
    const auto close = line.find('}', open);
    if (close == std::string::npos) continue;
    const std::string_view labels(line.data() + open, close - open + 1);
    const auto src = cidr_id(label(labels, "src_cidr"), cidrs);
    const auto dst = cidr_id(label(labels, "dst_cidr"), cidrs);
    double value = 0;
    try {
      value = std::stod(line.substr(close + 1));
    } catch (const std::exception&) {
      continue;
    }
    auto it = std::find_if(cells.begin(), cells.end(),
                           [&](const bpf::MatrixCell& c) { return c.src_cidr == src && c.dst_cidr == dst; });
    if (it == cells.end()) {
      cells.push_back(bpf::MatrixCell{src, dst, 0, 0});
      it = cells.end() - 1;
    }
    (packets ? it->packets : it->bytes) += static_cast<std::uint64_t>(value);
  }
}

model::Cluster cluster_from_agents(const std::vector<AgentState>& agents) {
  model::Cluster c;
  std::map<std::string, std::string> veth_of;  // "ns/name" -> host-side veth
  for (const auto& a : agents) {
    if (!a.ever_reached) continue;
    const json& nj = a.node_json;
    if (c.find_node(a.node) != nullptr) continue;
    model::Node n;
    n.name = a.node;
    if (auto ip = model::IpAddress::parse(nj.value("underlay_ip", json("")).is_string()
                                              ? nj.value("underlay_ip", std::string())
                                              : std::string()))
      n.underlay_ip = *ip;
    if (nj.contains("pod_cidr") && nj["pod_cidr"].is_string()) {
      if (auto cidr = model::Cidr::parse(nj["pod_cidr"].get<std::string>())) n.pod_cidr = *cidr;
    }
    if (nj.contains("bridge") && nj["bridge"].is_string())
      n.interfaces.bridge = nj["bridge"].get<std::string>();
    if (nj.contains("uplink") && nj["uplink"].is_string())
      n.interfaces.uplink = nj["uplink"].get<std::string>();
    for (const auto& i : nj.value("interfaces", json::array())) {
      if (i.contains("pod") && i["pod"].is_string() && i.contains("name") && i["name"].is_string())
        veth_of[i["pod"].get<std::string>()] = i["name"].get<std::string>();
    }
    c.nodes.push_back(std::move(n));
  }
  std::set<std::string> pods;
  for (const auto& a : agents) {  // each node's own pods, as its agent lists them
    if (!a.ever_reached) continue;
    for (const auto& j : a.node_json.value("pods", json::array())) {
      model::Pod p;
      p.ns = j.value("namespace", std::string());
      p.name = j.value("pod", std::string());
      p.node = a.node;
      const auto ip = model::IpAddress::parse(j.value("ip", std::string()));
      if (p.name.empty() || !ip || !pods.insert(p.full_name()).second) continue;
      p.ip = *ip;
      if (j.contains("veth") && j["veth"].is_string()) p.veth = j["veth"].get<std::string>();
      c.pods.push_back(std::move(p));
    }
  }
  for (const auto& a : agents) {
    if (!a.reachable) continue;
    for (const auto& conv : a.flows_json.value("flows", json::array())) {
      for (const char* end : {"src", "dst"}) {
        const json e = conv.value(end, json::object());
        if (e.value("kind", std::string()) != "pod" || !e.contains("pod") || !e.contains("namespace"))
          continue;
        model::Pod p;
        p.ns = e.value("namespace", std::string());
        p.name = e.value("pod", std::string());
        p.node = e.value("node", json("")).is_string() ? e.value("node", std::string()) : std::string();
        const auto ip = model::IpAddress::parse(e.value("ip", std::string()));
        if (!ip || !pods.insert(p.full_name()).second) continue;
        p.ip = *ip;
        if (const auto it = veth_of.find(p.full_name()); it != veth_of.end()) p.veth = it->second;
        c.pods.push_back(std::move(p));
      }
    }
  }
  return c;
}

Result<std::unique_ptr<ClusterView>> ClusterView::open(ClusterViewOptions options) {
  std::unique_ptr<ClusterView> v(new ClusterView());
  v->options_ = std::move(options);
  if (v->options_.source) {
    auto loaded = inventory::load_cluster(*v->options_.source);
    if (!loaded) return wrap_error(loaded.error(), "the cluster's names");
    v->names_ = loaded->description;
    v->loaded_ = std::move(*loaded);
  } else {
    v->names_ = "names from the agents";
  }
  for (const auto& e : v->options_.agents)
    v->clients_.push_back(std::make_unique<AgentClient>(e, v->options_.auth, v->options_.transport));
  v->refresh();
  return v;
}

const std::vector<AgentState> ClusterView::agents() const {
  std::vector<AgentState> out;
  out.reserve(clients_.size());
  for (const auto& c : clients_) out.push_back(c->state());
  return out;
}

Result<void> ClusterView::rebuild_names() {
  if (loaded_ && cluster_ && cidrs_) return {};  // a fixed source: built once
  cluster_ =
      std::make_shared<const model::Cluster>(loaded_ ? loaded_->cluster : cluster_from_agents(agents()));
  auto cidrs = inventory::CidrTable::build(*cluster_);
  if (!cidrs) return cidrs.error();
  auto table = std::make_unique<inventory::CidrTable>(std::move(*cidrs));
  resolver_ = std::make_unique<inventory::Resolver>(
      cluster_, *table, loaded_ && loaded_->kube ? &loaded_->kube->pods() : nullptr);
  cidrs_ = std::move(table);
  return {};
}

void ClusterView::refresh(bool metrics) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& c : clients_) c->poll(now, metrics, options_.drops);
  if (auto r = rebuild_names(); !r) throw std::runtime_error(r.error().to_string());
  merged_ = merge_agents(*cluster_, agents());
}

output::SelectedViews ClusterView::select(const output::FlowFilter& filter, output::SortKey sort,
                                          std::size_t limit) const {
  flows::SelectOptions select;
  select.order = output::conversation_order(sort);
  select.limit = limit;
  select.keep = filter.keeper(*resolver_);
  const flows::Selection chosen = flows::select_conversations(merged_.flows, select);
  output::SelectedViews out;
  out.total = chosen.total;
  out.matching = chosen.matching;
  out.views = output::describe(chosen.conversations, *resolver_, merged_.topology);
  for (auto& v : out.views) {
    mark_unknown(v.forward.path, merged_.unknown);
    if (v.reverse) mark_unknown(v.reverse->path, merged_.unknown);
  }
  return out;
}

std::vector<std::string> ClusterView::problems() const {
  std::vector<std::string> out;
  for (const auto& c : clients_) {
    const auto& s = c->state();
    if (!s.reachable) out.push_back(unreachable_reason(s) + (s.error.empty() ? "" : ": " + s.error));
  }
  for (const auto& node : merged_.without_agent) out.push_back("no agent on " + node);
  return out;
}

std::string ClusterView::describe() const {
  std::vector<std::string> parts;
  std::size_t reachable = 0;
  for (const auto& c : clients_) {
    const auto& s = c->state();
    if (s.reachable) {
      ++reachable;
      parts.push_back(s.name());
    } else {
      parts.push_back(s.name() + " unreachable" +
                      (s.unreachable_since ? " since " + clock_text(*s.unreachable_since) : std::string()));
    }
  }
  std::string out = fmt::format("{} of {} agents ({})", reachable, clients_.size(), fmt::join(parts, ", "));
  if (!merged_.without_agent.empty())
    out += fmt::format(" · no agent on {}", fmt::join(merged_.without_agent, ", "));
  return out + " · " + names_;
}

json ClusterView::agents_json() const {
  json out = json::array();
  for (const auto& c : clients_) {
    const auto& s = c->state();
    json j = {{"node", s.node.empty() ? json(nullptr) : json(s.node)},
              {"address", s.endpoint.display()},
              {"state", s.reachable ? "reachable" : "unreachable"},
              {"since", s.unreachable_since ? json(clock_text(*s.unreachable_since)) : json(nullptr)},
              {"error", s.error.empty() ? json(nullptr) : json(s.error)}};
    out.push_back(std::move(j));
  }
  for (const auto& node : merged_.without_agent) {
    out.push_back(
        {{"node", node}, {"address", nullptr}, {"state", "none"}, {"since", nullptr}, {"error", nullptr}});
  }
  return out;
}

std::string ClusterView::snapshot_text(const output::SelectedViews& views, std::time_t now) const {
  std::string out;
  output::JsonWriter w(out);
  // Members sorted by key, as a document keeps them.
  w.begin_object();
  w.key("agents").document(agents_json());
  w.key("cluster").value(describe());
  w.key("conversations").document(output::selection_to_json(views));
  w.key("flows");
  output::write_flows(w, views.views);
  w.key("time").value(static_cast<std::int64_t>(now));
  w.key("type").value("snapshot");
  w.end_object();
  return out;
}

std::vector<bpf::MatrixCell> ClusterView::matrix() const {
  std::vector<bpf::MatrixCell> cells;
  for (const auto& c : clients_) {
    if (c->state().reachable) add_metrics_matrix(c->state().metrics, *cidrs_, cells);
  }
  return cells;
}

}  // namespace podpath::cluster
