#include "inventory/cidrs.hpp"

#include <algorithm>

namespace podpath::inventory {

const char* to_string(CidrKind kind) {
  switch (kind) {
  case CidrKind::PodCidr:
    return "pods";
  case CidrKind::Underlay:
    return "underlay";
  case CidrKind::Services:
    return "services";
  case CidrKind::Docker:
    return "docker";
  case CidrKind::Other:
    break;
  }
  return "other";
}

Result<CidrTable> CidrTable::build(const model::Cluster& cluster, const CidrOptions& options) {
  CidrTable table;
  for (const auto& node : cluster.nodes) {
    if (node.pod_cidr.prefix_len == 0) continue;  // no pod CIDR known (an undiscovered host)
    auto id = table.add(node.pod_cidr, node.name + " pods", CidrKind::PodCidr, node.name);
    if (!id) return id.error();
  }
  if (cluster.underlay) {
    auto id = table.add(*cluster.underlay, "underlay", CidrKind::Underlay);
    if (!id) return id.error();
  }
  if (options.service_cidr) {
    auto id = table.add(*options.service_cidr, "services", CidrKind::Services);
    if (!id) return id.error();
  }
  // docker0 is node-local and usually the same network on every node: one entry per
  // distinct network, owned by a node only when a single node has it.
  std::vector<std::pair<model::Cidr, std::vector<std::string>>> docker;
  for (const auto& [node, cidr] : options.docker) {
    auto it = std::find_if(docker.begin(), docker.end(), [&](const auto& d) { return d.first == cidr; });
    if (it == docker.end()) {
      docker.push_back({cidr, {node}});
    } else {
      it->second.push_back(node);
    }
  }
  for (const auto& [cidr, nodes] : docker) {
    std::string label = "docker0 ";
    std::string owner;
    if (nodes.size() == 1) {
      label += nodes.front();
      owner = nodes.front();
    } else if (nodes.size() == cluster.nodes.size()) {
      label += "(every node)";
    } else {
      for (std::size_t i = 0; i < nodes.size(); ++i) label += (i == 0 ? "" : ",") + nodes[i];
    }
    auto id = table.add(cidr, std::move(label), CidrKind::Docker, std::move(owner));
    if (!id) return id.error();
  }
  return table;
}

Result<std::uint16_t> CidrTable::add(const model::Cidr& cidr, std::string label, CidrKind kind,
                                     std::string node) {
  if (const auto* existing = find(cidr)) {
    return make_error(EEXIST, "CIDR {} ({}) is already classified as {}", cidr.to_string(), label,
                      existing->label);
  }
  if (entries_.size() + 1 >= kMaxCidrs) {
    return make_error(ENOSPC, "too many CIDRs to classify: at most {} (adding {} for {})", kMaxCidrs - 1,
                      cidr.to_string(), label);
  }
  const auto id = static_cast<std::uint16_t>(entries_.size() + 1);
  entries_.push_back({id, cidr, std::move(label), kind, std::move(node)});
  return id;
}

const CidrEntry* CidrTable::lookup(const model::IpAddress& addr) const {
  const CidrEntry* best = nullptr;
  for (const auto& e : entries_) {
    if (e.cidr.contains(addr) && (best == nullptr || e.cidr.prefix_len128() > best->cidr.prefix_len128())) {
      best = &e;
    }
  }
  return best;
}

const CidrEntry* CidrTable::by_id(std::uint16_t id) const {
  if (id == kCidrOther || id > entries_.size()) return nullptr;
  return &entries_[id - 1];
}

const CidrEntry* CidrTable::find(const model::Cidr& cidr) const {
  const auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const CidrEntry& e) { return e.cidr == cidr; });
  return it == entries_.end() ? nullptr : &*it;
}

std::string CidrTable::label(std::uint16_t id) const {
  const auto* e = by_id(id);
  return e == nullptr ? "other" : e->label;
}

}  // namespace podpath::inventory
