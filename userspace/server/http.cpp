#include "server/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "server/check_endpoint.hpp"
#include "server/query.hpp"
#include "server/web_assets.hpp"
#include "server/worker_pool.hpp"

namespace podpath::server {
namespace {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

constexpr const char* kJson = "application/json";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// cpp-httplib 0.11 binds TCP sockets only, with a backlog of 5; the agent binds its own
// (a unix socket file too) and hands it to the server through its protected listening socket.
template <typename Base> class BoundServer final : public Base {
 public:
  using Base::Base;
  void adopt(Fd socket) { this->svr_sock_ = socket.release(); }
};

void error(Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump() + "\n", kJson);
}

std::string_view query_of(const Request& req) {
  const std::string_view target = req.target;
  const auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::string_view path_of(const Request& req) {
  const std::string_view target = req.target;
  return target.substr(0, target.find('?'));
}

// ---------------------------------------------------------------------------- sockets
Result<Fd> bind_tcp(const ListenAddress& a, int backlog, std::uint16_t& bound_port) {
  const auto ip = model::IpAddress::parse(a.host);
  const bool v4 = ip->is_v4();
  Fd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errno, "cannot create a socket for {}", a.to_string());
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    ::inet_pton(AF_INET, a.host.c_str(), &sin->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a.port);
    ::inet_pton(AF_INET6, a.host.c_str(), &sin6->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return make_error(errno, "cannot listen on {}", a.to_string());
  if (::listen(fd.get(), backlog) != 0) return make_error(errno, "cannot listen on {}", a.to_string());
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    bound_port = ntohs(v4 ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return fd;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), std::min(path.size(), sizeof(sun.sun_path) - 1));
  return sun;
}

// A socket file left by an agent that was killed is replaced; one a live process listens
// on is not.
Result<void> clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode))
    return make_error(EEXIST, "cannot listen on unix:{}: the file exists and is not a socket", path);
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un sun = unix_address(path);
  if (probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof(sun)) == 0)
    return make_error(EADDRINUSE, "cannot listen on unix:{}: another process listens there (another agent?)",
                      path);
  if (::unlink(path.c_str()) != 0) return make_error(errno, "cannot remove the stale socket unix:{}", path);
  spdlog::info("replaced the stale socket unix:{} (left by a process that is gone)", path);
  return {};
}

Result<Fd> bind_unix(const std::string& path, int backlog) {
  if (auto r = clear_stale_socket(path); !r) return r.error();
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errno, "cannot create a unix socket");
  const sockaddr_un sun = unix_address(path);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof(sun)) != 0)
    return make_error(errno, "cannot listen on unix:{}", path);
  // Before listen(), nobody can connect: the mode is right before anyone can use it.
  if (::chmod(path.c_str(), 0600) != 0) return make_error(errno, "cannot set mode 0600 on unix:{}", path);
  if (::listen(fd.get(), backlog) != 0) return make_error(errno, "cannot listen on unix:{}", path);
  return fd;
}

// ---------------------------------------------------------------------------- handlers
HandlerResponse check_request(const Request& req, Response& res, const HttpContext& ctx,
                              const TokenStore* token, bool serves_check) {
  // POST /v1/check is the one endpoint that acts (server/check_endpoint.hpp); the rest reads.
  const bool check_route = serves_check && path_of(req) == kCheckPath;
  if (check_route ? req.method != "POST" : (req.method != "GET" && req.method != "HEAD")) {
    res.set_header("Allow", check_route ? "POST" : "GET, HEAD");
    error(res, 405,
          check_route ? "POST /v1/check takes a JSON body; no other method"
                      : "only GET and HEAD (the one endpoint that acts is POST /v1/check)");
    return HandlerResponse::Handled;
  }
  if (path_of(req).size() > ctx.limits.max_path) {
    error(res, 400, fmt::format("request path longer than {} bytes", ctx.limits.max_path));
    return HandlerResponse::Handled;
  }
  std::size_t header_bytes = 0;
  for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
  if (req.headers.size() > ctx.limits.max_headers || header_bytes > ctx.limits.max_header_bytes) {
    error(res, 431,
          fmt::format("more than {} headers or {} bytes of headers", ctx.limits.max_headers,
                      ctx.limits.max_header_bytes));
    return HandlerResponse::Handled;
  }
  // cpp-httplib does not read the body of a GET: its bytes would be taken for the next
  // request. Refuse it, and close the connection.
  const std::string length = req.get_header_value("Content-Length");
  if (!check_route && ((!length.empty() && length != "0") || req.has_header("Transfer-Encoding"))) {
    res.set_header("Connection", "close");
    error(res, 400, "a GET request carries no body");
    return HandlerResponse::Handled;
  }
  // The map's page, script and style hold no data: a browser loads them before it can send
  // the token (docs/web.md); every /v1 request the page makes carries it.
  const bool public_asset = req.method == "GET" && web_asset(path_of(req)).has_value();
  if (token != nullptr && !public_asset && !token->accepts(req.get_header_value("Authorization"))) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"podpath\"");
    error(res, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
    return HandlerResponse::Handled;
  }
  return HandlerResponse::Unhandled;
}

std::string flows_head(const AgentSnapshot& s, std::size_t total, std::size_t returned) {
  nlohmann::json head = {{"node", s.node}, {"seq", s.seq},
                         {"time", s.time}, {"monotonic_ns", s.monotonic_ns},
                         {"total", total}, {"returned", returned}};
  std::string out = head.dump();
  out.pop_back();  // the closing brace: "flows" follows
  return out + ",\"flows\":[";
}

std::string flows_body(const AgentSnapshot& s, const FlowQuery& q) {
  std::size_t total = 0;
  const auto items = select_flows(s.flows, q.filter, q.sort, q.limit, total);
  std::string out = flows_head(s, total, items.size());
  // Sized once: grown by doubling, a body of every conversation would take up to twice its size.
  std::size_t size = out.size() + 3;  // "]}" and the handler's newline
  for (const auto& item : items) size += item->json.size() + 1;
  out.reserve(size);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i]->json;
  }
  return out + "]}";
}

/// A stream goes out in writes of about this size. An event is never held whole: its text
/// would be built once per client (all 10 000 conversations of a snapshot: about 20 MB) and
/// cpp-httplib copies every write twice more to frame it as a chunk, in each client's thread.
constexpr std::size_t kStreamPiece = 64 * 1024;

/// Gathers a stream's text and hands it to the sink a piece at a time.
class PieceWriter {
 public:
  explicit PieceWriter(httplib::DataSink& sink) : sink_(sink) {}
  void add(std::string_view text) {
    if (!ok_) return;
    buffer_ += text;
    if (buffer_.size() >= kStreamPiece) flush();
  }
  /// Sends the rest; false once a write failed (the client went away).
  bool finish() {
    flush();
    return ok_;
  }

 private:
  void flush() {
    if (ok_ && !buffer_.empty()) ok_ = sink_.write(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  httplib::DataSink& sink_;
  std::string buffer_;
  bool ok_ = true;
};

/// "id: SEQ\nevent: EVENT\ndata: ": what precedes an event's data (one line of JSON).
std::string sse_head(std::string_view event, std::uint64_t id) {
  return fmt::format("id: {}\nevent: {}\ndata: ", id, event);
}

/// The stream's first event: the body of /v1/flows for its query.
void write_snapshot(PieceWriter& out, const AgentSnapshot& s, const FlowQuery& q) {
  std::size_t total = 0;
  const auto items = select_flows(s.flows, q.filter, q.sort, q.limit, total);
  out.add("retry: 2000\n\n");
  out.add(sse_head("snapshot", s.seq));
  out.add(flows_head(s, total, items.size()));
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.add(",");
    out.add(items[i]->json);
  }
  out.add("]}\n\n");
}

/// The update event of `e` as a client with `filter` sees it; false (nothing written) when
/// nothing in it passes the filter.
bool write_update(PieceWriter& out, const StreamEvent& e, const output::FlowFilter& filter) {
  nlohmann::json removed = nlohmann::json::array();
  for (const auto& item : e.removed) {
    if (item->matches(filter)) removed.push_back(item->id);
  }
  const auto passes = [&filter](const FlowItemPtr& item) { return item->matches(filter); };
  if (removed.empty() && std::none_of(e.changed.begin(), e.changed.end(), passes)) return false;
  nlohmann::json head = {
      {"seq", e.seq}, {"time", e.time}, {"monotonic_ns", e.monotonic_ns}, {"removed", removed}};
  std::string text = head.dump();
  text.pop_back();  // the closing brace: "changed" follows
  out.add(sse_head("update", e.seq));
  out.add(text);
  out.add(",\"changed\":[");
  bool first = true;
  for (const auto& item : e.changed) {
    if (!passes(item)) continue;
    if (!first) out.add(",");
    first = false;
    out.add(item->json);
  }
  out.add("]}\n\n");
  return true;
}

void serve_stream(const Request& req, Response& res, const HttpContext& ctx) {
  auto q = parse_flow_query(query_of(req));
  if (!q) return error(res, 400, q.error().message);
  AgentSnapshotPtr start;
  auto client = ctx.hub.subscribe(start);
  if (!client) {
    res.set_header("Retry-After", "5");
    return error(res, 503, fmt::format("too many streams: at most {} at once", ctx.hub.stats().max));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  struct State {
    FlowQuery query;
    AgentSnapshotPtr start;
    std::shared_ptr<StreamClient> client;
    bool started = false;
  };
  auto state = std::make_shared<State>(State{std::move(*q), std::move(start), client});
  SnapshotHub& hub = ctx.hub;
  const auto heartbeat = ctx.heartbeat;
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, heartbeat](std::size_t, httplib::DataSink& sink) {
        if (!state->started) {
          state->started = true;
          PieceWriter out(sink);
          write_snapshot(out, *state->start, state->query);
          state->start.reset();
          return out.finish();
        }
        // One event per call: what changed for this client (in pieces of kStreamPiece), or a
        // heartbeat after `heartbeat` without one.
        const auto until = std::chrono::steady_clock::now() + heartbeat;
        while (true) {
          const auto left =
              std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
          StreamEventPtr event;
          switch (state->client->next(event, std::max(left, std::chrono::milliseconds(0)))) {
          case StreamClient::Wait::Ended:
            return false;
          case StreamClient::Wait::Timeout: {
            static constexpr std::string_view kBeat = ": heartbeat\n\n";
            return sink.write(kBeat.data(), kBeat.size());
          }
          case StreamClient::Wait::Event: {
            PieceWriter out(sink);
            if (!write_update(out, *event, state->query.filter)) continue;
            return out.finish();
          }
          }
        }
      },
      [&hub, client](bool) { hub.unsubscribe(client); });
}

// The map (docs/web.md): the embedded page under a policy that lets it load its own
// script, style and API only.
void install_web_routes(httplib::Server& server) {
  server.Get(kWebAssetRoute, [](const Request& req, Response& res) {
    const auto asset = web_asset(path_of(req));
    if (!asset) return error(res, 404, fmt::format("no file {}", req.path));
    if (auto r = expect_no_params(query_of(req)); !r) return error(res, 400, r.error().message);
    res.set_header("Content-Security-Policy", kWebContentSecurityPolicy);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(asset->body), asset->content_type);
  });
}

void install_check_route(httplib::Server& server, CheckService& check, bool authenticated);

void install_routes(httplib::Server& server, Surface surface, const HttpContext& ctx, const TokenStore* token,
                    bool authenticated) {
  const bool serves_check = surface == Surface::Api && ctx.check != nullptr;
  server.set_pre_routing_handler([&ctx, token, serves_check](const Request& req, Response& res) {
    return check_request(req, res, ctx, token, serves_check);
  });
  server.set_error_handler([surface](const Request& req, Response& res) {
    // cpp-httplib's own refusals come without a body; a request line over its 8 KiB limit
    // is malformed like any other.
    if (res.status == 414) res.status = 400;
    if (!res.body.empty()) return;
    switch (res.status) {
    case 404:
      return error(
          res, 404,
          fmt::format("no endpoint {} (there are {})", req.path,
                      surface == Surface::Api
                          ? "/ (the map), /v1/node, /v1/nodes, /v1/flows, /v1/flows/stream, /v1/drops, "
                            "POST /v1/check, /metrics, /healthz, /readyz"
                          : "/metrics, /healthz, /readyz"));
    case 400:
      return error(res, 400, "malformed request");
    case 413:
      return error(res, 413, "request too large");
    default:
      return error(res, res.status, fmt::format("HTTP {}", res.status));
    }
  });
  server.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::warn("{} {}: {}", req.method, req.path, what);
    error(res, 500, "internal error: " + what);
  });
  server.Get("/healthz", [](const Request&, Response& res) { res.set_content("ok\n", "text/plain"); });
  server.Get("/readyz", [&ctx](const Request&, Response& res) {
    const auto s = ctx.hub.snapshot();
    if (s->ready) return res.set_content("ready\n", "text/plain");
    res.status = 503;
    res.set_content("not ready: " + s->not_ready_reason + "\n", "text/plain");
  });
  server.Get("/metrics", [&ctx](const Request& req, Response& res) {
    if (auto r = expect_no_params(query_of(req)); !r) return error(res, 400, r.error().message);
    res.set_content(ctx.metrics.render(), kMetricsType);
  });
  if (surface == Surface::Metrics) return;

  server.Get("/v1/node", [&ctx](const Request& req, Response& res) {
    if (auto r = expect_no_params(query_of(req)); !r) return error(res, 400, r.error().message);
    const auto s = ctx.hub.snapshot();
    if (!s->ready) return error(res, 503, "not ready: " + s->not_ready_reason);
    if (s->node_info.is_null()) return error(res, 404, "this process watches several nodes: GET /v1/nodes");
    nlohmann::json body = s->node_info;
    const StreamStats st = ctx.hub.stats();
    body["streams"] = {
        {"active", st.active}, {"max", st.max}, {"dropped", st.dropped}, {"refused", st.refused}};
    res.set_content(body.dump() + "\n", kJson);
  });
  server.Get("/v1/nodes", [&ctx](const Request& req, Response& res) {
    if (auto r = expect_no_params(query_of(req)); !r) return error(res, 400, r.error().message);
    const auto s = ctx.hub.snapshot();
    if (!s->ready) return error(res, 503, "not ready: " + s->not_ready_reason);
    res.set_content(s->nodes_info.dump() + "\n", kJson);
  });
  install_web_routes(server);
  server.Get("/v1/flows", [&ctx](const Request& req, Response& res) {
    auto q = parse_flow_query(query_of(req));
    if (!q) return error(res, 400, q.error().message);
    const auto s = ctx.hub.snapshot();
    if (!s->ready) return error(res, 503, "not ready: " + s->not_ready_reason);
    res.set_content(flows_body(*s, *q) + "\n", kJson);
  });
  server.Get("/v1/flows/stream", [&ctx](const Request& req, Response& res) { serve_stream(req, res, ctx); });
  server.Get("/v1/drops", [&ctx](const Request& req, Response& res) {
    auto q = parse_drops_query(query_of(req));
    if (!q) return error(res, 400, q.error().message);
    const auto s = ctx.hub.snapshot();
    if (!s->ready) return error(res, 503, "not ready: " + s->not_ready_reason);
    const auto& drops = s->drops ? *s->drops : std::vector<std::string>{};
    const std::size_t n = q->limit == 0 ? drops.size() : std::min(q->limit, drops.size());
    nlohmann::json head = {{"node", s->node}, {"seq", s->seq}, {"kept", drops.size()}, {"returned", n}};
    std::string body = head.dump();
    body.pop_back();
    body += ",\"drops\":[";
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) body += ',';
      body += drops[i];
    }
    res.set_content(body + "]}\n", kJson);
  });
  if (serves_check) install_check_route(server, *ctx.check, authenticated);
}

void install_check_route(httplib::Server& server, CheckService& check, bool authenticated) {
  server.Post(std::string(kCheckPath), [&check, authenticated](const Request& req, Response& res) {
    // Probes are sent on the caller's behalf: only a client the agent authenticated (bearer
    // token, client certificate) or root on the node (the unix socket, mode 0600) may ask.
    if (!authenticated) {
      return error(res, 403,
                   "POST /v1/check sends probes, so it needs an authenticated client: run the agent with "
                   "--token-file or --tls-client-ca, or use its unix socket (--listen unix:PATH)");
    }
    if (!query_of(req).empty()) return error(res, 400, "POST /v1/check takes no query parameters");
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind(kJson, 0) != 0) return error(res, 415, "Content-Type: expected application/json");
    const CheckAnswer a = check.handle(req.body);
    if (a.retry_after_s > 0) res.set_header("Retry-After", std::to_string(a.retry_after_s));
    res.status = a.status;
    res.set_content(a.body, kJson);
  });
}

void apply_limits(httplib::Server& server, const HttpLimits& l) {
  server.set_keep_alive_timeout(l.keep_alive_s);
  server.set_keep_alive_max_count(l.keep_alive_requests);
  server.set_read_timeout(l.read_timeout_s, 0);
  server.set_write_timeout(l.write_timeout_s, 0);
  server.set_payload_max_length(1024);
  server.set_tcp_nodelay(true);
}

}  // namespace

struct Listener::Impl {
  explicit Impl(const HttpContext& c) : context(c) {}
  HttpContext context;  // what the handlers refer to
  std::unique_ptr<httplib::Server> server;
  std::atomic<WorkerPool*> pool{nullptr};
  std::thread thread;
  std::string unix_path;
  bool stopped = false;
};

Listener::Listener(const HttpContext& context) : impl_(std::make_unique<Impl>(context)) {}

Listener::~Listener() { stop(); }

Result<std::unique_ptr<Listener>> Listener::start(const ListenAddress& address, Surface surface,
                                                  TlsStore* tls, const TokenStore* token,
                                                  const HttpContext& context) {
  std::unique_ptr<Listener> l(new Listener(context));
  Impl& impl = *l->impl_;
  std::uint16_t port = address.port;
  Fd socket;
  if (address.kind == ListenAddress::Kind::Unix) {
    auto fd = bind_unix(address.path, context.limits.backlog);
    if (!fd) return fd.error();
    socket = std::move(*fd);
    impl.unix_path = address.path;
    l->url_ = "unix:" + address.path;
    tls = nullptr;  // filesystem permissions protect it; clients connect without TLS
    token = nullptr;
  } else {
    auto fd = bind_tcp(address, context.limits.backlog, port);
    if (!fd) return fd.error();
    socket = std::move(*fd);
    ListenAddress bound = address;
    bound.port = port;
    l->url_ = std::string(tls != nullptr ? "https://" : "http://") + bound.to_string();
  }
  if (tls != nullptr) {
    auto server = std::make_unique<BoundServer<httplib::SSLServer>>(
        [tls](SSL_CTX& ctx) { return tls->configure(ctx); });
    if (!server->is_valid()) return make_error(0, "cannot set up TLS for {}", l->url_);
    server->adopt(std::move(socket));
    impl.server = std::move(server);
  } else {
    auto server = std::make_unique<BoundServer<httplib::Server>>();
    server->adopt(std::move(socket));
    impl.server = std::move(server);
  }
  httplib::Server& server = *impl.server;
  const HttpLimits limits = context.limits;
  server.new_task_queue = [&impl, limits] {
    auto* pool = new WorkerPool(limits.threads, limits.max_waiting);
    impl.pool.store(pool);
    return pool;
  };
  apply_limits(server, limits);
  const bool authenticated = address.kind == ListenAddress::Kind::Unix || token != nullptr ||
                             (tls != nullptr && tls->verifies_clients());
  install_routes(server, surface, impl.context, token, authenticated);
  impl.thread = std::thread([&server] {
    become_unprivileged_server_thread();
    server.listen_after_bind();
  });
  return l;
}

void Listener::stop() {
  Impl& impl = *impl_;
  if (impl.stopped || !impl.server) return;  // never started: nothing bound, nothing runs
  impl.stopped = true;
  if (WorkerPool* pool = impl.pool.load()) pool->stop_accepting();
  impl.server->stop();
  if (impl.thread.joinable()) impl.thread.join();
  if (!impl.unix_path.empty()) ::unlink(impl.unix_path.c_str());
}

}  // namespace podpath::server
