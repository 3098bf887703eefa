#pragma once
/// @file
/// @brief Drop tracking in the kernel: the tp_btf/kfree_skb program (bpf/drop.bpf.c), its
/// feature probe, the ring buffer of drop events, and the names of the kernel's drop
/// reasons (read from its BTF, never from a table of our own). The only code that talks
/// to libbpf about drops.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/counters.hpp"
#include "bpf/handles.hpp"
#include "bpf/ring_buffer.hpp"
#include "model/address.hpp"
#include "model/flow.hpp"
#include "util/result.hpp"

namespace podpath::bpf {

class ObjectHandle;

/// @brief What the running kernel offers for drop tracking.
struct DropFeatures {
  bool kfree_skb_btf = false;  ///< the kfree_skb tracepoint is in the kernel's BTF (tp_btf)
  bool reasons = false;        ///< its reason argument exists (Linux 5.17+)
  int tracepoint_args = 0;     ///< arguments of the tracepoint (skb, location[, reason[, rx_sk]])
};

/// @brief Reads the kernel's BTF (no program is loaded).
DropFeatures probe_drop_features();

/// @brief Names of the kernel's drop reasons (enum skb_drop_reason, and the subsystem
/// enum for reasons with a subsystem in their upper 16 bits), from its BTF.
class DropReasonNames {
 public:
  DropReasonNames() = default;
  /// @brief From (enumerator name, value) pairs as BTF lists them ("SKB_DROP_REASON_NO_SOCKET", 3).
  explicit DropReasonNames(const std::vector<std::pair<std::string, std::uint32_t>>& reasons,
                           const std::vector<std::pair<std::string, std::uint32_t>>& subsystems = {});
  /// @brief The running kernel's names; empty when its BTF has no enum skb_drop_reason.
  static DropReasonNames from_kernel();

  /// @brief "NETFILTER_DROP", "NOT_SPECIFIED", "CONSUMED"; "OPENVSWITCH reason 3" for a
  /// subsystem reason; "reason 200" when the name is unknown.
  [[nodiscard]] std::string name(std::uint32_t reason) const;
  /// @brief The value of a short name ("NOT_SPECIFIED"), if the kernel has it.
  [[nodiscard]] std::optional<std::uint32_t> value(std::string_view short_name) const;
  [[nodiscard]] bool empty() const { return names_.empty(); }

 private:
  std::map<std::uint32_t, std::string> names_;
  std::map<std::uint32_t, std::string> subsystems_;
};

/// @brief One dropped packet of a tracked CIDR.
struct DropEvent {
  std::uint64_t ts_ns = 0;  ///< CLOCK_MONOTONIC
  std::uint64_t location = 0;
  std::uint64_t netns_cookie = 0;  ///< 0 = unknown
  model::FlowKey key;
  bool has_reason = false;  ///< false: the kernel reports the location only (before 5.17)
  std::uint32_t reason = 0;
  std::string reason_name;  ///< "NETFILTER_DROP"; "" without a reason
  std::uint32_t ifindex = 0;
  std::uint32_t skb_iif = 0;
  std::string ifname;  ///< "" when the packet had no device
  std::uint32_t seq = 0;
  std::uint16_t ip_id = 0;
  std::uint16_t ip_len = 0;
  std::uint8_t ttl = 0;
  std::uint8_t tcp_flags = 0;
  bool df = false;
};

/// @brief Tunables.
struct DropOptions {
  bool skip_unspecified = false;  ///< ignore drops with reason NOT_SPECIFIED (plain kfree_skb)
  /// @brief Also record copies local sockets declined (SOCKET_FILTER; ICMP with NO_SOCKET):
  /// delivered packets, not network drops, one or two per echo reply on a healthy host.
  bool keep_local_declines = false;
  bool track_all = false;  ///< record every IP drop, tracked CIDR or not
  std::uint32_t ringbuf_bytes = 256 * 1024;
  /// @brief Load the location-only program even where the kernel has reasons (tests).
  bool force_location_only = false;
};

/// @brief The loaded and attached drop program. Detaches on destruction.
class DropTracker {
 public:
  using Callback = std::function<void(const DropEvent&)>;

  /// @brief Probes, loads and attaches; the error says what the kernel lacks.
  static Result<std::unique_ptr<DropTracker>> start(const DropOptions& options, Callback callback);
  ~DropTracker();
  DropTracker(const DropTracker&) = delete;
  DropTracker& operator=(const DropTracker&) = delete;

  /// @brief Replaces the tracked CIDRs.
  Result<void> set_cidrs(const std::vector<model::Cidr>& cidrs);
  /// @brief Waits up to `timeout_ms` and delivers every waiting event; returns how many.
  /// The kernel wakes a waiting reader only once a quarter of the ring is filled, so call
  /// this on a timer (a few times a second) rather than relying on wake-ups.
  Result<int> poll(int timeout_ms);
  /// @brief Counters summed over CPUs.
  [[nodiscard]] Result<DropCounters> read_counters() const;
  /// @brief The kernel reports reasons (else: location only).
  [[nodiscard]] bool reasons() const { return reasons_; }
  [[nodiscard]] const DropReasonNames& reason_names() const { return names_; }
  [[nodiscard]] int prog_fd() const;
  /// @brief "reasons (tp_btf/kfree_skb)" or "location only: this kernel (5.x) ...".
  [[nodiscard]] std::string describe() const;

 private:
  DropTracker();

  std::unique_ptr<ObjectHandle> object_;
  BpfLink link_;
  Callback callback_;
  DropReasonNames names_;
  bool reasons_ = false;
  bool kernel_has_reasons_ = false;
  int ncpu_ = 1;
  std::optional<RingBuffer> ring_;  // last: closed first, before the link and the object go
};

}  // namespace podpath::bpf
