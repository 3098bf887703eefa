#include "inventory/source.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

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

const char* to_string(ClusterOrigin origin) {
  switch (origin) {
  case ClusterOrigin::InventoryFile:
    return "inventory file";
  case ClusterOrigin::Lab:
    return "lab";
  case ClusterOrigin::KubernetesApi:
    return "Kubernetes API";
  case ClusterOrigin::LocalDiscovery:
    break;
  }
  return "local discovery";
}

SourcePlan plan_sources(const SourceFacts& f) {
  SourcePlan plan;
  auto skip = [&](ClusterOrigin o, std::string why) { plan.skipped.push_back({o, false, std::move(why)}); };
  using Kube = SourceFacts::Kube;
  if (!f.inventory_file) skip(ClusterOrigin::InventoryFile, "no --inventory FILE given");
  if (f.inventory_file || f.lab_named) {
    const char* flag = f.inventory_file ? "--inventory" : "--lab";
    if (f.inventory_file) {
      plan.tries = {ClusterOrigin::InventoryFile};
      skip(ClusterOrigin::Lab, "--inventory was given");
    } else if (f.lab_error) {
      plan.error = Error{f.lab_error->message, 0};
      skip(ClusterOrigin::Lab, f.lab_error->message);
    } else {
      plan.tries = {ClusterOrigin::Lab};
    }
    skip(ClusterOrigin::KubernetesApi, std::string(flag) + " was given");
    skip(ClusterOrigin::LocalDiscovery, std::string(flag) + " was given");
    return plan;
  }
  if (f.kubeconfig_flag) {
    skip(ClusterOrigin::Lab, "--kubeconfig was given");
    if (f.kube == Kube::Found) {
      plan.tries = {ClusterOrigin::KubernetesApi};
    } else {
      plan.error = Error{f.kube_detail, 0};
      skip(ClusterOrigin::KubernetesApi, f.kube_detail);
    }
    skip(ClusterOrigin::LocalDiscovery, "--kubeconfig was given");
    return plan;
  }
  if (!f.lab_error) {
    plan.tries = {ClusterOrigin::Lab};
    skip(ClusterOrigin::KubernetesApi, "a lab is up (give --kubeconfig to use the API instead)");
    skip(ClusterOrigin::LocalDiscovery, "a lab is up");
    return plan;
  }
  if (f.lab_error->code != ENOENT) {  // several labs up
    plan.error = Error{f.lab_error->message, 0};
    skip(ClusterOrigin::Lab, f.lab_error->message);
    return plan;
  }
  skip(ClusterOrigin::Lab, "no lab is up");
  const bool fallback = f.allow_local_discovery && !f.in_cluster;
  if (f.kube == Kube::Found) {
    plan.tries.push_back(ClusterOrigin::KubernetesApi);
    if (fallback) plan.tries.push_back(ClusterOrigin::LocalDiscovery);
    if (!f.allow_local_discovery) skip(ClusterOrigin::LocalDiscovery, "not used by this command");
    return plan;
  }
  if (f.kube == Kube::Invalid && !fallback) {
    plan.error = Error{f.kube_detail, 0};
    skip(ClusterOrigin::KubernetesApi, f.kube_detail);
    skip(ClusterOrigin::LocalDiscovery,
         f.in_cluster ? "running in a pod: the API is the source" : "not used by this command");
    return plan;
  }
  skip(ClusterOrigin::KubernetesApi, f.kube_detail);
  if (f.allow_local_discovery) {
    plan.tries = {ClusterOrigin::LocalDiscovery};
  } else {
    plan.error = Error{f.lab_error->message, 0};
    skip(ClusterOrigin::LocalDiscovery, "not used by this command");
  }
  return plan;
}

namespace {

SourceFacts gather_facts(const ClusterSourceOptions& options, std::optional<std::filesystem::path>& lab_file,
                         std::optional<kube::ClusterConfig>& kube_config) {
  SourceFacts f;
  f.inventory_file = options.inventory_file.has_value();
  f.lab_named = options.lab.has_value();
  f.allow_local_discovery = options.allow_local_discovery;
  if (f.inventory_file) return f;
  auto found = find_lab_inventory(options.lab, options.lab_state_dir);
  if (found) {
    lab_file = *found;
  } else {
    f.lab_error = found.error();
  }
  if (f.lab_named) return f;
  f.kubeconfig_flag = options.kube.kubeconfig.has_value();
  f.in_cluster = kube::in_cluster_environment(options.kube.getenv);
  if (!options.use_kube) {
    f.kube_detail = "not used by this command";
    return f;
  }
  kube::ConfigOptions co;
  co.kubeconfig = options.kube.kubeconfig;
  co.getenv = options.kube.getenv;
  co.service_account_dir = options.kube.service_account_dir;
  auto config = kube::load_config(co);
  if (config) {
    f.kube = SourceFacts::Kube::Found;
    f.kube_detail = config->server + " (" + config->source + ")";
    kube_config = std::move(*config);
  } else {
    // load_config says ENOENT when no source applies at all.
    f.kube = config.error().code == ENOENT && !f.kubeconfig_flag && !f.in_cluster
                 ? SourceFacts::Kube::Absent
                 : SourceFacts::Kube::Invalid;
    f.kube_detail = f.kube == SourceFacts::Kube::Absent
                        ? "no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a pod"
                        : config.error().message;
    if (f.kube == SourceFacts::Kube::Absent &&
        config.error().message.find("$KUBECONFIG") != std::string::npos)
      f.kube_detail = config.error().message;
  }
  return f;
}

Result<LoadedCluster> from_kube(const ClusterSourceOptions& options, const kube::ClusterConfig& config) {
  auto source = KubeSource::connect(options.kube, config);
  if (!source) return source.error();
  LoadedCluster out;
  out.origin = ClusterOrigin::KubernetesApi;
  out.kube = std::shared_ptr<KubeSource>(std::move(*source));
  out.cluster = out.kube->cluster();
  out.description = out.kube->description();
  out.notes = out.kube->notes();
  return out;
}

Result<LoadedCluster> from_local(const ClusterSourceOptions& options) {
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

/// Tries the plan's sources in order; `report` gets every source's outcome.
Result<LoadedCluster> load(const ClusterSourceOptions& options, std::vector<SourceReport>& report) {
  std::optional<std::filesystem::path> lab_file;
  std::optional<kube::ClusterConfig> kube_config;
  const SourceFacts facts = gather_facts(options, lab_file, kube_config);
  const SourcePlan plan = plan_sources(facts);
  report = plan.skipped;
  std::optional<Error> failure = plan.error;
  std::optional<LoadedCluster> loaded;
  for (std::size_t i = 0; i < plan.tries.size() && !loaded; ++i) {
    const ClusterOrigin origin = plan.tries[i];
    Result<LoadedCluster> r = make_error(0, "not tried");
    switch (origin) {
    case ClusterOrigin::InventoryFile:
      r = from_file(*options.inventory_file, origin, "inventory " + options.inventory_file->string());
      break;
    case ClusterOrigin::Lab:
      r = from_file(*lab_file, origin,
                    "lab " + lab_file->parent_path().filename().string() + " (" + lab_file->string() + ")");
      break;
    case ClusterOrigin::KubernetesApi:
      r = from_kube(options, *kube_config);
      break;
    case ClusterOrigin::LocalDiscovery:
      r = from_local(options);
      break;
    }
    if (r) {
      report.push_back({origin, true, r->description});
      loaded = std::move(*r);
    } else {
      report.push_back({origin, false, r.error().message});
      if (i + 1 < plan.tries.size()) {
        spdlog::warn("{} is not usable: {}; trying {}", to_string(origin), r.error().message,
                     to_string(plan.tries[i + 1]));
      }
      failure = r.error();
    }
  }
  if (loaded) {
    for (const ClusterOrigin o : plan.tries) {
      const bool reported =
          std::any_of(report.begin(), report.end(), [&](const SourceReport& r) { return r.origin == o; });
      if (!reported)
        report.push_back(
            {o, false, std::string("not needed: the ") + to_string(loaded->origin) + " is used"});
    }
  }
  std::sort(report.begin(), report.end(),
            [](const SourceReport& a, const SourceReport& b) { return a.origin < b.origin; });
  if (loaded) {
    loaded->sources = report;
    return std::move(*loaded);
  }
  if (!failure) failure = Error{"no inventory source", 0};
  return *failure;
}

}  // namespace

Result<LoadedCluster> load_cluster(const ClusterSourceOptions& options) {
  std::vector<SourceReport> report;
  return load(options, report);
}

std::vector<SourceReport> explain_sources(const ClusterSourceOptions& options) {
  std::vector<SourceReport> report;
  (void)load(options, report);
  return report;
}

std::string node_names(const model::Cluster& cluster) {
  std::string names;
  for (const auto& n : cluster.nodes) names += (names.empty() ? "" : ", ") + n.name;
  return names.empty() ? "none" : names;
}

std::string unknown_node_message(const model::Cluster& cluster, std::string_view node) {
  return "unknown node '" + std::string(node) + "' (the nodes are: " + node_names(cluster) + ")";
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
