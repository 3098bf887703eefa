#pragma once
/// @file
/// @brief The flows-map iterator (bpf/flow_iter.bpf.c): the entries of a flows map whose last
/// packet is recent, found by a walk in the kernel, so that idle entries are never copied to
/// userspace. Datapath::read_flows uses it.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "bpf/handles.hpp"
#include "util/result.hpp"

struct flow_iter;

namespace podpath::bpf {

class ObjectHandle;

/// @brief The iterator programs, loaded once and attached to both flows maps (IPv4 pp_flows4,
/// IPv6 pp_flows). Reads are serialised: the programs' globals belong to one read at a time.
class FlowIterator {
 public:
  /// @brief Loads the programs and attaches one to each map. Fails where the kernel has no
  /// map-element iterators (before Linux 5.9) or no BTF; the caller then reads with batch
  /// lookups.
  static Result<std::unique_ptr<FlowIterator>> open(int flows4_fd, int flows6_fd);
  ~FlowIterator();
  FlowIterator(const FlowIterator&) = delete;
  FlowIterator& operator=(const FlowIterator&) = delete;

  /// @brief One pass over a map: `visit` gets each record (struct pp_flow4_record of the IPv4
  /// map, pp_flow_record of the IPv6 one) whose last_seen_ns is at least `since_ns`
  /// (0: every entry), in the map's bucket order. Returns the entries walked, written or not.
  Result<std::uint64_t> read(bool ipv4, std::uint64_t since_ns,
                             const std::function<void(const std::uint8_t*)>& visit);

 private:
  FlowIterator() = default;

  std::unique_ptr<ObjectHandle> object_;
  flow_iter* skel_ = nullptr;  // owned by object_
  BpfLink link4_, link6_;
  std::mutex mutex_;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace podpath::bpf
