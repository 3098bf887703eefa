// `podpath agent`: one per node; serves the node's flows, drops and metrics over HTTP.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <ostream>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "server/agent.hpp"

#ifndef PODPATH_VERSION
#define PODPATH_VERSION "0.0.0"
#endif

namespace podpath::cli {
namespace {

std::atomic<bool> g_reload{false};

void on_reload_signal(int /*signo*/) { g_reload.store(true); }

/// SIGHUP reloads the agent's certificates and token while alive, instead of stopping it as
/// it stops the other live commands (StopOnSignal): a daemon has no terminal to lose.
class ReloadOnSighup {
 public:
  ReloadOnSighup() {
    g_reload.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_reload_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, &old_);
  }
  ~ReloadOnSighup() { sigaction(SIGHUP, &old_, nullptr); }
  ReloadOnSighup(const ReloadOnSighup&) = delete;
  ReloadOnSighup& operator=(const ReloadOnSighup&) = delete;
  [[nodiscard]] std::atomic<bool>& flag() { return g_reload; }

 private:
  struct sigaction old_ {};
};

class AgentCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "agent",
        "Watch one node and serve its flows, drops and metrics over HTTP (one agent per node).\n"
        "Attaches like 'podpath trace' to the node's pod bridge, pod veths and uplink, and serves a "
        "read-only\n"
        "JSON API under /v1 (node, flows, flows/stream as server-sent events, drops), Prometheus metrics on\n"
        "/metrics, and /healthz and /readyz. Binds 127.0.0.1:9990 by default; any other address needs TLS\n"
        "(--tls-cert, --tls-key) and client authentication (--tls-client-ca or --token-file). SIGHUP "
        "reloads\n"
        "the certificates and the token; SIGTERM detaches and exits 0. Details: docs/agent.md.");
    attach_.add_to(*sub);
    sub->add_option("--node", node_,
                    "The node to watch (default: the inventory's only node, the node whose network namespace "
                    "the agent runs in, or the node named like this host)");
    sub->add_option(
           "--listen", listen_,
           "Serve the API on ADDRESS:PORT, or on a unix socket with unix:PATH (mode 0600); repeatable")
        ->default_str(server::kDefaultListen);
    sub->add_option("--metrics-listen", metrics_listen_,
                    "Also serve /metrics, /healthz and /readyz on ADDRESS:PORT, plain HTTP (no flow detail)");
    sub->add_option("--tls-cert", tls_cert_, "PEM certificate (and chain) of the API; with --tls-key, HTTPS");
    sub->add_option("--tls-key", tls_key_, "PEM private key of --tls-cert");
    sub->add_option("--tls-client-ca", tls_client_ca_,
                    "PEM CA bundle: require client certificates signed by it (mutual TLS)");
    sub->add_option("--token-file", token_file_,
                    "File holding a bearer token every API request must carry (Authorization: Bearer ...)");
    sub->add_option("--interval", interval_s_, "Seconds between refreshes (a new flow is published sooner)")
        ->check(CLI::Range(0.1, 60.0))
        ->capture_default_str();
    sub->add_option("--max-streams", max_streams_,
                    "Concurrent /v1/flows/stream clients; the next one gets 503")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    sub->add_flag("--containers", containers_,
                  "Attribute traffic to containers (cgroup programs; needs CAP_SYS_ADMIN, CAP_SYS_PTRACE and "
                  "CAP_DAC_READ_SEARCH on top of the agent's own capabilities)");
    sub->add_flag("--no-drops", no_drops_,
                  "Do not track kernel drops (no tp_btf program, no CAP_PERFMON needed)");
    add_ready_file_option(*sub, ready_file_);
    return sub;
  }

  int run(Io& io) override {
    server::AgentOptions o;
    o.session = attach_.session_options({node_});
    o.session.containers = containers_;
    o.node = node_;
    if (listen_.empty()) listen_.emplace_back(server::kDefaultListen);
    for (const auto& l : listen_) o.listen.push_back(parse(l, "--listen"));
    if (!metrics_listen_.empty()) o.metrics_listen = parse(metrics_listen_, "--metrics-listen");
    if (!tls_cert_.empty()) o.tls_cert = tls_cert_;
    if (!tls_key_.empty()) o.tls_key = tls_key_;
    if (!tls_client_ca_.empty()) o.tls_client_ca = tls_client_ca_;
    if (!token_file_.empty()) o.token_file = token_file_;
    o.interval_s = interval_s_;
    o.max_streams = max_streams_;
    o.drops = !no_drops_;
    o.version = PODPATH_VERSION;

    const StopOnSignal stop;
    ReloadOnSighup reload;  // after StopOnSignal: it takes SIGHUP over
    auto r = server::run_agent(o, stop.flag(), reload.flag(),
                               [this](const std::string& detail) { write_ready_file(ready_file_, detail); });
    if (!r) throw UserError(r.error().to_string());
    io.err << "podpath agent: stopped, detached\n";
    return kExitOk;
  }

 private:
  static server::ListenAddress parse(const std::string& text, const char* flag) {
    auto a = server::parse_listen_address(text, flag);
    if (!a) throw UserError(a.error().message);
    return *a;
  }

  AttachFlags attach_;
  std::string node_;
  std::vector<std::string> listen_;
  std::string metrics_listen_;
  std::string tls_cert_;
  std::string tls_key_;
  std::string tls_client_ca_;
  std::string token_file_;
  double interval_s_ = 1.0;
  std::size_t max_streams_ = 16;
  bool containers_ = false;
  bool no_drops_ = false;
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_agent_command() { return std::make_unique<AgentCommand>(); }

}  // namespace podpath::cli
