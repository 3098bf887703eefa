#include "server/agent.hpp"

#include <linux/capability.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "inventory/source.hpp"
#include "net/netns.hpp"
#include "server/check_endpoint.hpp"
#include "server/credentials.hpp"
#include "server/drop_watch.hpp"
#include "server/flow_snapshot.hpp"
#include "server/http.hpp"
#include "server/metrics.hpp"
#include "server/node_view.hpp"
#include "server/snapshot_hub.hpp"
#include "util/capabilities.hpp"
#include "util/system.hpp"

namespace podpath::server {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// A new flow brings the next refresh forward, but no closer than this to the last one.
constexpr milliseconds kMinRefreshGap{100};
/// The main loop polls drops and checks for SIGHUP at least this often.
constexpr milliseconds kSlice{200};

/// The capabilities the main thread keeps once attached: CAP_NET_ADMIN and CAP_BPF attach
/// the veths of pods that start later; CAP_SYS_ADMIN only while the node's namespace must be
/// entered (setns) to read its routes and attach there; container attribution reads other
/// processes' /proc entries. Loading programs (CAP_PERFMON for the drop program) and reading
/// kernel addresses (CAP_SYSLOG) are over by then.
CapabilitySet capabilities_after_attach(bool enters_netns, bool containers) {
  CapabilitySet keep = capability_set({CAP_NET_ADMIN, CAP_BPF});
  if (enters_netns) keep |= capability_set({CAP_SYS_ADMIN});
  if (containers) keep |= capability_set({CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH});
  return keep;
}

/// POST /v1/check waits for the refresh after its probes: at most two intervals and a margin.
CheckLimits check_limits(double interval_s) {
  CheckLimits l;
  l.snapshot_wait = milliseconds(static_cast<long>(interval_s * 2000)) + milliseconds(2000);
  return l;
}

class Agent {
 public:
  Agent(const AgentOptions& options, std::string node, std::string node_netns, Credentials credentials)
      : options_(options), node_(std::move(node)), node_netns_(std::move(node_netns)),
        hub_(options.max_streams, kStreamQueue), metrics_(node_, options.version), builder_(node_),
        tls_(std::move(credentials.tls)), token_(std::move(credentials.token)),
        check_(hub_, check_limits(options.interval_s)) {}

  Result<void> start_listeners();
  Result<void> attach();
  Result<void> loop(const std::atomic<bool>& stop, std::atomic<bool>& reload,
                    const std::function<void(const std::string&)>& on_ready);
  void shutdown();

 private:
  void publish_not_ready(const std::string& reason);
  Result<void> refresh();
  void do_reload();

  AgentOptions options_;
  std::string node_;
  std::string node_netns_;  // as the inventory names it; "" = the host's
  SnapshotHub hub_;
  AgentMetrics metrics_;
  FlowSnapshotBuilder builder_;
  std::unique_ptr<TlsStore> tls_;
  std::unique_ptr<TokenStore> token_;
  CheckService check_;  // POST /v1/check
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unique_ptr<loader::Session> session_;
  std::unique_ptr<DropWatch> drops_;  // null with --no-drops
  AgentInfo info_;
  bool enters_netns_ = false;
  std::uint64_t seq_ = 0;
};

Result<Credentials> load_credentials(const AgentOptions& options) {
  return server::load_credentials(options.listen, CredentialFiles{options.tls_cert, options.tls_key,
                                                                  options.tls_client_ca, options.token_file});
}

Result<void> Agent::start_listeners() {
  publish_not_ready("attaching");
  HttpContext context{hub_, metrics_, HttpLimits{}};
  context.check = &check_;
  context.limits.threads = options_.max_streams + 8;
  for (const auto& address : options_.listen) {
    auto l = Listener::start(address, Surface::Api, tls_.get(), token_.get(), context);
    if (!l) return l.error();
    info_.listen.push_back((*l)->url());
    listeners_.push_back(std::move(*l));
  }
  if (options_.metrics_listen) {
    context.limits.threads = 4;
    auto l = Listener::start(*options_.metrics_listen, Surface::Metrics, nullptr, nullptr, context);
    if (!l) return l.error();
    info_.metrics_listen = (*l)->url();
    listeners_.push_back(std::move(*l));
  }
  for (const auto& l : listeners_) spdlog::info("serving {}", l->url());
  return {};
}

void Agent::publish_not_ready(const std::string& reason) {
  auto s = std::make_shared<AgentSnapshot>();
  s->node = node_;
  s->not_ready_reason = reason;
  hub_.publish(std::move(s), nullptr);
}

Result<void> Agent::attach() {
  loader::SessionOptions o = options_.session;
  o.nodes = {node_};
  o.matrix_per_node = true;
  if (!node_netns_.empty()) {
    auto here = net::is_current_netns(node_netns_);
    o.in_node_netns = here && *here;
    enters_netns_ = !o.in_node_netns;
  }
  auto session = loader::Session::start(o);
  if (!session) return session.error();
  session_ = std::move(*session);
  if (options_.drops) {
    drops_ = std::make_unique<DropWatch>(
        *session_, std::vector<std::string>{node_}, node_,
        [this](const std::string& reason, const std::string& role) { metrics_.count_drop(reason, role); });
    info_.drops = drops_->mode();
  }
  check_.start();  // before this thread drops CAP_SYS_ADMIN and CAP_NET_RAW: the prober keeps them
  if (auto r = thread_keep_capabilities(capabilities_after_attach(enters_netns_, o.containers)); !r)
    spdlog::warn("cannot drop capabilities: {}", r.error().to_string());
  info_.capabilities = capability_names(effective_capabilities());
  info_.version = options_.version;
  info_.started = std::time(nullptr);
  info_.interval_s = options_.interval_s;
  spdlog::info("agent for {}: {} (capabilities now: {})", node_, session_->loader().describe(),
               info_.capabilities.empty() ? "none" : info_.capabilities);
  return {};
}

Result<void> Agent::refresh() {
  const auto t0 = Clock::now();
  if (auto r = session_->refresh(); !r) return r.error();
  if (drops_) drops_->refresh(*session_);

  ++seq_;
  auto s = std::make_shared<AgentSnapshot>();
  s->seq = seq_;
  s->node = node_;
  s->ready = true;
  s->time = std::time(nullptr);
  const std::uint64_t mono_before = monotonic_ns();
  const std::int64_t real = realtime_ns();
  s->monotonic_ns = (mono_before + monotonic_ns()) / 2;

  const auto conversations = session_->aggregator().conversations();
  std::function<std::string(const model::FlowKey&, const model::Pod*)> container_of;
  if (session_->containers() != nullptr) {
    container_of = [this](const model::FlowKey& k, const model::Pod* p) {
      return session_->container_of(k, p);
    };
  }
  const FlowInputs in{conversations, session_->resolver(), session_->topology(), session_->snapshot(),
                      container_of};
  FlowChanges changes = builder_.update(in, s->flows);
  s->drops = drops_ ? drops_->entries() : std::make_shared<const std::vector<std::string>>();
  s->cluster = session_->snapshot();

  const std::optional<bpf::DropCounters> drop_counters = drops_ ? drops_->counters() : std::nullopt;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  RefreshInfo info{seq_,
                   seconds,
                   s->monotonic_ns,
                   real,
                   s->flows.size(),
                   drop_counters,
                   s->drops->size(),
                   drops_ ? drops_->total() : 0};
  s->node_info = node_json(*session_, node_, info_, info);
  s->nodes_info = nodes_json(nlohmann::json::array({s->node_info}), gateway_json(*session_));

  auto event = std::make_shared<StreamEvent>();
  event->seq = s->seq;
  event->time = s->time;
  event->monotonic_ns = s->monotonic_ns;
  event->changed = std::move(changes.changed);
  event->removed = std::move(changes.removed);
  hub_.publish(std::move(s), event);

  const auto interfaces = session_->loader().interfaces();
  metrics_.update(MetricsInputs{session_->aggregator().flows(), interfaces, session_->matrix(),
                                session_->cidrs(), session_->counters(),
                                drop_counters ? &*drop_counters : nullptr, hub_.stats(), seconds});
  return {};
}

void Agent::do_reload() {
  bool ok = true;
  if (tls_) {
    if (auto r = tls_->reload(); !r) {
      ok = false;
      spdlog::error("SIGHUP: keeping the previous certificate: {}", r.error().to_string());
    } else {
      spdlog::info("SIGHUP: TLS reloaded: {}", tls_->describe());
    }
  }
  if (token_) {
    if (auto r = token_->reload(); !r) {
      ok = false;
      spdlog::error("SIGHUP: keeping the previous token: {}", r.error().to_string());
    } else {
      spdlog::info("SIGHUP: token reloaded");
    }
  }
  metrics_.count_reload(ok);
}

Result<void> Agent::loop(const std::atomic<bool>& stop, std::atomic<bool>& reload,
                         const std::function<void(const std::string&)>& on_ready) {
  const auto interval = milliseconds(static_cast<long>(options_.interval_s * 1000));
  if (auto r = refresh(); !r) return r.error();
  std::string ready = session_->loader().describe() + "; serving";
  for (const auto& url : info_.listen) ready += " " + url;
  if (!info_.metrics_listen.empty()) ready += "; metrics " + info_.metrics_listen;
  if (on_ready) on_ready(ready);
  auto last = Clock::now();
  while (!stop.load()) {
    const auto now = Clock::now();
    const auto due = last + interval;
    const auto slice = std::min(kSlice, std::chrono::duration_cast<milliseconds>(due - now));
    const auto events_before = session_->new_flow_events();
    const bool may_hurry = now - last >= kMinRefreshGap;
    if (slice.count() > 0) {
      if (auto r = session_->wait(slice, stop, may_hurry); !r) return r.error();
    }
    if (drops_) drops_->poll();
    if (reload.exchange(false)) do_reload();
    const bool new_flow = may_hurry && session_->new_flow_events() != events_before;
    if (stop.load() || (Clock::now() < due && !new_flow)) continue;
    last = Clock::now();
    if (auto r = refresh(); !r) spdlog::warn("refresh failed: {}", r.error().to_string());
  }
  return {};
}

void Agent::shutdown() {
  hub_.close();
  for (auto& l : listeners_) l->stop();
  listeners_.clear();
  check_.stop();
  drops_.reset();
  if (session_) {
    if (auto r = session_->stop(); !r) spdlog::warn("{}", r.error().to_string());
  }
}

}  // namespace

Result<std::string> select_agent_node(const model::Cluster& cluster, const std::string& requested) {
  if (!requested.empty()) {
    if (cluster.find_node(requested) == nullptr)
      return make_error(EINVAL, "{}", inventory::unknown_node_message(cluster, requested));
    return requested;
  }
  if (cluster.nodes.size() == 1) return cluster.nodes.front().name;
  for (const auto& n : cluster.nodes) {
    if (n.netns.empty()) continue;
    if (auto here = net::is_current_netns(n.netns); here && *here) return n.name;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) {
    if (cluster.find_node(host) != nullptr) return std::string(host);
  }
  std::string names;
  for (const auto& n : cluster.nodes) names += (names.empty() ? "" : ", ") + n.name;
  return make_error(
      EINVAL,
      "which node? the inventory lists {} ({}): pass --node NAME, or start the agent inside the "
      "node's network namespace",
      cluster.nodes.size(), names);
}

Result<void> run_agent(const AgentOptions& options, const std::atomic<bool>& stop, std::atomic<bool>& reload,
                       const std::function<void(const std::string&)>& on_ready) {
  auto credentials = load_credentials(options);
  if (!credentials) return credentials.error();
  auto loaded = inventory::load_cluster(options.session.source);
  if (!loaded) return loaded.error();
  // From the Kubernetes API, the node is this host's (the API source found it, or --node).
  auto node = loaded->kube && !loaded->kube->own_node().empty()
                  ? Result<std::string>(loaded->kube->own_node())
                  : select_agent_node(loaded->cluster, options.node);
  if (!node) return node.error();
  Agent agent(options, *node, loaded->cluster.find_node(*node)->netns, std::move(*credentials));
  Result<void> result = agent.start_listeners();
  if (result) result = agent.attach();
  if (result) result = agent.loop(stop, reload, on_ready);
  agent.shutdown();
  return result;
}

}  // namespace podpath::server
