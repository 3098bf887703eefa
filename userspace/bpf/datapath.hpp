#pragma once
/// @file
/// @brief The loaded tc_flow datapath: programs, maps, tunables. The only code (with
/// attach.hpp and events.hpp) that talks to libbpf about flows.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpf/counters.hpp"
#include "bpf/features.hpp"
#include "model/address.hpp"
#include "model/flow.hpp"
#include "model/interface.hpp"
#include "util/result.hpp"

namespace podpath::bpf {

/// @brief CIDR ids the classifier knows: 0 is "other" (no configured CIDR contains the
/// address), configured CIDRs are 1 .. kMaxCidrs-1.
inline constexpr std::uint32_t kCidrOther = 0;
inline constexpr std::uint32_t kMaxCidrs = 64;

/// @brief How the flows map is organised (chosen by measurement: docs/datapath.md; a
/// per-CPU hash was measured and dropped there).
enum class FlowMapKind {
  Hash,     ///< shared hash, atomic adds; userspace expires idle flows (default)
  LruHash,  ///< shared LRU hash: never full, evicts the least recently used silently
};

/// @brief Tunables, applied between open and load.
struct DatapathOptions {
  NetnsIdMode netns_mode = NetnsIdMode::KernCtx;
  FlowMapKind flow_map = FlowMapKind::Hash;
  std::uint32_t max_flows = 65536;           ///< entries of each flows map, IPv4 and IPv6 (point x flow)
  std::uint32_t max_ifaces = 4096;           ///< interfaces the role map holds (every namespace)
  std::uint32_t ringbuf_bytes = 256 * 1024;  ///< power of two, >= page size
  bool events = true;                        ///< emit new-flow events
  bool debug = false;                        ///< bpf_printk on map errors
  bool bench_unique_flows = false;           ///< benchmarks only: randomise ports so every packet is new
  std::uint32_t bench_without = 0;    ///< benchmarks only: PP_BENCH_WITHOUT_* parts left out (counts wrong)
  std::uint32_t test_hold_loops = 0;  ///< tests only: spin between finding a flow entry and counting in it
  /// @brief Tick resolution for first/last seen (ms: plenty for flows; `check`'s per-hop latency
  /// turns it off): jiffies (jiffies_clock) or bpf_ktime_get_coarse_ns (Linux 5.11+). Else
  /// bpf_ktime_get_ns.
  bool coarse_clock = true;
  /// @brief With coarse_clock: read the tick clock from jiffies, which the verifier inlines (no
  /// helper call: up to 15 ns less per packet), tied to CLOCK_MONOTONIC once after loading.
  bool jiffies_clock = true;
  /// @brief Record NAT translations (Features::nat; KernCtx mode only): a new flow at an egress
  /// point whose connection conntrack translated records both of its tuples.
  bool nat = false;
  std::uint32_t max_nat = 16384;  ///< translated connections the NAT map holds
  /// @brief Read the flows maps with a BPF map-element iterator where the kernel has one
  /// (Features::map_iterator): entries that did not change since a read never leave the
  /// kernel. Else, or when false, batch lookups read every entry.
  bool map_iterator = true;
  /// @brief Log the keys of changed flow entries (pp_changed) so that a refresh looks up only
  /// those instead of walking every entry (Hash flows maps only: an LRU map evicts silently,
  /// so with LruHash, or when false, refreshes walk the maps).
  bool change_log = true;
  /// @brief Bytes of the change log (power of two, >= page size); 0: sized from max_flows
  /// (change_log_size()).
  std::uint32_t change_log_bytes = 0;
  /// @brief Look the logged keys up PP_READ_BATCH at a time, with one run of a syscall
  /// program each (Linux 5.17+; kernel_has_batch_lookup()), instead of one lookup syscall per
  /// key. Where the kernel cannot, or when false, each key is a syscall.
  bool batch_lookup = true;
};

/// @brief The change log's size for these options: change_log_bytes, or room for an eighth
/// of both flows maps' entries at 56 B a key (a slot of the per-CPU stage, written 32 at a time),
/// rounded up to a power of two, at least 4 KiB and at most 1 GiB. Kernel memory.
std::uint32_t change_log_size(const DatapathOptions& options);

/// @brief What precedes the IP header in an interface's packets at the TC hooks.
enum class LinkLayer {
  Ethernet,  ///< Ethernet (veth, bridge, physical NICs, VXLAN): pp_tc_ingress/pp_tc_egress
  None,      ///< nothing: tun, WireGuard, IP-in-IP, SIT, ip6tnl: pp_tc_l3_in/pp_tc_l3_eg
};

/// @brief The link layer of an interface with this link type (ARPHRD_*), or nullopt when
/// the programs cannot parse its packets (InfiniBand, CAN, GRE with its own header, ...).
std::optional<LinkLayer> link_layer_of(std::uint32_t link_type);

/// @brief File descriptors of the two TC programs for one network namespace.
struct ProgramPair {
  int ingress = -1;
  int egress = -1;
};

/// @brief A CIDR to classify by: prefix -> id (1 .. kMaxCidrs-1).
struct CidrRule {
  model::Cidr cidr;
  std::uint32_t id = 0;
  /// @brief Packets from this CIDR count into the matrix where they leave a pod (its veth's
  /// ingress), not where they arrive over an uplink.
  bool counted_at_source = false;
};

/// @brief One non-empty cell of the CIDR matrix, summed over CPUs.
struct MatrixCell {
  std::uint16_t src_cidr = 0;
  std::uint16_t dst_cidr = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;

  bool operator==(const MatrixCell&) const = default;
};

/// @brief Receives flow entries, a batch at a time.
using FlowRecordSink = std::function<void(std::span<const model::FlowRecord>)>;

/// @brief The kernel maps that hold flow entries, each of DatapathOptions::max_flows.
enum class FlowMap : std::uint8_t {
  Ipv4,  ///< pp_flows4: IPv4 packets
  Ipv6,  ///< pp_flows: IPv6 packets, v4-mapped ones included
};
/// @brief The map that holds the entries of a flow direction.
FlowMap flow_map_of(const model::FlowKey& key);

/// @brief What a drain of the change log found (Datapath::drain_change_log()).
struct LogDrain {
  /// @brief The log can stand for a walk of the maps: it is on, no record was lost since the
  /// drain before the previous one, and the keys to look up are few enough to pay (at most
  /// an eighth of the entries held, plus 512): else the caller walks.
  bool usable = false;
  /// @brief Distinct keys read_logged() looks up: drained now, and carried from the drain before.
  std::size_t keys = 0;
  /// @brief Entries the maps hold (with usable): created (the new_flows counter) minus
  /// deleted by delete_flows(); exact because in Hash mode nothing else removes entries.
  std::uint64_t held = 0;
};

/// @brief One flow entry to delete: where and which.
struct FlowId {
  model::ObservationPoint point;
  model::FlowKey key;
};

class ObjectHandle;
class FlowIterator;
class BatchLookup;
class RingBuffer;

/// @brief Owns the loaded BPF object(s). In Fixed netns mode there is one object per
/// namespace (the namespace cookie is a load-time constant), all sharing the first
/// object's maps; in KernCtx mode one object serves every namespace.
class Datapath {
 public:
  /// @brief Opens, tunes and loads. `netns_cookie` is the first namespace (Fixed mode).
  static Result<std::unique_ptr<Datapath>> load(const DatapathOptions& options,
                                                std::uint64_t netns_cookie = 0);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  [[nodiscard]] const DatapathOptions& options() const { return options_; }

  /// @brief Programs to attach in the namespace with this cookie, to an interface with
  /// this link layer (Fixed mode loads another instance the first time a namespace is seen).
  Result<ProgramPair> programs_for(std::uint64_t netns_cookie, LinkLayer layer = LinkLayer::Ethernet);

  /// @brief Replaces the CIDR trie's content. Ids must be 1 .. kMaxCidrs-1.
  Result<void> set_cidrs(const std::vector<CidrRule>& rules);
  /// @brief Tells the programs what an interface is (decides CIDR-matrix counting).
  Result<void> set_iface_role(std::uint64_t netns_cookie, std::uint32_t ifindex, model::InterfaceRole role);
  Result<void> forget_iface(std::uint64_t netns_cookie, std::uint32_t ifindex);

  /// @brief Hands every flow entry to `sink`, a batch at a time, in the map's order: stable
  /// from one read to the next.
  Result<void> read_flows(const FlowRecordSink& sink) const;
  /// @brief Hands `sink` the flow entries whose last packet is at or after `since_ns` (the
  /// programs' clock: flow_clock_ns(); 0 = every entry), a batch at a time, in the map's
  /// order, and returns how many entries the maps hold, handed over or not. With the map
  /// iterator (reads_changed_in_kernel()) the others never leave the kernel; else, or with
  /// `batch_lookups`, batch lookups read every entry and the others are skipped here.
  Result<std::uint64_t> read_flows(const FlowRecordSink& sink, std::uint64_t since_ns,
                                   bool batch_lookups = false) const;
  /// @brief True when read_flows() walks the maps with the BPF iterator (DatapathOptions::
  /// map_iterator and a kernel that has map-element iterators), false for batch lookups.
  [[nodiscard]] bool reads_changed_in_kernel() const { return iterator_ != nullptr; }
  /// @brief Starts a refresh with the change log (every read the aggregator gets, a walk
  /// included, starts with one): (a) the next epoch, stored before anything is read, (b) the
  /// log-full counter, (c) every record drained into a set of distinct keys. The keys of the
  /// previous drain are carried: read_logged() looks them up once more (docs/datapath.md).
  Result<LogDrain> drain_change_log();
  /// @brief Looks up every key of the last drain and of the one before and hands `sink` the
  /// entries found (an entry deleted meanwhile is skipped), a batch at a time. Returns how
  /// many it handed over.
  Result<std::size_t> read_logged(const FlowRecordSink& sink) const;
  /// @brief The programs log changed entries (DatapathOptions::change_log and a Hash map).
  [[nodiscard]] bool has_change_log() const { return change_log_ != nullptr; }
  /// @brief read_logged() looks keys up in batches (DatapathOptions::batch_lookup, where the
  /// kernel can).
  [[nodiscard]] bool has_batch_lookup() const { return batch_lookup_ != nullptr; }
  /// @brief Tests only: called by drain_change_log() right after its epoch store.
  void set_after_epoch_hook(std::function<void()> hook) { after_epoch_ = std::move(hook); }
  /// @brief Now on a clock at or ahead of the programs' (CLOCK_MONOTONIC; the programs read
  /// CLOCK_MONOTONIC or its coarse version, which lags it by at most a tick).
  [[nodiscard]] static std::uint64_t flow_clock_ns();
  /// @brief Every flow entry, in one vector (debug dump, tests).
  [[nodiscard]] Result<std::vector<model::FlowRecord>> read_flows() const;
  /// @brief Deletes flow entries (batch delete). Entries already gone are not an error; an
  /// entry whose key did not convert back exactly is found and deleted by its own key.
  Result<void> delete_flows(const std::vector<FlowId>& ids);
  /// @brief Every translated connection recorded (empty unless options().nat).
  [[nodiscard]] Result<std::vector<model::NatRecord>> read_nat() const;
  /// @brief Forgets translated connections (by original tuple and namespace). Entries
  /// already gone are not an error.
  Result<void> delete_nat(const std::vector<model::NatRecord>& records);
  /// @brief Non-empty CIDR matrix cells, summed over CPUs.
  [[nodiscard]] Result<std::vector<MatrixCell>> read_matrix() const;
  /// @brief Health counters, summed over CPUs.
  [[nodiscard]] Result<FlowCounters> read_counters() const;

  [[nodiscard]] int events_map_fd() const;
  /// @brief The flows maps: IPv6 packets (key pp_flow_map_key) and IPv4 packets (key
  /// pp_flow4_map_key, half the size: cheaper to hash and compare).
  [[nodiscard]] int flows_map_fd() const;
  [[nodiscard]] int flows4_map_fd() const;
  /// @brief The change log's per-CPU stage (pp_log_stage; tests).
  [[nodiscard]] int log_stage_map_fd() const;

  /// @brief The full cookie behind the 32 bits the kernel records in an observation point,
  /// for namespaces podpath attached in; unknown ones are returned zero-extended.
  [[nodiscard]] std::uint64_t full_netns_cookie(std::uint32_t netns) const;

 private:
  explicit Datapath(DatapathOptions options);
  Result<void> add_object(std::uint64_t netns_cookie);
  Result<void> delete_unmatched(const std::vector<FlowId>& ids, const std::vector<std::size_t>& missing);
  void reopen_flows();
  [[nodiscard]] int map_fd(const char* name) const;

  DatapathOptions options_;
  int ncpu_ = 1;
  std::vector<std::unique_ptr<ObjectHandle>> objects_;    // [0] owns the maps
  std::map<std::uint64_t, std::size_t> object_by_netns_;  // Fixed mode
  std::map<std::uint32_t, std::uint64_t> cookie_by_low_;  // low 32 bits of a cookie -> cookie
  std::unique_ptr<FlowIterator> iterator_;                // null: batch lookups

  // The change log (null: off). Keys are kept as the kernel wrote them, per map.
  struct LogKeys;
  Result<std::uint64_t> sum_counter(std::uint32_t index) const;
  std::unique_ptr<RingBuffer> change_log_;
  std::unique_ptr<LogKeys> log_keys_;
  std::unique_ptr<BatchLookup> batch_lookup_;
  std::uint32_t* epoch_ = nullptr;  // tc_flow's pp_log_epoch, mmapped (shared by every object)
  std::uint32_t epoch_value_ = 0;
  std::uint64_t log_lost_ = 0;  // the log-full counter at the previous drain
  std::uint64_t deleted_ = 0;   // entries delete_flows() removed
  bool walk_next_ = false;      // the previous drain lost records or kept no keys
  std::function<void()> after_epoch_;
};

}  // namespace podpath::bpf
