#include "cluster/agent_client.hpp"

#include <ctime>

#include "kube/config.hpp"

namespace podpath::cluster {
namespace {

constexpr std::chrono::milliseconds kRequestTimeout{5000};

std::int64_t ns_of(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::int64_t clock_offset_ns() {
  const std::int64_t mono = ns_of(CLOCK_MONOTONIC);
  const std::int64_t real = ns_of(CLOCK_REALTIME);
  return real - mono;
}

std::unique_ptr<kube::HttpTransport> curl_agent_transport(const AgentEndpoint& endpoint,
                                                          const AgentAuth& auth) {
  kube::ClusterConfig config;
  config.server = endpoint.base_url;
  config.unix_socket = endpoint.unix_socket;
  config.source = "agent " + endpoint.display();
  config.ca_file = auth.ca_file;
  config.client_cert_file = auth.client_cert;
  config.client_key_file = auth.client_key;
  config.token_file = auth.token_file;
  return kube::make_curl_transport(config,
                                   std::make_shared<kube::TokenSource>(std::string(), config.token_file));
}

std::chrono::milliseconds agent_backoff(unsigned failures) {
  if (failures == 0) return std::chrono::milliseconds(0);
  const unsigned shift = std::min(failures - 1, 4U);
  return std::chrono::milliseconds(500) * (1U << shift);
}

AgentClient::AgentClient(AgentEndpoint endpoint, AgentAuth auth, const AgentTransportFactory& factory)
    : auth_(std::move(auth)), transport_(factory(endpoint, auth_)) {
  state_.node = endpoint.node;
  state_.endpoint = std::move(endpoint);
}

Result<std::string> AgentClient::get(const std::string& target) {
  kube::HttpRequest request;
  request.target = target;
  request.timeout = kRequestTimeout;
  const kube::HttpResponse r = transport_->get(request, nullptr);
  if (r.failure != kube::TransportFailure::None) {
    // curl names a unix socket's connection as "agent port 80": say which socket instead.
    if (!state_.endpoint.unix_socket.empty() && r.failure == kube::TransportFailure::Unreachable)
      return Error{"cannot connect to " + state_.endpoint.display()};
    return Error{r.failure_message};
  }
  if (r.status != 200) {
    std::string why = "HTTP " + std::to_string(r.status);
    const auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string())
      why += ": " + body["error"].get<std::string>();
    return Error{why};
  }
  return r.body;
}

void AgentClient::failed(const std::string& why, std::chrono::steady_clock::time_point now) {
  if (state_.reachable || !state_.unreachable_since)
    state_.unreachable_since = std::chrono::system_clock::now();
  state_.reachable = false;
  state_.error = why;
  ++failures_;
  next_try_ = now + agent_backoff(failures_);
}

void AgentClient::poll(std::chrono::steady_clock::time_point now, bool metrics, bool drops) {
  if (!state_.reachable && failures_ > 0 && now < next_try_) return;
  auto node = get("/v1/node");
  if (!node) return failed(node.error().message, now);
  const std::int64_t offset = clock_offset_ns();
  auto flows = get("/v1/flows?limit=0");
  if (!flows) return failed(flows.error().message, now);
  std::string text;
  if (metrics) {
    auto m = get("/metrics");
    if (!m) return failed(m.error().message, now);
    text = std::move(*m);
  }
  nlohmann::json drops_json;
  if (drops) {
    auto d = get("/v1/drops");
    if (!d) return failed(d.error().message, now);
    drops_json = nlohmann::json::parse(*d, nullptr, false);
    if (!drops_json.is_object() || !drops_json.contains("drops") || !drops_json["drops"].is_array())
      return failed("/v1/drops is not an agent's answer", now);
  }
  auto node_json = nlohmann::json::parse(*node, nullptr, false);
  auto flows_json = nlohmann::json::parse(*flows, nullptr, false);
  if (!node_json.is_object() || !node_json.contains("node") || !node_json["node"].is_string())
    return failed("/v1/node is not an agent's answer", now);
  if (!flows_json.is_object() || !flows_json.contains("flows") || !flows_json["flows"].is_array())
    return failed("/v1/flows is not an agent's answer", now);
  state_.node = node_json["node"].get<std::string>();
  state_.node_json = std::move(node_json);
  state_.flows_json = std::move(flows_json);
  state_.client_offset_ns = offset;
  if (metrics) state_.metrics = std::move(text);
  if (drops) state_.drops_json = std::move(drops_json);
  state_.reachable = true;
  state_.ever_reached = true;
  state_.unreachable_since.reset();
  state_.error.clear();
  failures_ = 0;
}

}  // namespace podpath::cluster
