#pragma once
/// @file
/// @brief Consumes the new-flow ring buffer.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "bpf/ring_buffer.hpp"
#include "model/flow.hpp"
#include "util/result.hpp"

namespace podpath::bpf {

class Datapath;

/// @brief A wake-up: some flow was first seen at some point. The kernel emits at most one
/// per CPU per PP_EVENT_GAP_NS (5 ms), whatever the number of new flows; what is new is read
/// from the flows maps.
struct FlowEvent {
  std::uint64_t ts_ns = 0;  ///< CLOCK_MONOTONIC (coarse), when the CPU saw its first new flow
};

/// @brief Reads the new-flow wake-ups (pp_flow_event) from the ring buffer and hands them to a
/// callback.
class EventReader {
 public:
  using Callback = std::function<void(const FlowEvent&)>;

  /// @brief Reads `datapath`'s ring buffer; the datapath must outlive the reader.
  static Result<std::unique_ptr<EventReader>> open(const Datapath& datapath, Callback callback);
  ~EventReader() = default;
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  /// @brief Waits up to `timeout_ms` for events and delivers everything waiting; returns
  /// how many.
  Result<int> poll(int timeout_ms);
  /// @brief An fd that becomes readable when events are waiting (for an outer epoll).
  [[nodiscard]] int epoll_fd() const;

 private:
  EventReader() = default;

  Callback callback_;
  std::optional<RingBuffer> ring_;
};

}  // namespace podpath::bpf
