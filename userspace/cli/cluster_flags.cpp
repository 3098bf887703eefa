// `--cluster`: the flags, and finding the agents they name.
#include "cli/cluster_flags.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cluster/discovery.hpp"
#include "inventory/lab_inventory.hpp"

namespace podpath::cli {

void ClusterViewFlags::add_to(CLI::App& sub) {
  auto* c =
      sub.add_flag("--cluster", enabled,
                   "Read every node's podpath agent instead of attaching here, and join their halves into "
                   "one path per conversation (docs/cluster.md)");
  sub.add_option(
         "--agents", agents,
         "With --cluster: the agents, comma-separated: https://HOST:PORT, http://HOST:PORT, unix:/PATH "
         "(default: the agents of --lab or the only lab up, else the DaemonSet's pods from the "
         "Kubernetes API)")
      ->needs(c);
  sub.add_option("--ca", ca, "With --cluster: PEM CA bundle that signed the agents' certificates")->needs(c);
  sub.add_option("--tls-client-cert", client_cert,
                 "With --cluster: PEM client certificate for agents with --tls-client-ca")
      ->needs(c);
  sub.add_option("--tls-client-key", client_key, "With --cluster: the client certificate's key")->needs(c);
  shared_token = sub.get_option_no_throw("--token-file");
  if (shared_token == nullptr) {
    sub.add_option(
           "--token-file", token_file,
           "With --cluster: bearer token for agents with --token-file (a lab's token is found by itself)")
        ->needs(c);
  }
  sub.add_option("--agent-namespace", agent_namespace,
                 "With --cluster, agents from the Kubernetes API: the DaemonSet's namespace")
      ->capture_default_str()
      ->needs(c);
  sub.add_option("--agent-selector", agent_selector,
                 "With --cluster, agents from the Kubernetes API: the DaemonSet pods' label selector")
      ->capture_default_str()
      ->needs(c);
  sub.add_option("--agent-port", agent_port, "With --cluster, agents from the Kubernetes API: the API port")
      ->capture_default_str()
      ->needs(c);
}

cluster::ClusterViewOptions ClusterViewFlags::options(const ClusterFlags& names) const {
  if (client_cert.empty() != client_key.empty())
    throw UserError("--tls-client-cert and --tls-client-key go together");
  cluster::ClusterViewOptions o;
  const std::string token =
      shared_token != nullptr && shared_token->count() > 0 ? shared_token->as<std::string>() : token_file;
  o.auth = cluster::AgentAuth{ca, client_cert, client_key, token};
  const bool named = !names.lab.empty() || !names.inventory.empty() || !names.kubeconfig.empty();
  if (named) {
    auto source = names.source();
    source.allow_local_discovery = false;
    o.source = std::move(source);
  }
  if (!agents.empty()) {
    auto list = cluster::parse_agent_endpoints(agents);
    if (!list) throw UserError(list.error().to_string());
    o.agents = std::move(*list);
    return o;
  }
  std::string lab = names.lab;
  if (lab.empty() && names.inventory.empty() && names.kubeconfig.empty()) {
    // The only lab that is up, as the single-process commands find it.
    if (auto found = inventory::find_lab_inventory(std::nullopt); found) {
      lab = found->parent_path().filename().string();
    }
  }
  if (!lab.empty()) {
    auto list = cluster::lab_agents(lab, std::filesystem::path(inventory::kLabStateDir), o.auth);
    if (!list) throw UserError(list.error().to_string());
    o.agents = std::move(*list);
    if (!o.source) {
      inventory::ClusterSourceOptions source;
      source.lab = lab;
      source.allow_local_discovery = false;
      source.use_kube = false;
      o.source = std::move(source);
    }
    return o;
  }
  std::vector<std::string> skipped;
  std::optional<std::filesystem::path> kubeconfig;
  if (!names.kubeconfig.empty()) kubeconfig = names.kubeconfig;
  auto list = cluster::kube_agents(kubeconfig, {agent_namespace, agent_selector, agent_port}, skipped);
  if (!list) throw UserError(list.error().to_string() + " (or name them with --agents)");
  for (const auto& s : skipped) spdlog::warn("{}", s);
  o.agents = std::move(*list);
  return o;
}

}  // namespace podpath::cli
