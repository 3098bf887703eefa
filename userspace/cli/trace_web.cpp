#include "cli/trace_web.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "util/text.hpp"

namespace podpath::cli {

void WebFlags::add_to(CLI::App& sub) {
  auto* web_opt = sub.add_option(
      "--web", web,
      "Serve the live routing map at http://ADDR:PORT/ (e.g. 127.0.0.1:8080; port 0 picks one) instead of "
      "printing: the page and the /v1 API of every watched node (docs/web.md). Loopback only unless "
      "--tls-cert/--tls-key and --tls-client-ca or --token-file protect it");
  auto* cert =
      sub.add_option("--tls-cert", tls_cert, "--web: PEM certificate (and chain); with --tls-key, HTTPS");
  auto* key = sub.add_option("--tls-key", tls_key, "--web: PEM private key of --tls-cert");
  auto* ca = sub.add_option("--tls-client-ca", tls_client_ca,
                            "--web: PEM CA bundle; clients must present a certificate it signed");
  auto* token = sub.add_option("--token-file", token_file,
                               "--web: file holding a bearer token every API request must carry (the page "
                               "asks for it)");
  for (auto* o : {cert, key, ca, token}) o->needs(web_opt);
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

int run_trace_web(loader::Session& session, const WebFlags& flags, std::chrono::milliseconds interval,
                  std::chrono::steady_clock::time_point until, const std::string& ready_file,
                  const StopOnSignal& stop, Io& io) {
  auto options = flags.options();
  options.name = session.cluster().lab.empty() ? "trace" : "lab " + session.cluster().lab;
  auto server = server::MapServer::start(options);
  if (!server) throw UserError(server.error().to_string());
  server::SessionMapFeed feed(options.version, (*server)->urls(),
                              std::chrono::duration<double>(interval).count());
  (*server)->publish(feed.refresh(session));
  for (const auto& url : (*server)->urls()) io.out << "podpath trace: the map is at " << url << "/\n";
  io.out.flush();
  write_ready_file(ready_file, session.loader().describe() + "; map " + (*server)->urls().front() + "/");
  while (!stop.flag().load() && std::chrono::steady_clock::now() < until) {
    const auto wait =
        std::min<std::chrono::steady_clock::duration>(interval, until - std::chrono::steady_clock::now());
    if (auto r = session.wait(std::chrono::duration_cast<std::chrono::milliseconds>(wait), stop.flag()); !r)
      throw UserError(r.error().to_string());
    if (stop.flag().load()) break;
    if (auto r = session.refresh(); !r) throw UserError(r.error().to_string());
    (*server)->publish(feed.refresh(session));
  }
  (*server)->stop();
  return kExitOk;
}

}  // namespace podpath::cli
