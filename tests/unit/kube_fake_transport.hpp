#pragma once
// An HttpTransport that replays recorded responses, in order, and records the requests.
// When the script runs out, get() waits until cancel(): like a quiet watch.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kube/http.hpp"

namespace podpath::kube::testing {

struct Reply {
  HttpResponse response;            // failure and status
  std::vector<std::string> chunks;  // the body, in the chunks the sink sees
};

/// A 200 whose body arrives in the given chunks.
inline Reply ok(std::vector<std::string> chunks) {
  Reply r;
  r.response.status = 200;
  r.chunks = std::move(chunks);
  return r;
}

inline Reply status(long code, std::string body) {
  Reply r;
  r.response.status = code;
  r.chunks = {std::move(body)};
  return r;
}

inline Reply failure(TransportFailure f, std::string message) {
  Reply r;
  r.response.failure = f;
  r.response.failure_message = std::move(message);
  return r;
}

struct FakeState {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Reply> script;
  std::vector<std::string> targets;
  bool cancelled = false;
};

class FakeTransport final : public HttpTransport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}

  HttpResponse get(const HttpRequest& request, const BodySink& sink) override {
    std::unique_lock lock(state_->mutex);
    state_->targets.push_back(request.target);
    state_->cv.notify_all();
    if (state_->script.empty()) {
      state_->cv.wait(lock, [&] { return state_->cancelled; });
      state_->cancelled = false;
      HttpResponse r;
      r.failure = TransportFailure::Cancelled;
      return r;
    }
    Reply reply = std::move(state_->script.front());
    state_->script.pop_front();
    lock.unlock();
    HttpResponse r = reply.response;
    const bool success = r.failure == TransportFailure::None && r.status >= 200 && r.status < 300;
    for (const auto& chunk : reply.chunks) {
      if (success && sink) {
        if (!sink(chunk)) break;
      } else {
        r.body += chunk;
      }
    }
    return r;
  }

  void cancel() override {
    const std::lock_guard lock(state_->mutex);
    state_->cancelled = true;
    state_->cv.notify_all();
  }

 private:
  std::shared_ptr<FakeState> state_;
};

}  // namespace podpath::kube::testing
