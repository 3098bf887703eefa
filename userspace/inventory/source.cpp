#include "inventory/source.hpp"

#include <unistd.h>

#include <cerrno>

namespace podpath::inventory {
namespace {

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "localhost";
  return host;
}

Result<LoadedCluster> from_file(const std::filesystem::path& file, ClusterOrigin origin,
                                std::string description) {
  auto cluster = read_lab_inventory(file);
  if (!cluster) return cluster.error();
  LoadedCluster out;
  out.cluster = std::move(*cluster);
  out.origin = origin;
  out.description = std::move(description);
  return out;
}

}  // namespace

Result<LoadedCluster> load_cluster(const ClusterSourceOptions& options) {
  if (options.inventory_file) {
    return from_file(*options.inventory_file, ClusterOrigin::InventoryFile,
                     "inventory " + options.inventory_file->string());
  }
  auto found = find_lab_inventory(options.lab, options.lab_state_dir);
  if (found) {
    const std::string name = found->parent_path().filename().string();
    return from_file(*found, ClusterOrigin::Lab, "lab " + name + " (" + found->string() + ")");
  }
  // The lab errors are complete sentences; their errno would only repeat them.
  if (options.lab || !options.allow_local_discovery || found.error().code != ENOENT) {
    return make_error(0, "{}", found.error().message);
  }
  auto local = discover_local(options.local);
  if (!local && options.bare_host_on_discovery_failure) {
    LoadedCluster bare;
    bare.origin = ClusterOrigin::LocalDiscovery;
    model::Node node;
    node.name = options.local.hostname.value_or(host_name());
    node.netns = options.local.netns;
    node.interfaces = {"", "", ""};
    bare.description = "this host (" + node.name + "), undiscovered";
    bare.notes.push_back("no lab is up and local discovery failed: " + local.error().to_string());
    bare.cluster.nodes.push_back(std::move(node));
    return bare;
  }
  if (!local) {
    return wrap_error(local.error(), "no lab is up and local discovery failed");
  }
  LoadedCluster out;
  out.origin = ClusterOrigin::LocalDiscovery;
  out.description = "local discovery of " + local->cluster.nodes.front().name;
  out.notes = std::move(local->notes);
  out.cluster = std::move(local->cluster);
  return out;
}

std::string unknown_node_message(const model::Cluster& cluster, std::string_view node) {
  std::string names;
  for (const auto& n : cluster.nodes) names += (names.empty() ? "" : ", ") + n.name;
  return "unknown node '" + std::string(node) + "' (the nodes are: " + (names.empty() ? "none" : names) + ")";
}

std::string pod_list(const model::Cluster& cluster) {
  constexpr std::size_t kMax = 8;
  std::string out;
  for (std::size_t i = 0; i < cluster.pods.size(); ++i) {
    if (i == kMax) return out + ", ...";
    out += (i == 0 ? "" : ", ") + cluster.pods[i].full_name();
  }
  return out.empty() ? "none" : out;
}

std::string unknown_pod_message(const model::Cluster& cluster, std::string_view pod) {
  return "unknown pod '" + std::string(pod) + "' (pods: " + pod_list(cluster) + ")";
}

Result<std::vector<const model::Pod*>> select_pods(const model::Cluster& cluster, std::string_view name,
                                                   bool all) {
  std::vector<const model::Pod*> out;
  if (all) {
    for (const auto& p : cluster.pods) out.push_back(&p);
    if (out.empty()) return make_error(0, "the cluster has no pods");
    return out;
  }
  const bool qualified = name.find('/') != std::string_view::npos;
  for (const auto& p : cluster.pods) {
    if (qualified ? p.full_name() == name : p.name == name) out.push_back(&p);
  }
  if (out.size() > 1) {
    std::string names;
    for (const auto* p : out) names += (names.empty() ? "" : ", ") + p->full_name();
    return make_error(0, "pod name '{}' is ambiguous; use namespace/name: {}", name, names);
  }
  if (out.empty()) return make_error(0, "{}", unknown_pod_message(cluster, name));
  return out;
}

}  // namespace podpath::inventory
