#include "inventory/container_attribution.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "util/system.hpp"

namespace podpath::inventory {
namespace {

bool is_icmp(std::uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

}  // namespace

ContainerAttribution::ContainerAttribution(const ContainerIndex& index, std::vector<ContainerFlow> records)
    : records_(std::move(records)) {
  refs_.reserve(records_.size());
  for (const auto& r : records_) {
    const ContainerRef* ref = index.find(r.cgroup_id);
    ContainerRef out = ref != nullptr ? *ref : ContainerRef{};
    out.cgroup_id = r.cgroup_id;
    refs_.push_back(std::move(out));
  }
}

std::vector<ContainerRef> ContainerAttribution::lookup(std::uint64_t netns_cookie,
                                                       const model::IpAddress& local, std::uint8_t proto,
                                                       std::uint16_t local_port) const {
  std::vector<ContainerRef> out;
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const auto& r = records_[i];
    if (r.proto != proto || r.local != local || r.local_port != local_port) continue;
    if (netns_cookie != 0 && r.netns_cookie != 0 && r.netns_cookie != netns_cookie) continue;
    if (std::find(out.begin(), out.end(), refs_[i]) == out.end()) out.push_back(refs_[i]);
  }
  return out;
}

std::vector<ContainerRef> ContainerAttribution::for_flow(const model::FlowKey& key,
                                                         std::uint64_t pod_netns_cookie) const {
  // ICMP keys carry the echo identifier in sport for both directions (type/code in dport).
  const std::uint16_t dst_port = is_icmp(key.proto) ? key.sport : key.dport;
  auto out = lookup(pod_netns_cookie, key.src, key.proto, key.sport);
  if (out.empty()) out = lookup(pod_netns_cookie, key.dst, key.proto, dst_port);
  return out;
}

std::string ContainerAttribution::column(const model::FlowKey& key, std::uint64_t pod_netns_cookie) const {
  std::string out;
  for (const auto& ref : for_flow(key, pod_netns_cookie)) {
    const std::string name =
        ref.container.empty() ? "cgroup:" + std::to_string(ref.cgroup_id) : ref.container;
    out += (out.empty() ? "" : ",") + name;
  }
  return out;
}

Result<std::filesystem::path> default_attach_cgroup(const model::Cluster& cluster) {
  std::error_code ec;
  if (!cluster.cgroup_root.empty()) {
    if (!std::filesystem::is_directory(cluster.cgroup_root, ec)) {
      return make_error(ENOENT, "the lab's cgroup {} does not exist (is the lab up?)", cluster.cgroup_root);
    }
    return std::filesystem::path(cluster.cgroup_root);
  }
  const auto mount = find_mount("cgroup2");
  if (!mount) {
    return make_error(ENOENT, "no cgroup v2 hierarchy is mounted: per-container attribution needs one");
  }
  return kubepods_attach_point(*mount);
}

}  // namespace podpath::inventory
