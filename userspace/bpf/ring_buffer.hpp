#pragma once
/// @file
/// @brief A BPF ring buffer being read: the owner of libbpf's ring_buffer, and the one
/// polling loop every reader of podpath's ring buffers (new flows, drops) uses.

#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "util/result.hpp"

struct ring_buffer;

namespace podpath::bpf {

class RingBuffer {
 public:
  /// @brief Called once per record with its bytes, valid during the call only.
  using Handler = std::function<void(const void* data, std::size_t size)>;

  /// @brief Reads the ring buffer map `map_fd`; `what` names it in errors ("the drop ring buffer").
  static Result<RingBuffer> open(int map_fd, Handler handler, std::string what);
  RingBuffer(RingBuffer&&) noexcept = default;
  RingBuffer& operator=(RingBuffer&&) noexcept = default;
  ~RingBuffer() = default;

  /// @brief Waits up to `timeout_ms` for records, then delivers every waiting one; returns
  /// how many. It drains after waiting too: the kernel wakes a reader only when it had
  /// caught up (or, with a wake-up threshold, once enough bytes wait), so records can sit
  /// there without a wake-up. An exception thrown by the handler stops the delivery and is
  /// rethrown here, after libbpf has returned (it must never cross libbpf's C frames).
  Result<int> poll(int timeout_ms);
  /// @brief Delivers every waiting record without waiting; returns how many.
  Result<int> consume();
  /// @brief An fd that becomes readable when records are waiting (for an outer epoll).
  [[nodiscard]] int epoll_fd() const;

 private:
  struct Deleter {
    void operator()(ring_buffer* rb) const;
  };
  struct Context {
    Handler handler;
    std::exception_ptr thrown;
  };
  RingBuffer() = default;
  static int on_sample(void* ctx, void* data, std::size_t size) noexcept;
  void rethrow();

  std::unique_ptr<Context> context_;  // on the heap: libbpf keeps its address
  std::unique_ptr<ring_buffer, Deleter> rb_;
  std::string what_;
};

/// @brief A handler for fixed-size records: each record is copied into a `Record` (records
/// shorter than one are skipped) and handed to `fn`.
template <typename Record> RingBuffer::Handler record_handler(std::function<void(const Record&)> fn) {
  return [fn = std::move(fn)](const void* data, std::size_t size) {
    if (size < sizeof(Record)) return;
    Record record{};
    std::memcpy(&record, data, sizeof(record));
    fn(record);
  };
}

}  // namespace podpath::bpf
