#include "output/pods_view.hpp"

#include <algorithm>
#include <array>

#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace {

bool in_cidr(const PodRow& r) { return !r.node_cidr || r.node_cidr->contains(r.pod->ip); }

std::size_t app_containers(const model::Pod& pod) {
  return static_cast<std::size_t>(std::count_if(pod.containers.begin(), pod.containers.end(),
                                                [](const model::Container& c) { return !c.init; }));
}

std::string ready_text(const PodRow& r) {
  if (app_containers(*r.pod) == 0) return "-";
  return std::to_string(r.running) + "/" + std::to_string(app_containers(*r.pod));
}

}  // namespace

std::vector<PodRow> pod_rows(const model::Cluster& cluster, const std::string& node,
                             const std::function<bool(const model::Container&)>& is_running) {
  std::vector<PodRow> rows;
  for (const auto& pod : cluster.pods) {
    if (!node.empty() && pod.node != node) continue;
    PodRow r;
    r.pod = &pod;
    if (is_running) {
      r.running = static_cast<std::size_t>(
          std::count_if(pod.containers.begin(), pod.containers.end(),
                        [&](const model::Container& c) { return !c.init && is_running(c); }));
    }
    if (const model::Node* n = cluster.find_node(pod.node)) r.node_cidr = n->pod_cidr;
    rows.push_back(r);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const PodRow& a, const PodRow& b) {
    if (a.pod->node != b.pod->node) return a.pod->node < b.pod->node;
    return a.pod->ip < b.pod->ip;
  });
  return rows;
}

std::string highlight_last_octet(const model::IpAddress& ip, bool color) {
  const std::string text = ip.to_string();
  if (!color) return text;
  const Style style(true);
  const auto cut = text.find_last_of(ip.is_v4() ? '.' : ':');
  if (cut == std::string::npos) return text;
  return text.substr(0, cut + 1) + style.yellow(text.substr(cut + 1));
}

std::string render_pod_table(const std::vector<PodRow>& rows, bool color) {
  const Style style(color);
  using Row = std::array<std::string, 6>;
  std::vector<Row> cells;
  cells.push_back({"NAMESPACE", "NAME", "READY", "IP", "NODE", "NODE CIDR"});
  for (const auto& r : rows) {
    std::string cidr = r.node_cidr ? r.node_cidr->to_string() : "<unknown node>";
    if (!in_cidr(r)) {
      // Two appends, not `" " + red(...)`: GCC 12 warns falsely (-Wrestrict) on that in Release.
      cidr += ' ';
      cidr += style.red("(IP outside the node's CIDR!)");
    }
    cells.push_back({r.pod->ns.empty() ? "<none>" : printable(r.pod->ns), printable(r.pod->name),
                     ready_text(r), highlight_last_octet(r.pod->ip, color), printable(r.pod->node), cidr});
  }
  std::array<std::size_t, 6> width{};
  for (const auto& row : cells) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? pad_right(row[i], width[i] + 3) : row[i];
    }
    out += line + "\n";
  }
  if (rows.empty()) out += "(no pods)\n";
  return out;
}

nlohmann::json pods_to_json(const std::vector<PodRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json containers = nlohmann::json::array();
    for (const auto& c : r.pod->containers)
      containers.push_back({{"name", c.name}, {"id", c.id}, {"pid", c.pid}});
    out.push_back(
        {{"namespace", r.pod->ns},
         {"name", r.pod->name},
         {"ip", r.pod->ip.to_string()},
         {"node", r.pod->node},
         {"node_cidr", r.node_cidr ? nlohmann::json(r.node_cidr->to_string()) : nlohmann::json(nullptr)},
         {"in_node_cidr", in_cidr(r)},
         {"veth", r.pod->veth},
         {"sandbox_id", r.pod->sandbox_id},
         {"ready", r.running},
         {"containers", containers}});
  }
  return out;
}

}  // namespace podpath::output
