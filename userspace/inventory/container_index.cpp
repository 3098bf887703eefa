#include "inventory/container_index.hpp"

#include <algorithm>

namespace podpath::inventory {

ContainerIndex ContainerIndex::from_cluster(const model::Cluster& cluster) {
  ContainerIndex index;
  for (const auto& pod : cluster.pods) {
    for (const auto& c : pod.containers) {
      if (c.cgroup_id == 0) continue;
      index.by_cgroup_[c.cgroup_id] =
          ContainerRef{pod.full_name(), pod.uid, c.name, c.id, c.cgroup_path, c.cgroup_id, false};
    }
  }
  return index;
}

void ContainerIndex::add_discovered(const std::vector<DiscoveredCgroup>& found,
                                    const model::Cluster& cluster) {
  // Pod UID -> pod: from the inventory, and from sandbox ids (the pause container's cgroup
  // names the UID host-local IPAM does not know).
  std::map<std::string, const model::Pod*, std::less<>> by_uid;
  for (const auto& pod : cluster.pods) {
    if (!pod.uid.empty()) by_uid[pod.uid] = &pod;
  }
  for (const auto& d : found) {
    if (!d.parsed.is_container()) continue;
    for (const auto& pod : cluster.pods) {
      if (!pod.sandbox_id.empty() && pod.sandbox_id == d.parsed.container_id)
        by_uid.emplace(d.parsed.pod_uid, &pod);
    }
  }
  for (const auto& d : found) {
    if (!d.parsed.is_container() || d.parsed.runtime_monitor || by_cgroup_.count(d.cgroup_id) != 0) continue;
    ContainerRef ref;
    ref.pod_uid = d.parsed.pod_uid;
    ref.container_id = d.parsed.container_id;
    ref.container = short_container_id(d.parsed.container_id);
    ref.cgroup_path = d.path.string();
    ref.cgroup_id = d.cgroup_id;
    if (const auto it = by_uid.find(d.parsed.pod_uid); it != by_uid.end()) {
      const model::Pod& pod = *it->second;
      ref.pod = pod.full_name();
      ref.sandbox = pod.sandbox_id == d.parsed.container_id;
      if (ref.sandbox) ref.container = "(sandbox)";
      for (const auto& c : pod.containers) {
        if (c.id == d.parsed.container_id) ref.container = c.name;
      }
    }
    by_cgroup_[d.cgroup_id] = std::move(ref);
  }
}

const ContainerRef* ContainerIndex::find(std::uint64_t cgroup_id) const {
  const auto it = by_cgroup_.find(cgroup_id);
  return it == by_cgroup_.end() ? nullptr : &it->second;
}

std::vector<const ContainerRef*> ContainerIndex::containers_of(std::string_view pod) const {
  std::vector<const ContainerRef*> out;
  for (const auto& [id, ref] : by_cgroup_) {
    // Nested cgroups of one container share its id: list the container once.
    if (ref.pod != pod || ref.sandbox) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const ContainerRef* r) {
      return !ref.container_id.empty() ? r->container_id == ref.container_id : r->container == ref.container;
    });
    if (!seen) out.push_back(&ref);
    // Prefer the container's own cgroup over a nested one.
    for (auto& r : out) {
      if (r->container_id == ref.container_id && ref.cgroup_path.size() < r->cgroup_path.size()) r = &ref;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ContainerRef* a, const ContainerRef* b) { return a->container < b->container; });
  return out;
}

const ContainerRef* ContainerIndex::sandbox_of(std::string_view pod) const {
  const ContainerRef* best = nullptr;
  for (const auto& [id, ref] : by_cgroup_) {
    if (ref.pod == pod && ref.sandbox &&
        (best == nullptr || ref.cgroup_path.size() < best->cgroup_path.size())) {
      best = &ref;
    }
  }
  return best;
}

}  // namespace podpath::inventory
