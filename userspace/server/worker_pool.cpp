#include "server/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <csignal>

#include "util/capabilities.hpp"

namespace podpath::server {

void become_unprivileged_server_thread() { become_server_thread(0); }

void become_server_thread(CapabilitySet keep) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (auto r = thread_keep_capabilities(keep); !r) spdlog::warn("server thread: {}", r.error().to_string());
}

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_waiting) : max_waiting_(max_waiting) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::enqueue(std::function<void()> fn) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [this] { return stopping_ || waiting_.size() < max_waiting_; });
  if (stopping_) return;  // the process is stopping: the connection goes with it
  waiting_.push_back(std::move(fn));
  work_.notify_one();
}

void WorkerPool::stop_accepting() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  waiting_.clear();
  work_.notify_all();
  room_.notify_all();
}

void WorkerPool::shutdown() {
  stop_accepting();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WorkerPool::run() {
  become_unprivileged_server_thread();
  while (true) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
      if (stopping_) return;
      fn = std::move(waiting_.back());  // newest first
      waiting_.pop_back();
      room_.notify_one();
    }
    fn();
  }
}

}  // namespace podpath::server
