#include "server/check_endpoint.hpp"

#include <linux/capability.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "check/checker.hpp"
#include "check/evidence.hpp"
#include "net/netns.hpp"
#include "server/flow_snapshot.hpp"
#include "server/worker_pool.hpp"
#include "util/capabilities.hpp"
#include "util/system.hpp"

namespace podpath::server {
namespace {

using nlohmann::json;

constexpr std::uint16_t kMaxPort = 65535;

json error_body(const std::string& message) { return json{{"error", message}}; }

CheckAnswer answer(int status, const json& body, int retry_after_s = 0) {
  return CheckAnswer{status, body.dump() + "\n", retry_after_s};
}

const char* json_type(const json& j) { return j.type_name(); }

Result<check::Protocol> parse_protocol(const json& j) {
  if (!j.is_string())
    return make_error(EINVAL, "protocol: expected a string (icmp, tcp or udp), got {}", json_type(j));
  const auto& s = j.get_ref<const std::string&>();
  if (s == "icmp") return check::Protocol::Icmp;
  if (s == "tcp") return check::Protocol::Tcp;
  if (s == "udp") return check::Protocol::Udp;
  return make_error(EINVAL, "protocol: '{}' is not one of icmp, tcp, udp", s.substr(0, 16));
}

/// The probes' flow ids, both directions: a conversation is named by its forward key, which
/// may be the request's or (when the reply was seen first) the reply's.
std::set<std::string> probe_ids(const std::vector<check::ProbeOutcome>& probes) {
  std::set<std::string> ids;
  for (const auto& p : probes) {
    ids.insert(conversation_id(p.key));
    ids.insert(conversation_id(p.key.reversed()));
  }
  return ids;
}

/// The flow id of a /v1/drops entry (its "flow" object), as conversation_id() writes one.
std::string drop_flow_id(const json& drop) {
  const json& f = drop.at("flow");
  return fmt::format("{}/{}/{}/{}/{}", f.at("proto_number").get<int>(),
                     f.at("src").at("ip").get<std::string>(), f.at("sport").get<int>(),
                     f.at("dst").at("ip").get<std::string>(), f.at("dport").get<int>());
}

json probe_json(const check::ProbeOutcome& p) {
  json j = {{"seq", p.seq},
            {"flow", conversation_id(p.key)},
            {"result", check::to_string(p.result)},
            {"size", p.size},
            {"sent_monotonic_ns", p.sent_ns},
            {"rtt_ns", nullptr},
            {"icmp", nullptr},
            {"error", nullptr}};
  if (auto rtt = p.rtt_ns()) j["rtt_ns"] = *rtt;
  if (p.icmp) {
    j["icmp"] = {{"from", p.icmp->from.to_string()},
                 {"type", p.icmp->type},
                 {"code", p.icmp->code},
                 {"info", p.icmp->info},
                 {"what", p.icmp->describe()}};
  }
  if (p.error != 0) j["error"] = std::strerror(p.error);
  return j;
}

json summary_json(const check::OutcomeSummary& s) {
  return {{"sent", s.sent},
          {"answered", s.answered},
          {"refused", s.refused},
          {"icmp_errors", s.icmp_errors},
          {"local_errors", s.local_errors},
          {"timeouts", s.timeouts},
          {"rtt_ns", s.rtt_ns ? json(*s.rtt_ns) : json(nullptr)}};
}

}  // namespace

Result<CheckBody> parse_check_body(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return make_error(EINVAL,
                      "body: not JSON (send {{\"source\", \"destination\", \"protocol\", \"port\"}})");
  if (!j.is_object()) return make_error(EINVAL, "body: expected a JSON object, got {}", json_type(j));
  static const std::set<std::string> kFields = {"source", "destination", "protocol", "port"};
  for (const auto& [key, value] : j.items()) {
    if (kFields.count(key) == 0) {
      return make_error(EINVAL, "{}: unknown field (the fields are source, destination, protocol, port)",
                        key.substr(0, 32));
    }
  }
  CheckBody out;
  for (const char* required : {"source", "destination", "protocol"}) {
    if (!j.contains(required)) return make_error(EINVAL, "{}: missing", required);
  }
  const json& src = j["source"];
  if (!src.is_string() || src.get_ref<const std::string&>().empty())
    return make_error(EINVAL, "source: expected a pod name (\"namespace/name\" or \"name\")");
  out.source = src.get<std::string>();
  const json& dst = j["destination"];
  if (!dst.is_string())
    return make_error(EINVAL, "destination: expected an IP address string, got {}", json_type(dst));
  const auto ip = model::IpAddress::parse(dst.get_ref<const std::string&>());
  if (!ip)
    return make_error(EINVAL, "destination: '{}' is not an IP address", dst.get<std::string>().substr(0, 64));
  out.destination = *ip;
  auto proto = parse_protocol(j["protocol"]);
  if (!proto) return proto.error();
  out.protocol = *proto;
  if (out.protocol == check::Protocol::Icmp) {
    if (j.contains("port") && !(j["port"].is_number_integer() && j["port"].get<long long>() == 0))
      return make_error(EINVAL, "port: icmp takes no port");
    return out;
  }
  if (!j.contains("port"))
    return make_error(EINVAL, "port: missing ({} needs a port)", check::to_string(out.protocol));
  const json& port = j["port"];
  if (!port.is_number_integer() || port.get<long long>() < 1 || port.get<long long>() > kMaxPort)
    return make_error(EINVAL, "port: expected an integer from 1 to {}", kMaxPort);
  out.port = static_cast<std::uint16_t>(port.get<long long>());
  return out;
}

TokenBucket::TokenBucket(int burst, std::chrono::milliseconds refill, Clock::time_point now)
    : tokens_(burst), burst_(burst), refill_(refill), last_(now) {}

bool TokenBucket::take(Clock::time_point now, std::chrono::seconds& retry_after) {
  if (now > last_) {
    tokens_ = std::min<double>(burst_, tokens_ + std::chrono::duration<double>(now - last_) /
                                                     std::chrono::duration<double>(refill_));
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  const auto wait = std::chrono::duration<double>(refill_) * (1.0 - tokens_);
  retry_after =
      std::max<std::chrono::seconds>(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(wait));
  return false;
}

CheckService::CheckService(SnapshotHub& hub, CheckLimits limits)
    : hub_(hub), limits_(limits), bucket_(limits.burst, limits.refill, TokenBucket::Clock::now()) {}

CheckService::~CheckService() { stop(); }

void CheckService::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [this] { return started_; });
}

void CheckService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CheckService::run() {
  // Like every serving thread: no signals (the main thread takes them), and no privilege
  // beyond what sending the probes needs.
  become_server_thread(capability_set({CAP_SYS_ADMIN, CAP_NET_RAW}));
  std::unique_lock lock(mutex_);
  may_enter_netns_ = has_capability(CAP_SYS_ADMIN);
  started_ = true;
  wake_.notify_all();
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || job_.has_value(); });
    if (stopping_) break;
    const check::ProbeSpec spec = *job_;
    lock.unlock();
    ProberResult r{check::send_probes(spec), std::nullopt};
    if (r.probes && check::summarize(*r.probes).answered > 0) {
      auto mtu = check::send_mtu_probes(spec);
      if (mtu) {
        r.mtu = std::move(*mtu);
      } else {
        spdlog::warn("POST /v1/check: large-packet probe: {}", mtu.error().to_string());
      }
    }
    lock.lock();
    job_.reset();
    result_ = std::move(r);
    wake_.notify_all();
  }
}

std::optional<CheckService::ProberResult> CheckService::probe(const check::ProbeSpec& spec) {
  std::unique_lock lock(mutex_);
  if (stopping_ || !thread_.joinable()) return std::nullopt;
  result_.reset();
  job_ = spec;
  wake_.notify_all();
  wake_.wait(lock, [this] { return stopping_ || result_.has_value(); });
  if (!result_) return std::nullopt;
  auto out = std::move(*result_);
  result_.reset();
  return out;
}

CheckAnswer CheckService::handle(std::string_view body) {
  const auto started = std::chrono::steady_clock::now();
  auto request = parse_check_body(body);
  if (!request) return answer(400, error_body(request.error().message));
  const AgentSnapshotPtr before = hub_.snapshot();
  if (!before->ready || !before->cluster)
    return answer(503, error_body("not ready: " + before->not_ready_reason));
  const model::Cluster& cluster = *before->cluster;
  const model::Pod* pod = cluster.find_pod(request->source);
  if (pod == nullptr) {
    return answer(400, error_body(fmt::format("source: no pod named '{}' (a pod of node {})",
                                              request->source.substr(0, 128), before->node)));
  }
  if (pod->node != before->node) {
    return answer(400, error_body(fmt::format(
                           "source: pod {} runs on node {}, not on {}: send the check to the agent on {}",
                           pod->full_name(), pod->node, before->node, pod->node)));
  }
  if (auto r = check::check_probe_addresses(pod->ip, request->destination); !r)
    return answer(400, error_body("destination: " + r.error().message));
  if (pod->netns.empty()) {
    return answer(503,
                  error_body(fmt::format(
                      "the network namespace of pod {} is unknown to this agent, so it cannot send probes "
                      "from it (on a cluster the agent finds it through the pod's processes: hostPID and "
                      "CAP_SYS_PTRACE, docs/deploy.md)",
                      pod->full_name())));
  }
  {
    std::lock_guard lock(mutex_);
    const auto here = net::is_current_netns(pod->netns);
    if (!may_enter_netns_ && !(here && *here)) {
      return answer(503, error_body(fmt::format(
                             "this agent lacks CAP_SYS_ADMIN, which entering the network namespace of pod {} "
                             "to send probes from it needs (docs/agent.md, Capabilities)",
                             pod->full_name())));
    }
  }
  {
    std::lock_guard lock(limiter_mutex_);
    if (busy_) return answer(429, error_body("a check is already running on this agent: one at a time"), 1);
    std::chrono::seconds retry{0};
    if (!bucket_.take(TokenBucket::Clock::now(), retry)) {
      return answer(429,
                    error_body(fmt::format("too many checks: at most {} at once, then one every {} s",
                                           limits_.burst, limits_.refill.count() / 1000)),
                    static_cast<int>(retry.count()));
    }
    busy_ = true;
  }
  struct Release {
    CheckService& s;
    ~Release() {
      std::lock_guard lock(s.limiter_mutex_);
      s.busy_ = false;
    }
  } release{*this};

  check::ProbeSpec spec;
  spec.netns = pod->netns;
  spec.src = pod->ip;
  spec.dst = request->destination;
  spec.proto = request->protocol;
  spec.port = request->port;
  spec.count = limits_.count;
  spec.interval = limits_.interval;
  spec.timeout = limits_.timeout;
  const std::string source = pod->full_name();
  const std::string source_ip = pod->ip.to_string();
  auto run = probe(spec);
  if (!run) return answer(503, error_body("the agent is stopping"));
  if (!run->probes) {
    return answer(503, error_body(fmt::format("cannot send probes from {}: {}", source,
                                              run->probes.error().to_string())));
  }
  const auto& outcomes = *run->probes;
  spdlog::info("POST /v1/check: {} -> {} {}{}: {}", source, request->destination.to_string(),
               check::to_string(request->protocol),
               request->port != 0 ? fmt::format(":{}", request->port) : "",
               fmt::format("{} of {} answered", check::summarize(outcomes).answered, outcomes.size()));

  // The refresh that counted the probes and placed their drops: the first one published
  // after the last probe ended plus time for stragglers.
  const std::uint64_t after =
      monotonic_ns() + static_cast<std::uint64_t>(std::chrono::nanoseconds(limits_.settle).count());
  AgentSnapshotPtr snap = hub_.wait_newer(after, limits_.snapshot_wait);
  const bool settled = snap->monotonic_ns >= after;

  std::set<std::string> ids = probe_ids(outcomes);
  json mtu_json = nullptr;
  if (run->mtu) {
    ids.merge(probe_ids(run->mtu->probes));
    json mtu_probes = json::array();
    for (const auto& p : run->mtu->probes) mtu_probes.push_back(probe_json(p));
    mtu_json = {{"size", run->mtu->size}, {"probes", std::move(mtu_probes)}};
  }
  json flows = json::array();
  for (const auto& item : snap->flows) {
    if (ids.count(item->id) != 0) flows.push_back(json::parse(item->json));
  }
  json drops = json::array();
  if (snap->drops) {
    for (const auto& text : *snap->drops) {
      json d = json::parse(text);
      if (ids.count(drop_flow_id(d)) != 0) drops.push_back(std::move(d));
    }
  }
  json probes_json = json::array();
  for (const auto& p : outcomes) probes_json.push_back(probe_json(p));
  json body_json = {
      {"node", snap->node},
      {"seq", snap->seq},
      {"monotonic_ns", snap->monotonic_ns},
      {"settled", settled},
      {"source", {{"pod", source}, {"ip", source_ip}}},
      {"destination", request->destination.to_string()},
      {"protocol", check::to_string(request->protocol)},
      {"port", request->port},
      {"probes", std::move(probes_json)},
      {"summary", summary_json(check::summarize(outcomes))},
      {"mtu_probe", std::move(mtu_json)},
      {"flows", std::move(flows)},
      {"drops", std::move(drops)},
      {"clock", snap->node_info.contains("clock") ? snap->node_info["clock"] : json(nullptr)},
      {"duration_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
           .count()},
  };
  return answer(200, body_json);
}

}  // namespace podpath::server
