#include "cli/trace_web.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <thread>

#include "server/cluster_map.hpp"
#include "util/text.hpp"

namespace podpath::cli {

void WebFlags::add_to(CLI::App& sub) {
  auto* web_opt = sub.add_option(
      "--web", web,
      "Serve the live routing map at http://ADDR:PORT/ (e.g. 127.0.0.1:8080; port 0 picks one) instead of "
      "printing: the page and the /v1 API of every watched node, their kernel drops included; with "
      "--cluster, of every agent, read over its own address (docs/web.md). Loopback only unless "
      "--tls-cert/--tls-key and --tls-client-ca or --token-file protect it");
  auto* cert =
      sub.add_option("--tls-cert", tls_cert, "--web: PEM certificate (and chain); with --tls-key, HTTPS");
  auto* key = sub.add_option("--tls-key", tls_key, "--web: PEM private key of --tls-cert");
  auto* ca = sub.add_option("--tls-client-ca", tls_client_ca,
                            "--web: PEM CA bundle; clients must present a certificate it signed");
  auto* token = sub.add_option("--token-file", token_file,
                               "--web: file holding a bearer token every API request must carry (the page "
                               "asks for it); with --cluster: the token sent to the agents");
  (void)token;  // shared with --cluster (cli/cluster_flags.hpp), so it needs neither
  auto* drops = sub.add_flag("--no-drops", no_drops,
                             "--web: do not show kernel drops (no drop program; with --cluster, the agents' "
                             "/v1/drops are not read)");
  for (auto* o : {cert, key, ca, drops}) o->needs(web_opt);
}

void WebFlags::validate(bool cluster) const {
  if (!token_file.empty() && !enabled() && !cluster)
    throw UserError("--token-file goes with --web (the token the map asks for) or --cluster (the agents')");
  if (enabled()) (void)options();
}

server::MapServerOptions WebFlags::options() const {
  server::MapServerOptions o;
  auto address = server::parse_listen_address(web, "--web");
  if (!address) throw UserError(address.error().message);
  if (address->kind == server::ListenAddress::Kind::Unix) {
    throw UserError("--web takes ADDR:PORT (a browser cannot open a unix socket), e.g. 127.0.0.1:8080");
  }
  o.listen.push_back(*address);
  if (!tls_cert.empty()) o.credentials.tls_cert = tls_cert;
  if (!tls_key.empty()) o.credentials.tls_key = tls_key;
  if (!tls_client_ca.empty()) o.credentials.tls_client_ca = tls_client_ca;
  if (!token_file.empty()) o.credentials.token_file = token_file;
  // Refused before anything is attached, with the agent's sentence.
  const server::ApiSecurity security{!tls_cert.empty() && !tls_key.empty(), !tls_client_ca.empty(),
                                     !token_file.empty()};
  if (auto r = server::check_exposure(o.listen, security); !r) throw UserError(r.error().message);
  o.version = PODPATH_VERSION;
  return o;
}

namespace {

std::unique_ptr<server::MapServer> start_map(const server::MapServerOptions& options) {
  auto server = server::MapServer::start(options);
  if (!server) throw UserError(server.error().to_string());
  return std::move(*server);
}

// Prints the map's URL, then writes the ready file: what scripts wait for.
void announce(const server::MapServer& server, const std::string& what, const std::string& ready_file,
              Io& io) {
  for (const auto& url : server.urls()) io.out << "podpath trace: the map is at " << url << "/\n";
  io.out.flush();
  write_ready_file(ready_file, what + "; map " + server.urls().front() + "/");
}

}  // namespace

int run_trace_web(loader::Session& session, const WebFlags& flags, std::chrono::milliseconds interval,
                  std::chrono::steady_clock::time_point until, const std::string& ready_file,
                  const StopOnSignal& stop, Io& io) {
  auto options = flags.options();
  options.name = session.cluster().lab.empty() ? "trace" : "lab " + session.cluster().lab;
  auto server = start_map(options);
  server::SessionMapFeed feed(options.version, server->urls(),
                              std::chrono::duration<double>(interval).count());
  if (!flags.no_drops) {
    feed.track_drops(session, [&server](const std::string& reason, const std::string& role) {
      server->count_drop(reason, role);
    });
  }
  server->publish(feed.refresh(session));
  announce(*server, session.loader().describe(), ready_file, io);
  // Waits in slices: the drop program's ring buffer is read a few times a second, whatever
  // the interval (the kernel wakes no reader before a quarter of it is full).
  constexpr std::chrono::milliseconds kSlice{200};
  auto due = std::chrono::steady_clock::now() + interval;
  while (!stop.flag().load() && std::chrono::steady_clock::now() < until) {
    const auto now = std::chrono::steady_clock::now();
    const auto wait = std::min<std::chrono::steady_clock::duration>({kSlice, due - now, until - now});
    if (wait.count() > 0) {
      if (auto r = session.wait(std::chrono::duration_cast<std::chrono::milliseconds>(wait), stop.flag()); !r)
        throw UserError(r.error().to_string());
    }
    feed.poll_drops();
    if (stop.flag().load() || std::chrono::steady_clock::now() < due) continue;
    due = std::chrono::steady_clock::now() + interval;
    if (auto r = session.refresh(); !r) throw UserError(r.error().to_string());
    server->publish(feed.refresh(session));
  }
  server->stop();
  return kExitOk;
}

int run_cluster_web(cluster::ClusterViewOptions view_options, const WebFlags& flags,
                    const ClusterTraceOptions& trace, Io& io) {
  const auto interval = std::chrono::milliseconds(static_cast<long>(trace.interval_s * 1000));
  const auto until = trace.duration_s > 0
                         ? std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(static_cast<long>(trace.duration_s * 1000))
                         : std::chrono::steady_clock::time_point::max();
  auto options = flags.options();
  options.name = "cluster";
  view_options.drops = !flags.no_drops;
  const StopOnSignal stop;
  auto view = cluster::ClusterView::open(std::move(view_options));
  if (!view) throw UserError(view.error().to_string());
  auto server = start_map(options);
  server->publish(server::cluster_map_refresh(**view));
  announce(*server, (*view)->describe(), trace.ready_file, io);
  auto due = std::chrono::steady_clock::now() + interval;
  while (!stop.flag().load() && std::chrono::steady_clock::now() < until) {
    const auto now = std::chrono::steady_clock::now();
    if (now < due) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          {due - now, until - now, std::chrono::milliseconds(50)}));
      continue;
    }
    due = now + interval;
    (*view)->refresh();
    server->publish(server::cluster_map_refresh(**view));
  }
  server->stop();
  return kExitOk;
}

}  // namespace podpath::cli
