#include "bpf/ring_buffer.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <utility>

namespace podpath::bpf {

void RingBuffer::Deleter::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

Result<RingBuffer> RingBuffer::open(int map_fd, Handler handler, std::string what) {
  RingBuffer out;
  out.context_ = std::make_unique<Context>(Context{std::move(handler), nullptr});
  out.what_ = std::move(what);
  out.rb_.reset(ring_buffer__new(map_fd, &RingBuffer::on_sample, out.context_.get(), nullptr));
  if (!out.rb_) return make_error(errno, "cannot open {}", out.what_);
  return out;
}

int RingBuffer::on_sample(void* ctx, void* data, std::size_t size) noexcept {
  auto* c = static_cast<Context*>(ctx);
  try {
    c->handler(data, size);
    return 0;
  } catch (...) {
    // Called from libbpf's C code: keep the exception, stop the delivery (a negative
    // return ends ring_buffer__poll), rethrow in poll().
    c->thrown = std::current_exception();
    return -ECANCELED;
  }
}

void RingBuffer::rethrow() {
  if (context_->thrown) std::rethrow_exception(std::exchange(context_->thrown, nullptr));
}

Result<int> RingBuffer::poll(int timeout_ms) {
  const int n = ring_buffer__poll(rb_.get(), timeout_ms);
  rethrow();
  if (n < 0 && n != -EINTR) return make_error(n, "cannot read {}", what_);
  const int more = ring_buffer__consume(rb_.get());
  rethrow();
  if (more < 0) return make_error(more, "cannot read {}", what_);
  return (n < 0 ? 0 : n) + more;
}

Result<int> RingBuffer::consume() {
  const int n = ring_buffer__consume(rb_.get());
  rethrow();
  if (n < 0) return make_error(n, "cannot read {}", what_);
  return n;
}

int RingBuffer::epoll_fd() const { return ring_buffer__epoll_fd(rb_.get()); }

}  // namespace podpath::bpf
