#include "server/map_server.hpp"

#include <time.h>

#include <ctime>
#include <map>

#include "server/credentials.hpp"
#include "server/http.hpp"
#include "server/metrics.hpp"
#include "server/node_view.hpp"
#include "server/snapshot_hub.hpp"
#include "util/system.hpp"

namespace podpath::server {
struct MapServer::Impl {
  Impl(const MapServerOptions& o, Credentials c)
      : hub(o.max_streams, kStreamQueue), metrics(o.name, o.version), credentials(std::move(c)) {}
  SnapshotHub hub;
  AgentMetrics metrics;
  Credentials credentials;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<std::string> urls;
  std::map<std::string, FlowItemPtr> served;  // by id: what the streams last saw
  std::uint64_t seq = 0;
  bool stopped = false;
};

MapServer::MapServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MapServer::~MapServer() { stop(); }

Result<std::unique_ptr<MapServer>> MapServer::start(const MapServerOptions& options) {
  auto credentials = load_credentials(options.listen, options.credentials);
  if (!credentials) return credentials.error();
  std::unique_ptr<MapServer> server(new MapServer(std::make_unique<Impl>(options, std::move(*credentials))));
  Impl& impl = *server->impl_;
  auto waiting = std::make_shared<AgentSnapshot>();
  waiting->not_ready_reason = "attaching";
  impl.hub.publish(std::move(waiting), nullptr);
  HttpContext context{impl.hub, impl.metrics, HttpLimits{}};
  context.limits.threads = options.max_streams + 8;
  for (const auto& address : options.listen) {
    auto l = Listener::start(address, Surface::Api, impl.credentials.tls.get(), impl.credentials.token.get(),
                             context);
    if (!l) return l.error();
    impl.urls.push_back((*l)->url());
    impl.listeners.push_back(std::move(*l));
  }
  return server;
}

void MapServer::publish(MapRefresh refresh) {
  Impl& impl = *impl_;
  ++impl.seq;
  auto event = std::make_shared<StreamEvent>();
  std::map<std::string, FlowItemPtr> now;
  for (const auto& item : refresh.flows) {
    const auto old = impl.served.find(item->id);
    // The same item (a builder kept it), or the same content, is no change.
    if (old == impl.served.end() || (old->second != item && old->second->json != item->json))
      event->changed.push_back(item);
    now.emplace(item->id, item);
  }
  for (auto& [id, item] : impl.served) {
    if (now.count(id) == 0) event->removed.push_back(item);
  }
  impl.served = std::move(now);

  auto s = std::make_shared<AgentSnapshot>();
  s->seq = impl.seq;
  s->ready = true;
  s->time = std::time(nullptr);
  s->monotonic_ns = monotonic_ns();
  s->node = "";
  s->flows = std::move(refresh.flows);
  s->nodes_info = std::move(refresh.nodes);
  s->drops = refresh.drops ? std::move(refresh.drops) : std::make_shared<const std::vector<std::string>>();
  event->seq = s->seq;
  event->time = s->time;
  event->monotonic_ns = s->monotonic_ns;
  impl.hub.publish(std::move(s), event);
}

void MapServer::count_drop(const std::string& reason, const std::string& role) {
  impl_->metrics.count_drop(reason, role);
}

const std::vector<std::string>& MapServer::urls() const { return impl_->urls; }

void MapServer::stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.hub.close();
  for (auto& l : impl.listeners) l->stop();
  impl.listeners.clear();
}

SessionMapFeed::SessionMapFeed(std::string version, std::vector<std::string> urls, double interval_s)
    : version_(std::move(version)), urls_(std::move(urls)), interval_s_(interval_s),
      started_(std::time(nullptr)) {}

SessionMapFeed::~SessionMapFeed() = default;

namespace {

// The nodes a session watches (all of a lab's, or those --node names).
std::vector<std::string> watched_nodes(const loader::Session& session) {
  std::vector<std::string> out;
  for (const auto& n : session.cluster().nodes) {
    if (session.topology().find_node(n.name) != nullptr) out.push_back(n.name);
  }
  return out;
}

}  // namespace

void SessionMapFeed::track_drops(const loader::Session& session, DropWatch::OnKept on_kept) {
  drops_ = std::make_unique<DropWatch>(session, watched_nodes(session), "", std::move(on_kept));
}

void SessionMapFeed::poll_drops() {
  if (drops_) drops_->poll();
}

MapRefresh SessionMapFeed::refresh(loader::Session& session) {
  ++seq_;
  MapRefresh out;
  const auto conversations = session.aggregator().conversations();
  std::function<std::string(const model::FlowKey&, const model::Pod*)> container_of;
  if (session.containers() != nullptr) {
    container_of = [&session](const model::FlowKey& k, const model::Pod* p) {
      return session.container_of(k, p);
    };
  }
  const FlowInputs in{conversations, session.resolver(), session.topology(), session.snapshot(),
                      container_of};
  builder_.update(in, out.flows);
  if (drops_) {
    drops_->refresh(session);
    out.drops = drops_->entries();
  }

  AgentInfo agent;
  agent.version = version_;
  agent.listen = urls_;
  agent.started = started_;
  agent.drops = drops_ ? drops_->mode() : "off (--no-drops)";
  agent.interval_s = interval_s_;
  const std::uint64_t mono = monotonic_ns();
  // One drop program for every node: its counters, and the drops kept, are the process's.
  const RefreshInfo info{seq_,
                         0,
                         mono,
                         realtime_ns(),
                         out.flows.size(),
                         drops_ ? drops_->counters() : std::nullopt,
                         out.drops ? out.drops->size() : 0,
                         drops_ ? drops_->total() : 0};
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& name : watched_nodes(session)) nodes.push_back(node_json(session, name, agent, info));
  out.nodes = nodes_json(std::move(nodes), gateway_json(session));
  return out;
}

}  // namespace podpath::server
