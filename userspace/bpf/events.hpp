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

/// @brief A flow seen for the first time at an observation point.
struct FlowEvent {
  model::ObservationPoint point;
  model::FlowKey key;
  std::uint64_t ts_ns = 0;  ///< CLOCK_MONOTONIC
  std::uint32_t len = 0;
  std::uint32_t tcp_flags = 0;
  std::uint16_t src_cidr = 0;
  std::uint16_t dst_cidr = 0;
};

/// @brief Reads pp_flow_event records from the ring buffer and hands them to a callback.
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

  const Datapath* datapath_ = nullptr;
  Callback callback_;
  std::optional<RingBuffer> ring_;
};

}  // namespace podpath::bpf
