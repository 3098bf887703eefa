#pragma once
/// @file
/// @brief Finding the agents: an explicit list, a lab's agents (`scripts/lab agents start`:
/// their unix sockets and token), or the pods of the podpath DaemonSet from the Kubernetes
/// API (by label in their namespace: node name and host IP).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/agent_client.hpp"
#include "cluster/agent_endpoint.hpp"
#include "util/result.hpp"

namespace podpath::cluster {

/// @brief The agents of lab `lab` (`scripts/lab agents start`): every
/// `<state_dir>/<lab>/agents/NODE.sock`, named NODE, and the lab's token
/// (`<state_dir>/<lab>/pki/agent-token`) into `auth` when it has none.
Result<std::vector<AgentEndpoint>> lab_agents(const std::string& lab, const std::filesystem::path& state_dir,
                                              AgentAuth& auth);

/// @brief Where the DaemonSet's pods are.
struct DaemonSetSelector {
  std::string ns = "podpath";
  std::string selector = "app.kubernetes.io/name=podpath";
  std::uint16_t port = 9990;
};

/// @brief The agents a pod list (`GET /api/v1/namespaces/NS/pods?labelSelector=...`) names:
/// `https://HOST_IP:PORT` of every pod that has a node and a host IP, named by its node (one per
/// node: the running one). `skipped` receives one line per pod left out and why.
std::vector<AgentEndpoint> agents_from_pod_list(const nlohmann::json& list, std::uint16_t port,
                                                std::vector<std::string>& skipped);

/// @brief Lists the DaemonSet's pods through the Kubernetes API (`kubeconfig` or the usual
/// places: $KUBECONFIG, in-cluster, ~/.kube/config).
Result<std::vector<AgentEndpoint>> kube_agents(const std::optional<std::filesystem::path>& kubeconfig,
                                               const DaemonSetSelector& where,
                                               std::vector<std::string>& skipped);

}  // namespace podpath::cluster
