#pragma once
/// @file
/// @brief List+Watch informers for pods, nodes, Services and EndpointSlices (all
/// cluster-wide). Each runs on its own
/// thread and hands its changes to the caller's thread through a ChangeQueue, whose file
/// descriptor the caller polls: the informers never block the caller.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "kube/http.hpp"
#include "kube/objects.hpp"
#include "kube/watch_stream.hpp"
#include "util/fd.hpp"

namespace podpath::kube {

enum class Resource { Pods, Nodes, Services, EndpointSlices };

/// @brief "pods", "nodes", "services", "endpointslices".
std::string_view resource_name(Resource resource);
/// @brief The cluster-wide collection: "/api/v1/pods", "/api/v1/nodes", "/api/v1/services",
/// "/apis/discovery.k8s.io/v1/endpointslices".
std::string_view resource_path(Resource resource);

/// @brief What went wrong with the API server, as far as retrying is concerned: an
/// unreachable server may come back; credentials, RBAC and TLS need a person.
enum class Failure {
  None,
  Unreachable,   ///< connection refused, DNS, timeout, connection lost
  Tls,           ///< handshake or certificate verification failed
  Unauthorized,  ///< 401
  Forbidden,     ///< 403 (RBAC)
  Http,          ///< any other HTTP status
  Malformed,     ///< a body that is not what the API returns
};

/// @brief "unreachable", "tls", "unauthorized", "forbidden", "http", "malformed", "none".
std::string_view to_string(Failure failure);
/// @brief Whether waiting can cure it (an unreachable server, a 5xx, a cut stream).
bool transient(Failure failure);

enum class ChangeType {
  Added,
  Modified,
  Deleted,
  Synced,  ///< a (re)list finished: the caller's view now matches the server's
  Health,  ///< the informer lost or regained the API server (see Change::message)
};

/// @brief One change handed to the caller.
struct Change {
  Resource resource = Resource::Pods;
  ChangeType type = ChangeType::Added;
  std::variant<std::monostate, Pod, Node, Service, EndpointSlice> object;  ///< Added/Modified/Deleted
  bool healthy = true;                                                     ///< Health: the API answers again
  Failure failure = Failure::None;  ///< Health: what went wrong (when !healthy)
  std::string message;              ///< Health: the line that was logged
};

/// @brief A thread-safe queue with an eventfd that is readable while changes wait.
class ChangeQueue {
 public:
  ChangeQueue();
  /// @brief Poll this for POLLIN; drain() when it is readable.
  [[nodiscard]] int fd() const { return fd_.get(); }
  void push(Change change);
  /// @brief Everything queued so far, oldest first; never blocks.
  std::vector<Change> drain();

 private:
  Fd fd_;
  std::mutex mutex_;
  std::deque<Change> changes_;
};

/// @brief Tunables; the defaults follow client-go's reflector.
struct InformerOptions {
  std::string server;  ///< for messages ("https://10.96.0.1:443")
  std::size_t page_size = 500;
  /// @brief Each watch asks for timeoutSeconds uniformly in [min, 2*min), so that many
  /// agents do not reconnect together.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::milliseconds request_timeout{60'000};  ///< one list page
  std::chrono::milliseconds backoff_initial{800};     ///< first retry after an error
  std::chrono::milliseconds backoff_max{30'000};      ///< retries never wait longer
  std::uint64_t seed = 0;                             ///< jitter; 0 = random
  /// @brief Log outages and recoveries here; false when the caller logs the Health
  /// changes itself (one line for all informers).
  bool log_health = true;
};

/// @brief What the informer last saw; for `podpath doctor`.
struct InformerHealth {
  bool synced = false;   ///< a list has completed
  bool healthy = false;  ///< the last request reached the API server and succeeded
  std::string last_error;
  Failure failure = Failure::None;  ///< the kind of last_error
  std::string resource_version;
  std::size_t objects = 0;
  std::size_t relists = 0;  ///< lists after the first (410, errors)
};

/// @brief Keeps a cache of one resource in step with the API server:
/// 1. List in pages (limit/continue); diff against the cache, so a relist emits the
///    deletes that a broken watch missed; then Synced.
/// 2. Watch from the list's resourceVersion with allowWatchBookmarks=true and a jittered
///    timeoutSeconds; take the resourceVersion from every event, bookmarks included.
/// 3. A watch that ends normally is reopened from the last resourceVersion. HTTP 410 or an
///    ERROR event with code 410 relists at once. Any other error is logged as one line
///    (once, until it changes or the server is back), then retried after a jittered
///    exponential backoff with a relist: the cache, and so the caller's view, stays as it
///    was meanwhile.
class Informer {
 public:
  Informer(Resource resource, std::unique_ptr<HttpTransport> transport, ChangeQueue& queue,
           InformerOptions options = {});
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;
  ~Informer();

  /// @brief Runs list/watch on a new thread until stop().
  void start();
  /// @brief Ends the thread (cancels a transfer in progress) and joins it.
  void stop();
  [[nodiscard]] InformerHealth health() const;

  /// @brief What a step asks for next.
  enum class Next { Watch, Relist, Retry, Stop };
  /// @brief One full list and diff. Public, with watch(), for tests that drive the steps.
  Next list();
  /// @brief One watch request, until its body ends.
  Next watch();
  /// @brief The timeoutSeconds the next watch asks for.
  std::chrono::seconds next_watch_timeout();
  /// @brief The wait before retry number `attempt` (0-based).
  std::chrono::milliseconds backoff(unsigned attempt);

 private:
  using Object = std::variant<Pod, Node, Service, EndpointSlice>;
  struct Cached {
    std::string resource_version;
    Object object;
  };

  void run();
  Result<Object> parse_object(const nlohmann::json& json) const;
  void emit(ChangeType type, const Object& object);
  /// Records a failure; logs it unless a failure of the same kind was the last one logged.
  void fail(Failure failure, const std::string& kind, const std::string& line);
  void succeed();
  void push_health(bool healthy, std::string line, Failure failure = Failure::None);
  [[nodiscard]] std::string server() const;
  [[nodiscard]] std::string describe(const HttpResponse& response, const std::string& target) const;
  bool handle_event(const WatchEvent& event, bool& relist, std::string& error);
  bool wait_for(std::chrono::milliseconds delay);

  Resource resource_;
  std::unique_ptr<HttpTransport> transport_;
  ChangeQueue& queue_;
  InformerOptions options_;
  std::mt19937_64 rng_;

  std::unordered_map<std::string, Cached> cache_;  ///< by UID; informer thread only
  std::string resource_version_;

  mutable std::mutex mutex_;  ///< guards health_ and stop waits
  std::condition_variable wake_;
  InformerHealth health_;
  bool logged_failure_ = false;
  std::string failure_kind_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// @brief The informers a podpath process needs, one per resource (in kResources order:
/// pods, nodes, services, endpointslices), sharing one queue.
class ClusterWatch {
 public:
  static constexpr Resource kResources[] = {Resource::Pods, Resource::Nodes, Resource::Services,
                                            Resource::EndpointSlices};

  ClusterWatch(const TransportFactory& transports, InformerOptions options = {});
  void start();
  void stop();
  [[nodiscard]] ChangeQueue& queue() { return queue_; }
  [[nodiscard]] const Informer& informer(Resource resource) const {
    return *informers_.at(static_cast<std::size_t>(resource));
  }
  [[nodiscard]] const Informer& pods() const { return informer(Resource::Pods); }
  [[nodiscard]] const Informer& nodes() const { return informer(Resource::Nodes); }

 private:
  ChangeQueue queue_;
  std::vector<std::unique_ptr<Informer>> informers_;  ///< indexed by Resource
};

}  // namespace podpath::kube
