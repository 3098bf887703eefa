#pragma once
/// @file
/// @brief Container attribution in the kernel: the cgroup_flow programs (cgroup_skb
/// ingress/egress), their attachment to a cgroup, and the per-container flow map. The
/// only code that talks to libbpf about containers.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/counters.hpp"
#include "bpf/handles.hpp"
#include "model/address.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::bpf {

/// @brief How the programs learn the network namespace of a packet's socket.
enum class CgroupNetnsMode {
  None,      ///< not at all: every entry has cookie 0
  Helper,    ///< bpf_get_netns_cookie(skb) in cgroup_skb (newest kernels)
  KernCtx,   ///< bpf_cast_to_kern_ctx + CO-RE reads of skb->sk's namespace and cgroup (Linux 6.3+)
  SockCast,  ///< bpf_skc_to_tcp_sock/udp6_sock + CO-RE (Linux 5.9+): TCP and UDPv6 only
};

const char* to_string(CgroupNetnsMode mode);

/// @brief What this kernel offers for container attribution.
struct CgroupFeatures {
  bool cgroup_skb = false;    ///< BPF_PROG_TYPE_CGROUP_SKB with bpf_skb_cgroup_id (4.18+)
  bool netns_helper = false;  ///< bpf_get_netns_cookie allowed in cgroup_skb
  bool kern_ctx = false;      ///< the bpf_cast_to_kern_ctx kfunc (6.3+)
  bool sock_cast = false;     ///< bpf_skc_to_tcp_sock and bpf_skc_to_udp6_sock (5.9+)
  bool coarse_clock = false;  ///< bpf_ktime_get_coarse_ns in cgroup_skb (5.11+)
  std::string cgroup2_mount;  ///< empty if cgroup v2 is not mounted
  [[nodiscard]] CgroupNetnsMode best_netns_mode() const;
};

/// @brief Probes the kernel (loads tiny programs; attaches nothing). Needs CAP_BPF.
CgroupFeatures probe_cgroup_features();

/// @brief One sentence per missing feature that blocks container attribution; empty = ready.
std::vector<std::string> cgroup_blocking_problems(const CgroupFeatures& f);

/// @brief One sentence on what a namespace mode cannot see ("" for Helper and KernCtx).
std::string netns_mode_limitation(CgroupNetnsMode mode);

/// @brief Tunables, applied between open and load.
struct CgroupDatapathOptions {
  CgroupNetnsMode netns_mode = CgroupNetnsMode::None;
  std::uint32_t max_entries = 65536;  ///< container-flows map entries
  /// @brief Tick resolution for first/last seen: jiffies (jiffies_clock) or
  /// bpf_ktime_get_coarse_ns (Linux 5.11+). Else bpf_ktime_get_ns.
  bool coarse_clock = true;
  /// @brief With coarse_clock: read the tick clock from jiffies, which the verifier inlines (no
  /// helper call), tied to CLOCK_MONOTONIC once after loading.
  bool jiffies_clock = true;
  bool debug = false;         ///< bpf_printk on map errors
  bool bench_unique = false;  ///< benchmarks only: randomise ports so every packet is a new entry
  /// @brief Load the object that references the bpf_cast_to_kern_ctx kfunc. Required for
  /// KernCtx; elsewhere the kfunc-free object is used, which loads on any kernel.
  [[nodiscard]] bool needs_kfunc() const { return netns_mode == CgroupNetnsMode::KernCtx; }
};

/// @brief One entry of the container-flows map: what one cgroup's sockets exchanged with
/// one remote end, from one local address, in one network namespace.
struct CgroupFlowRecord {
  std::uint64_t cgroup_id = 0;
  std::uint64_t netns_cookie = 0;  ///< 0 = not known
  model::IpAddress local;          ///< the container's end
  model::IpAddress remote;
  std::uint16_t local_port = 0;  ///< ICMP: echo identifier
  std::uint16_t remote_port = 0;
  std::uint8_t proto = 0;  ///< IPPROTO_*
  bool fragment = false;   ///< non-first fragments (ports 0)
  bool ipv6 = false;       ///< native IPv6 packets (else IPv4, addresses v4-mapped)
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_bytes = 0;  ///< IP bytes, no L2 header
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t first_seen_ns = 0;  ///< CLOCK_MONOTONIC
  std::uint64_t last_seen_ns = 0;

  bool operator==(const CgroupFlowRecord&) const = default;
};

/// @brief How the programs are attached to a cgroup.
enum class CgroupAttachMode {
  Link,    ///< bpf_link (Linux 5.7+): multi-attach, gone when podpath exits, even if killed
  Legacy,  ///< BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI: detached by podpath on exit
};

const char* to_string(CgroupAttachMode mode);

/// @brief Both programs attached to one cgroup; detaches on destruction.
class CgroupAttachment {
 public:
  ~CgroupAttachment();
  CgroupAttachment(const CgroupAttachment&) = delete;
  CgroupAttachment& operator=(const CgroupAttachment&) = delete;

  [[nodiscard]] CgroupAttachMode mode() const { return mode_; }
  [[nodiscard]] const std::filesystem::path& cgroup() const { return cgroup_; }
  /// @brief Detaches now (idempotent).
  Result<void> detach();

 private:
  friend class CgroupDatapath;
  CgroupAttachment(CgroupAttachMode mode, std::filesystem::path cgroup)
      : mode_(mode), cgroup_(std::move(cgroup)) {}

  CgroupAttachMode mode_;
  std::filesystem::path cgroup_;
  Fd cgroup_fd_;
  BpfLink ingress_link_;  // Link mode
  BpfLink egress_link_;
  int ingress_prog_ = -1;  // Legacy: what to detach
  int egress_prog_ = -1;
  bool attached_ = false;
};

class ObjectHandle;

/// @brief The loaded cgroup_flow object.
class CgroupDatapath {
 public:
  static Result<std::unique_ptr<CgroupDatapath>> load(const CgroupDatapathOptions& options);
  ~CgroupDatapath();
  CgroupDatapath(const CgroupDatapath&) = delete;
  CgroupDatapath& operator=(const CgroupDatapath&) = delete;

  [[nodiscard]] const CgroupDatapathOptions& options() const { return options_; }

  /// @brief Attaches both programs to the cgroup v2 directory `cgroup` (every socket of its
  /// subtree is then counted). Link mode falls back to Legacy where the kernel has no
  /// cgroup links. Other programs on the cgroup keep running (multi-attach), podpath's of
  /// another live run included; an exclusive attachment by another owner is an error that
  /// says so. (A killed Legacy run's programs: detach_cgroup_leftovers.)
  Result<std::unique_ptr<CgroupAttachment>> attach(const std::filesystem::path& cgroup,
                                                   CgroupAttachMode mode = CgroupAttachMode::Link);

  [[nodiscard]] int ingress_fd() const;
  [[nodiscard]] int egress_fd() const;
  [[nodiscard]] std::uint32_t ingress_prog_id() const;
  [[nodiscard]] std::uint32_t egress_prog_id() const;
  [[nodiscard]] int flows_map_fd() const;

  /// @brief Every entry (batch lookups).
  [[nodiscard]] Result<std::vector<CgroupFlowRecord>> read_flows() const;
  /// @brief Deletes entries (missing ones are not an error).
  Result<void> delete_flows(std::span<const CgroupFlowRecord> records);
  /// @brief Deletes every entry.
  Result<void> clear();
  [[nodiscard]] Result<CgroupCounters> read_counters() const;
  /// @brief Packets cgroup_flow could not parse, by kind (the parse-error counters of
  /// FlowCounter; the others stay 0).
  [[nodiscard]] Result<FlowCounters> read_parse_errors() const;

 private:
  explicit CgroupDatapath(CgroupDatapathOptions options);
  [[nodiscard]] int map_fd(const char* name) const;

  CgroupDatapathOptions options_;
  int ncpu_ = 1;
  std::unique_ptr<ObjectHandle> object_;
};

/// @brief Detaches the programs with ids `ingress_id`/`egress_id` from a cgroup's inet
/// ingress/egress hooks where they are attached the classic way (what a killed Legacy-mode
/// run left, by its journal); returns how many (with `dry_run`: how many would be). Any
/// other program stays. A cgroup that is gone is 0.
Result<int> detach_cgroup_leftovers(const std::filesystem::path& cgroup, std::uint32_t ingress_id,
                                    std::uint32_t egress_id, bool dry_run);

}  // namespace podpath::bpf
