#include "kube/informer.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "util/text.hpp"

namespace podpath::kube {
namespace {

using nlohmann::json;

/// A watch asks the server to end it after timeoutSeconds; the transfer itself may take
/// this much longer before it counts as hung.
constexpr std::chrono::seconds kWatchTimeoutMargin{30};

const std::string& uid_of(const std::variant<Pod, Node, Service, EndpointSlice>& object) {
  return std::visit([](const auto& o) -> const std::string& { return o.uid; }, object);
}

/// The message of a v1 Status body, or the body itself when it is not one; the server's
/// text, so through printable() (it reaches log lines and errors).
std::string status_message(const std::string& body) {
  try {
    const json status = json::parse(body);
    if (status.is_object() && status.contains("message") && status["message"].is_string())
      return printable(status["message"].get<std::string>());
  } catch (const json::exception&) {
  }
  std::string text = body.substr(0, 200);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return printable(text);
}

/// Failures of one kind are logged once, however their details (timings) vary.
std::string failure_kind(const HttpResponse& r) {
  if (r.failure != TransportFailure::None) return "transport " + std::to_string(static_cast<int>(r.failure));
  return "http " + std::to_string(r.status);
}

Failure classify(const HttpResponse& r) {
  switch (r.failure) {
  case TransportFailure::None:
    break;
  case TransportFailure::Tls:
    return Failure::Tls;
  case TransportFailure::Unreachable:
  case TransportFailure::Timeout:
  case TransportFailure::Cancelled:
    return Failure::Unreachable;
  case TransportFailure::Other:
    return Failure::Malformed;
  }
  if (r.status == 401) return Failure::Unauthorized;
  if (r.status == 403) return Failure::Forbidden;
  return Failure::Http;
}

}  // namespace

std::string_view to_string(Failure failure) {
  switch (failure) {
  case Failure::None:
    return "none";
  case Failure::Unreachable:
    return "unreachable";
  case Failure::Tls:
    return "tls";
  case Failure::Unauthorized:
    return "unauthorized";
  case Failure::Forbidden:
    return "forbidden";
  case Failure::Http:
    return "http";
  case Failure::Malformed:
    break;
  }
  return "malformed";
}

bool transient(Failure failure) {
  return failure == Failure::Unreachable || failure == Failure::Http || failure == Failure::Malformed;
}

std::string_view resource_name(Resource resource) {
  switch (resource) {
  case Resource::Pods:
    return "pods";
  case Resource::Nodes:
    return "nodes";
  case Resource::Services:
    return "services";
  case Resource::EndpointSlices:
    break;
  }
  return "endpointslices";
}

std::string_view resource_path(Resource resource) {
  switch (resource) {
  case Resource::Pods:
    return "/api/v1/pods";
  case Resource::Nodes:
    return "/api/v1/nodes";
  case Resource::Services:
    return "/api/v1/services";
  case Resource::EndpointSlices:
    break;
  }
  return "/apis/discovery.k8s.io/v1/endpointslices";
}

ChangeQueue::ChangeQueue() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
}

void ChangeQueue::push(Change change) {
  {
    const std::lock_guard lock(mutex_);
    changes_.push_back(std::move(change));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(fd_.get(), &one, sizeof one);  // only fails at 2^64-1 pending
}

std::vector<Change> ChangeQueue::drain() {
  // Read the counter first: a push after this read makes the fd readable again, so no
  // change waits unseen.
  std::uint64_t count = 0;
  [[maybe_unused]] const auto n = ::read(fd_.get(), &count, sizeof count);
  const std::lock_guard lock(mutex_);
  std::vector<Change> out(std::make_move_iterator(changes_.begin()), std::make_move_iterator(changes_.end()));
  changes_.clear();
  return out;
}

Informer::Informer(Resource resource, std::unique_ptr<HttpTransport> transport, ChangeQueue& queue,
                   InformerOptions options)
    : resource_(resource), transport_(std::move(transport)), queue_(queue), options_(std::move(options)),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  transport_->cancel();
  if (thread_.joinable()) thread_.join();
}

InformerHealth Informer::health() const {
  const std::lock_guard lock(mutex_);
  return health_;
}

std::chrono::seconds Informer::next_watch_timeout() {
  const auto min = std::max<std::int64_t>(1, options_.min_watch_timeout.count());
  std::uniform_int_distribution<std::int64_t> pick(min, 2 * min - 1);
  return std::chrono::seconds(pick(rng_));
}

std::chrono::milliseconds Informer::backoff(unsigned attempt) {
  const auto initial = std::max<std::int64_t>(1, options_.backoff_initial.count());
  const auto cap = std::max<std::int64_t>(initial, options_.backoff_max.count());
  std::int64_t ceiling = initial;
  for (unsigned i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  // Jitter in [ceiling/2, ceiling]: never hammering, never synchronised.
  std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, pick(rng_)));
}

bool Informer::wait_for(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, delay, [this] { return stop_.load(); });
}

void Informer::run() {
  unsigned failures = 0;
  Next next = Next::Relist;
  while (!stop_) {
    switch (next) {
    case Next::Relist:
      next = list();
      break;
    case Next::Watch:
      next = watch();
      break;
    case Next::Retry:
      if (!wait_for(backoff(failures++))) return;
      next = Next::Relist;
      continue;
    case Next::Stop:
      return;
    }
    if (next == Next::Watch) failures = 0;
  }
}

Result<Informer::Object> Informer::parse_object(const json& object) const {
  const auto wrap = [](auto parsed) -> Result<Object> {
    if (!parsed) return parsed.error();
    return Object(std::move(*parsed));
  };
  switch (resource_) {
  case Resource::Pods:
    return wrap(parse_pod(object));
  case Resource::Nodes:
    return wrap(parse_node(object));
  case Resource::Services:
    return wrap(parse_service(object));
  case Resource::EndpointSlices:
    break;
  }
  return wrap(parse_endpointslice(object));
}

void Informer::emit(ChangeType type, const Object& object) {
  Change change;
  change.resource = resource_;
  change.type = type;
  std::visit([&](const auto& o) { change.object = o; }, object);
  queue_.push(std::move(change));
}

void Informer::fail(Failure failure, const std::string& kind, const std::string& line) {
  bool log = false;
  {
    const std::lock_guard lock(mutex_);
    log = !logged_failure_ || failure_kind_ != kind;
    failure_kind_ = kind;
    health_.healthy = false;
    health_.last_error = line;
    health_.failure = failure;
    logged_failure_ = true;
  }
  if (!log) return;
  const bool had_view = health().synced;
  if (options_.log_health)
    spdlog::warn("kubernetes: {}{}", line, had_view ? "; keeping the last view, retrying" : "; retrying");
  push_health(false, line, failure);
}

void Informer::push_health(bool healthy, std::string line, Failure failure) {
  Change change;
  change.failure = failure;
  change.resource = resource_;
  change.type = ChangeType::Health;
  change.healthy = healthy;
  change.message = std::move(line);
  queue_.push(std::move(change));
}

void Informer::succeed() {
  bool recovered = false;
  {
    const std::lock_guard lock(mutex_);
    recovered = logged_failure_;
    logged_failure_ = false;
    health_.healthy = true;
    health_.last_error.clear();
    health_.failure = Failure::None;
  }
  if (!recovered) return;
  std::string line = fmt::format("the Kubernetes API at {} answers again; {} are current", server(),
                                 resource_name(resource_));
  if (options_.log_health) spdlog::info("kubernetes: {}", line);
  push_health(true, std::move(line));
}

std::string Informer::server() const { return options_.server.empty() ? "the API server" : options_.server; }

std::string Informer::describe(const HttpResponse& r, const std::string& target) const {
  const std::string server = this->server();
  switch (r.failure) {
  case TransportFailure::None:
    break;
  case TransportFailure::Unreachable:
    return fmt::format("cannot reach the Kubernetes API at {}: {}", server, r.failure_message);
  case TransportFailure::Tls:
    return fmt::format(
        "TLS with the Kubernetes API at {} failed: {} (check the CA and the client certificate)", server,
        r.failure_message);
  case TransportFailure::Timeout:
    return fmt::format("the Kubernetes API at {} did not answer GET {} in time: {}", server, target,
                       r.failure_message);
  case TransportFailure::Cancelled:
    return "cancelled";
  case TransportFailure::Other:
    return fmt::format("request to the Kubernetes API at {} failed: {}", server, r.failure_message);
  }
  switch (r.status) {
  case 401:
    return fmt::format("the Kubernetes API at {} refused the credentials (401 Unauthorized): the token or "
                       "client certificate is not valid there",
                       server);
  case 403:
    return fmt::format(
        "{} is forbidden: the service account needs get, list and watch on pods, nodes, services "
        "and endpointslices (discovery.k8s.io) (see docs/kubernetes.md); the API server said: {}",
        resource_name(resource_), status_message(r.body));
  default:
    return fmt::format("the Kubernetes API at {} answered GET {} with HTTP {}: {}", server, target, r.status,
                       status_message(r.body));
  }
}

Informer::Next Informer::list() {
  std::unordered_map<std::string, Cached> fresh;
  std::string continue_token;
  std::string list_version;
  std::size_t malformed = 0;
  std::vector<std::string> order;  // the server's order, for the Added/Modified changes
  int expired_restarts = 0;
  for (;;) {
    std::string target = fmt::format("{}?limit={}", resource_path(resource_), options_.page_size);
    if (!continue_token.empty()) target += "&continue=" + url_encode(continue_token);
    HttpRequest request;
    request.target = target;
    request.timeout = options_.request_timeout;
    const HttpResponse r = transport_->get(request, nullptr);
    if (stop_ || r.failure == TransportFailure::Cancelled) return Next::Stop;
    if (r.failure == TransportFailure::None && r.status == 410 && !continue_token.empty() &&
        expired_restarts < 3) {
      // The continue token expired between pages: the snapshot is gone, start over.
      ++expired_restarts;
      fresh.clear();
      order.clear();
      continue_token.clear();
      spdlog::debug("kubernetes: {} list: continue token expired, listing again", resource_name(resource_));
      continue;
    }
    if (r.failure != TransportFailure::None || r.status != 200) {
      fail(classify(r), failure_kind(r), describe(r, target));
      return Next::Retry;
    }
    json page;
    try {
      page = json::parse(r.body);
    } catch (const json::exception& e) {
      fail(Failure::Malformed, "malformed",
           fmt::format("malformed response from the Kubernetes API to GET {}: not JSON ({})", target,
                       e.what()));
      return Next::Retry;
    }
    const auto items = page.find("items");
    const auto meta = page.find("metadata");
    if (!page.is_object() || items == page.end() || !(items->is_array() || items->is_null()) ||
        meta == page.end() || !meta->is_object() || !meta->contains("resourceVersion") ||
        !(*meta)["resourceVersion"].is_string()) {
      fail(Failure::Malformed, "malformed",
           fmt::format("malformed response from the Kubernetes API to GET {}: not a {} list", target,
                       resource_name(resource_)));
      return Next::Retry;
    }
    if (items->is_array()) {
      for (const auto& item : *items) {
        auto object = parse_object(item);
        if (!object) {
          if (malformed++ == 0)
            spdlog::warn("kubernetes: skipping a malformed object: {}", object.error().message);
          continue;
        }
        std::string rv = std::visit([](const auto& o) { return o.resource_version; }, *object);
        std::string uid = uid_of(*object);
        if (!fresh.contains(uid)) order.push_back(uid);
        fresh.insert_or_assign(std::move(uid), Cached{std::move(rv), std::move(*object)});
      }
    }
    list_version = (*meta)["resourceVersion"].get<std::string>();
    const auto cont = meta->find("continue");
    continue_token = cont != meta->end() && cont->is_string() ? cont->get<std::string>() : std::string();
    if (continue_token.empty() || stop_) break;
  }
  if (stop_) return Next::Stop;

  // The diff: what a broken watch missed, deletes included.
  std::vector<std::string> gone;
  for (const auto& [uid, old] : cache_) {
    if (!fresh.contains(uid)) gone.push_back(uid);
  }
  std::sort(gone.begin(), gone.end());
  for (const auto& uid : gone) emit(ChangeType::Deleted, cache_.at(uid).object);
  for (const auto& uid : order) {
    const Cached& now = fresh.at(uid);
    const auto it = cache_.find(uid);
    if (it == cache_.end()) {
      emit(ChangeType::Added, now.object);
    } else if (it->second.resource_version != now.resource_version) {
      emit(ChangeType::Modified, now.object);
    }
  }
  cache_ = std::move(fresh);
  resource_version_ = list_version;
  {
    const std::lock_guard lock(mutex_);
    if (health_.synced) ++health_.relists;
    health_.synced = true;
    health_.objects = cache_.size();
    health_.resource_version = resource_version_;
  }
  Change synced;
  synced.resource = resource_;
  synced.type = ChangeType::Synced;
  queue_.push(std::move(synced));
  succeed();
  return Next::Watch;
}

bool Informer::handle_event(const WatchEvent& event, bool& relist, std::string& error) {
  if (event.type == EventType::Error) {
    if (event.error_code == 410) {
      relist = true;
      spdlog::debug("kubernetes: {} watch: resourceVersion {} is too old ({}); listing again",
                    resource_name(resource_), resource_version_, printable(event.error_message));
    } else {
      error = fmt::format("the Kubernetes API ended the {} watch with an error (code {}): {}",
                          resource_name(resource_), event.error_code, printable(event.error_message));
    }
    return false;
  }
  resource_version_ = event.resource_version;
  if (event.type == EventType::Bookmark) return true;
  auto object = parse_object(event.object);
  if (!object) {
    spdlog::warn("kubernetes: skipping a malformed {} event: {}", event_type_name(event.type),
                 object.error().message);
    return true;
  }
  std::string uid = uid_of(*object);  // a copy: the object is moved into the cache below
  if (event.type == EventType::Deleted) {
    const auto it = cache_.find(uid);
    if (it != cache_.end()) {
      emit(ChangeType::Deleted, *object);
      cache_.erase(it);
    }
    return true;
  }
  const auto it = cache_.find(uid);
  const bool known = it != cache_.end();
  emit(known ? ChangeType::Modified : ChangeType::Added, *object);
  cache_.insert_or_assign(std::move(uid), Cached{event.resource_version, std::move(*object)});
  return true;
}

Informer::Next Informer::watch() {
  const auto timeout = next_watch_timeout();
  const std::string target =
      fmt::format("{}?watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={}",
                  resource_path(resource_), url_encode(resource_version_), timeout.count());
  HttpRequest request;
  request.target = target;
  request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout + kWatchTimeoutMargin);
  LineSplitter lines;
  bool relist = false;
  std::string error;
  const auto on_line = [&](std::string_view line) {
    auto event = parse_watch_event(line);
    if (!event) {
      error = fmt::format("malformed response from the Kubernetes API to the {} watch: {}",
                          resource_name(resource_), event.error().message);
      return false;
    }
    return handle_event(*event, relist, error);
  };
  const HttpResponse r = transport_->get(request, [&](std::string_view chunk) {
    auto fed = lines.feed(chunk, on_line);
    if (!fed) error = "malformed response from the Kubernetes API: " + fed.error().message;
    return error.empty() && !relist && !stop_;
  });
  {
    const std::lock_guard lock(mutex_);
    health_.objects = cache_.size();
    health_.resource_version = resource_version_;
  }
  if (stop_ || r.failure == TransportFailure::Cancelled) return Next::Stop;
  if (relist) return Next::Relist;
  if (!error.empty()) {
    fail(Failure::Unreachable, "watch", error);
    return Next::Retry;
  }
  if (r.failure == TransportFailure::None && r.status == 410) {
    spdlog::debug("kubernetes: {} watch: HTTP 410, listing again", resource_name(resource_));
    return Next::Relist;
  }
  if (r.failure != TransportFailure::None || r.status != 200) {
    fail(classify(r), failure_kind(r), describe(r, target));
    return Next::Retry;
  }
  if (lines.pending() > 0) {
    fail(Failure::Unreachable, "watch",
         fmt::format("the {} watch ended in the middle of an event", resource_name(resource_)));
    return Next::Retry;
  }
  return Next::Watch;  // the server ended the watch at timeoutSeconds: reopen it
}

ClusterWatch::ClusterWatch(const TransportFactory& transports, InformerOptions options) {
  for (const Resource r : kResources) {
    informers_.push_back(std::make_unique<Informer>(r, transports(), queue_, options));
  }
}

void ClusterWatch::start() {
  for (auto& i : informers_) i->start();
}

void ClusterWatch::stop() {
  for (auto& i : informers_) i->stop();
}

}  // namespace podpath::kube
