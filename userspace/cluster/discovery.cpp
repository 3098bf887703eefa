#include "cluster/discovery.hpp"

#include <algorithm>
#include <map>

#include "kube/config.hpp"
#include "kube/http.hpp"
#include "model/address.hpp"

namespace podpath::cluster {

Result<std::vector<AgentEndpoint>> lab_agents(const std::string& lab, const std::filesystem::path& state_dir,
                                              AgentAuth& auth) {
  const auto dir = state_dir / lab / "agents";
  std::error_code ec;
  std::vector<AgentEndpoint> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".sock" || !entry.is_socket(ec)) continue;
    AgentEndpoint e;
    e.unix_socket = entry.path().string();
    e.base_url = "http://agent";
    e.node = entry.path().stem().string();
    out.push_back(std::move(e));
  }
  if (out.empty()) {
    return Error{"lab " + lab + " has no agents (no socket in " + dir.string() +
                 "): start them with scripts/lab agents start --name " + lab};
  }
  std::sort(out.begin(), out.end(),
            [](const AgentEndpoint& a, const AgentEndpoint& b) { return a.node < b.node; });
  const auto token = state_dir / lab / "pki" / "agent-token";
  if (auth.token_file.empty() && std::filesystem::exists(token, ec)) auth.token_file = token.string();
  return out;
}

std::vector<AgentEndpoint> agents_from_pod_list(const nlohmann::json& list, std::uint16_t port,
                                                std::vector<std::string>& skipped) {
  std::map<std::string, std::pair<AgentEndpoint, bool>> by_node;  // node -> (endpoint, running)
  if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) return {};
  for (const auto& pod : list["items"]) {
    const auto meta = pod.value("metadata", nlohmann::json::object());
    const auto spec = pod.value("spec", nlohmann::json::object());
    const auto status = pod.value("status", nlohmann::json::object());
    const std::string name = meta.value("name", std::string("?"));
    const std::string node = spec.value("nodeName", std::string());
    const std::string host_ip = status.value("hostIP", std::string());
    const bool running = status.value("phase", std::string()) == "Running";
    if (node.empty() || host_ip.empty()) {
      skipped.push_back("pod " + name + " is not scheduled yet (no node or host IP)");
      continue;
    }
    const auto ip = model::IpAddress::parse(host_ip);
    if (!ip) {
      skipped.push_back("pod " + name + ": host IP '" + host_ip + "' does not parse");
      continue;
    }
    AgentEndpoint e;
    e.base_url = "https://" + (ip->is_v4() ? host_ip : "[" + host_ip + "]") + ":" + std::to_string(port);
    e.node = node;
    auto it = by_node.find(node);
    if (it == by_node.end() || (running && !it->second.second)) by_node[node] = {std::move(e), running};
  }
  std::vector<AgentEndpoint> out;
  for (auto& [node, e] : by_node) out.push_back(std::move(e.first));
  return out;
}

Result<std::vector<AgentEndpoint>> kube_agents(const std::optional<std::filesystem::path>& kubeconfig,
                                               const DaemonSetSelector& where,
                                               std::vector<std::string>& skipped) {
  kube::ConfigOptions options;
  options.kubeconfig = kubeconfig;
  auto config = kube::load_config(options);
  if (!config) return wrap_error(config.error(), "finding the agents through the Kubernetes API");
  auto transport = kube::curl_transport_factory(*config)();
  kube::HttpRequest request;
  request.target = "/api/v1/namespaces/" + kube::url_encode(where.ns) +
                   "/pods?labelSelector=" + kube::url_encode(where.selector);
  request.timeout = std::chrono::seconds(10);
  const auto r = transport->get(request, nullptr);
  if (r.failure != kube::TransportFailure::None)
    return Error{"listing the agents' pods at " + config->server + ": " + r.failure_message};
  if (r.status != 200) {
    return Error{"listing the agents' pods (namespace " + where.ns + ", selector " + where.selector +
                 ") at " + config->server + ": HTTP " + std::to_string(r.status)};
  }
  const auto list = nlohmann::json::parse(r.body, nullptr, false);
  auto out = agents_from_pod_list(list, where.port, skipped);
  if (out.empty()) {
    return Error{"no podpath agent pod in namespace " + where.ns + " with labels " + where.selector +
                 " (deploy them: docs/deploy.md)"};
  }
  return out;
}

}  // namespace podpath::cluster
