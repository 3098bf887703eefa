#pragma once
/// @file
/// @brief The thread pool behind each cpp-httplib server (its `new_task_queue`). Internal
/// to the server layer: it includes cpp-httplib.
///
/// cpp-httplib 0.11 runs every connection on one pool thread from accept to close, keep-alive
/// and server-sent events included (cpp-httplib#1966), and its own pool queues accepted
/// connections without a bound. This one:
///  - has a fixed number of threads, each of which drops every capability and blocks the
///    signals the main thread handles before it serves anything;
///  - takes the newest waiting connection first: under a flood of idle connections a fresh
///    request (a health probe) is served as soon as a thread is free, the stale ones after;
///  - bounds the waiting connections: at the bound, enqueue() waits, which stops the
///    server's accept loop until a thread is free, and the kernel's listen backlog bounds
///    the rest.

#include <server_third_party.hpp>  // private to this layer (see there)

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "util/capabilities.hpp"

namespace podpath::server {

class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(std::size_t threads, std::size_t max_waiting);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void enqueue(std::function<void()> fn) override;
  /// @brief Stops taking work; connections still waiting are abandoned (their sockets are
  /// closed when the process exits); joins the threads once their connections end.
  void shutdown() override;
  /// @brief Unblocks an enqueue() waiting for room (before the server is stopped).
  void stop_accepting();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable room_;
  std::deque<std::function<void()>> waiting_;
  std::vector<std::thread> threads_;
  std::size_t max_waiting_;
  bool stopping_ = false;
};

/// @brief What every thread of the agent that serves clients does first: drop every
/// capability and block SIGINT, SIGTERM, SIGHUP and SIGQUIT (the main thread handles them).
void become_unprivileged_server_thread();
/// @brief The same, keeping `keep` (what the thread holds of it): for a thread that serves
/// clients with a privilege of its own (the prober of POST /v1/check).
void become_server_thread(CapabilitySet keep);

}  // namespace podpath::server
