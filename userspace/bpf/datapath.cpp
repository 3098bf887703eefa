#include "bpf/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <net/if_arp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <functional>
#include <set>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bpf/abi.hpp"
#include "bpf/batch_lookup.hpp"
#include "bpf/clock.hpp"
#include "bpf/flow_iter.hpp"
#include "bpf/handles.hpp"
#include "bpf/object.hpp"
#include "bpf/ring_buffer.hpp"
#include "tc_flow.skel.h"
#include "tc_flow_fixed.skel.h"
#include "util/flat_key_set.hpp"

namespace podpath::bpf {

namespace {

// Maps shared by every object instance (Fixed mode reuses the first object's).
constexpr const char* kSharedMaps[] = {"pp_flows",     "pp_flows4",     "pp_cidrs",    "pp_matrix",
                                       "pp_ifaces",    "pp_events",     "pp_counters", "pp_flows_full",
                                       "pp_nat4",      "pp_event_gate", "pp_changed",  "pp_log_stage",
                                       "pp_read_batch"};

// The object's .bss map (tc_flow's variables: the change-log epoch, the clock offset), or nullptr.
bpf_map* bss_of(bpf_object* obj) {
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) {
    const std::string_view name = bpf_map__name(m);
    if (bpf_map__is_internal(m) && name.size() >= 4 && name.substr(name.size() - 4) == ".bss") return m;
  }
  return nullptr;
}

// Changed entries are logged in Hash mode only: an LRU map evicts silently, so its reader walks.
bool logs_changes(const DatapathOptions& o) { return o.change_log && o.flow_map == FlowMapKind::Hash; }

bpf_map_type to_map_type(FlowMapKind kind) {
  switch (kind) {
  case FlowMapKind::LruHash:
    return BPF_MAP_TYPE_LRU_HASH;
  case FlowMapKind::Hash:
    break;
  }
  return BPF_MAP_TYPE_HASH;
}

// The kernel's BTF id of struct nf_conn (0: none in vmlinux's BTF), for tc_flow's
// bpf_rdonly_cast: CO-RE cannot name it, nf_conn___init looks like a flavour of it.
__u32 nf_conn_btf_id() {
  const BtfPtr vmlinux = load_vmlinux_btf();
  if (!vmlinux) return 0;
  const int id = btf__find_by_name_kind(vmlinux.get(), "nf_conn", BTF_KIND_STRUCT);
  return id > 0 ? static_cast<__u32>(id) : 0;
}

// The programs log changed keys and a refresh looks them up in batches (DatapathOptions).
bool looks_up_in_batches(const DatapathOptions& o) {
  return logs_changes(o) && o.batch_lookup && kernel_has_batch_lookup();
}

template <typename Skel> struct SkelOps;
template <> struct SkelOps<tc_flow> {
  static tc_flow* open() { return tc_flow__open(); }
  static int load(tc_flow* s) { return tc_flow__load(s); }
  static void destroy(tc_flow* s) { tc_flow__destroy(s); }
};
template <> struct SkelOps<tc_flow_fixed> {
  static tc_flow_fixed* open() { return tc_flow_fixed__open(); }
  static int load(tc_flow_fixed* s) { return tc_flow_fixed__load(s); }
  static void destroy(tc_flow_fixed* s) { tc_flow_fixed__destroy(s); }
};

template <typename Skel>
Result<std::unique_ptr<ObjectHandle>> open_and_load(const DatapathOptions& o, std::uint64_t netns_cookie,
                                                    const ObjectHandle* share_maps_of) {
  Skel* skel = SkelOps<Skel>::open();
  if (skel == nullptr) return make_error(errno, "cannot open the tc_flow BPF object");
  auto handle = std::make_unique<ObjectHandle>(skel->obj, [skel] { SkelOps<Skel>::destroy(skel); });

  skel->rodata->pp_cfg_netns_cookie = netns_cookie;
  skel->rodata->pp_cfg_events = o.events ? 1 : 0;
  skel->rodata->pp_cfg_debug = o.debug ? 1 : 0;
  skel->rodata->pp_cfg_coarse_clock = o.coarse_clock ? 1 : 0;
  skel->rodata->pp_cfg_tick_ns = o.coarse_clock && o.jiffies_clock ? tick_clock_ns() : 0;
  skel->rodata->pp_cfg_bench_unique = o.bench_unique_flows ? 1 : 0;
  skel->rodata->pp_cfg_bench_without = o.bench_without;
  skel->rodata->pp_cfg_test_hold = o.test_hold_loops;
  skel->rodata->pp_cfg_change_log = logs_changes(o) ? 1 : 0;
  const __u32 nf_conn = o.nat && o.netns_mode == NetnsIdMode::KernCtx ? nf_conn_btf_id() : 0;
  skel->rodata->pp_cfg_nat = nf_conn != 0 ? 1 : 0;
  skel->rodata->pp_cfg_nf_conn_btf_id = nf_conn;
  if (int err = bpf_map__set_max_entries(skel->maps.pp_nat4, o.max_nat); err != 0) {
    return make_error(err, "cannot size the NAT map to {} entries", o.max_nat);
  }

  for (bpf_map* flows : {skel->maps.pp_flows4, skel->maps.pp_flows}) {
    if (int err = bpf_map__set_type(flows, to_map_type(o.flow_map)); err != 0) {
      return make_error(err, "cannot set the flows map type");
    }
    if (int err = bpf_map__set_max_entries(flows, o.max_flows); err != 0) {
      return make_error(err, "cannot size the flows map to {} entries", o.max_flows);
    }
  }
  if (int err = bpf_map__set_max_entries(skel->maps.pp_ifaces, o.max_ifaces); err != 0) {
    return make_error(err, "cannot size the interface map to {} entries", o.max_ifaces);
  }
  if (int err = bpf_map__set_max_entries(skel->maps.pp_events, o.ringbuf_bytes); err != 0) {
    return make_error(err, "cannot size the event ring buffer to {} bytes", o.ringbuf_bytes);
  }
  const std::uint32_t log_bytes = logs_changes(o) ? change_log_size(o) : 4096;
  if (int err = bpf_map__set_max_entries(skel->maps.pp_changed, log_bytes); err != 0) {
    return make_error(err, "cannot size the change log to {} bytes", log_bytes);
  }
  // The batch lookup's program runs in the first object only (the others share its maps).
  if (!looks_up_in_batches(o)) {
    if (int err = bpf_map__set_map_flags(skel->maps.pp_read_batch, 0); err != 0) {
      return make_error(err, "cannot set the batch-lookup map's flags");
    }
  }
  if (int err = bpf_program__set_autoload(skel->progs.pp_read_logged,
                                          looks_up_in_batches(o) && share_maps_of == nullptr);
      err != 0) {
    return make_error(err, "cannot choose whether to load the batch-lookup program");
  }
  if (share_maps_of != nullptr) {
    // The change-log epoch too: every object reads the one userspace writes.
    bpf_map* bss = bss_of(skel->obj);
    bpf_map* first = bss_of(share_maps_of->obj());
    if (bss == nullptr || first == nullptr) return make_error(ENOENT, "BPF object has no .bss map");
    if (int err = bpf_map__reuse_fd(bss, bpf_map__fd(first)); err != 0) {
      return make_error(err, "cannot share the change-log epoch between namespaces");
    }
    for (const char* name : kSharedMaps) {
      bpf_map* m = bpf_object__find_map_by_name(skel->obj, name);
      if (m == nullptr) return make_error(ENOENT, "BPF object has no map {}", name);
      if (int err = bpf_map__reuse_fd(m, share_maps_of->map_fd(name)); err != 0) {
        return make_error(err, "cannot share map {} between namespaces", name);
      }
    }
  }
  if (int err = SkelOps<Skel>::load(skel); err != 0) {
    return make_error(
        err, "cannot load the tc_flow BPF programs into the kernel (run with -v for the verifier log)");
  }
  if (skel->rodata->pp_cfg_tick_ns != 0) {
    if (auto r = sync_tick_clock(bpf_program__fd(skel->progs.pp_tc_clock_sync)); !r) return r.error();
  }
  return handle;
}

std::size_t percpu_stride(std::size_t value_size) { return (value_size + 7) / 8 * 8; }

// Flow records handed to a reader at a time.
constexpr std::size_t kFlowBatch = 1024;

// Which map holds a key: IPv4 packets are in pp_flows4, IPv6 packets in pp_flows.
bool in_ipv4_map(const pp_flow_map_key& k) { return (k.flow.flags & PP_KEY_F_IPV6) == 0; }

// Every entry of a flows map, its key widened to pp_flow_map_key.
template <typename Key>
Result<void> for_each_flow(int fd,
                           const std::function<void(const pp_flow_map_key&, const pp_flow_stats&)>& f) {
  return for_each_entry(fd, sizeof(Key), sizeof(pp_flow_stats),
                        [&](const std::uint8_t* k, const std::uint8_t* v) {
                          Key key{};
                          pp_flow_stats stats{};
                          std::memcpy(&key, k, sizeof(key));
                          std::memcpy(&stats, v, sizeof(stats));
                          if constexpr (std::is_same_v<Key, pp_flow4_map_key>) {
                            f(widen(key), stats);
                          } else {
                            f(key, stats);
                          }
                        });
}

// Batch-deletes `keys` from the map `fd`; appends the positions of keys the kernel did
// not find to `missing`.
template <typename Key>
Result<void> delete_keys(int fd, const std::vector<Key>& keys, std::vector<std::size_t>& missing) {
  std::size_t done = 0;
  while (done < keys.size()) {
    auto count = static_cast<std::uint32_t>(keys.size() - done);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_delete_batch(fd, &keys[done], &count, &opts);
    done += count;
    if (err == 0) break;
    if (-err == ENOENT) {  // skip it and go on; the caller checks
      missing.push_back(done++);
      continue;
    }
    if (is_unsupported(-err)) {  // no batch delete: one by one
      for (; done < keys.size(); ++done) {
        if (bpf_map_delete_elem(fd, &keys[done]) == 0) continue;
        if (errno != ENOENT) return make_error(errno, "cannot delete expired flows");
        missing.push_back(done);
      }
      break;
    }
    return make_error(err, "cannot delete expired flows");
  }
  return {};
}

}  // namespace

FlowMap flow_map_of(const model::FlowKey& key) {
  return in_ipv4_map(to_abi(model::ObservationPoint{}, key)) ? FlowMap::Ipv4 : FlowMap::Ipv6;
}

std::uint32_t change_log_size(const DatapathOptions& options) {
  if (options.change_log_bytes != 0) return options.change_log_bytes;
  // Both maps' entries / 8 keys at 56 B (a stage's slot: PP_LOG_STAGE_SLOTS per record): past an eighth
  // of the entries a refresh walks anyway (kLogShare), and libbpf maps the whole ring into the
  // reader twice, so it counts twice in its RSS (docs/datapath.md).
  const std::uint64_t want = std::uint64_t{options.max_flows} * 2 / 8 * 56;
  std::uint64_t size = 4096;
  while (size < want && size < (std::uint64_t{1} << 30)) size *= 2;
  return static_cast<std::uint32_t>(size);
}

// The distinct keys of one map a drain found, in the order they were logged.
template <typename Key> using LoggedKeys = util::FlatKeySet<Key>;

// Calls `f` on every key a read through the log looks up: those drained now, then those of the
// previous drain that were not drained again (the carry). Stops at the first error.
template <typename Keys, typename F> Result<void> for_each_to_read(const Keys& now, const Keys& before, F f) {
  for (const auto& k : now) {
    if (auto r = f(k); !r) return r;
  }
  for (const auto& k : before) {
    if (now.contains(k)) continue;
    if (auto r = f(k); !r) return r;
  }
  return {};
}

// With the change log a read looks up each logged key (one syscall each) instead of walking
// every entry. Past a share of the entries held the walk is cheaper (docs/datapath.md, "The
// change log"); small maps always use the log.
constexpr std::uint64_t kLogShare = 8;
constexpr std::uint64_t kLogFloor = 4096;

// The keys drained now and those of the drain before (the carry), for each map. A drain stops
// keeping keys past `cap` (the read then walks): a busy map's keys would cost memory for
// nothing.
struct Datapath::LogKeys {
  LoggedKeys<pp_flow4_map_key> now4, before4;
  LoggedKeys<pp_flow_map_key> now6, before6;
  std::size_t cap = 0;
  bool over = false;

  // One record of pp_changed: a stage's slots, or one key (its size tells the map).
  void add_record(const void* data, std::size_t size) {
    if (size == sizeof(pp_flow4_map_key) || size == sizeof(pp_flow_map_key)) {
      add(data, size);
      return;
    }
    const auto* slot = static_cast<const pp_log_slot*>(data);
    for (std::size_t i = 0; i < size / sizeof(pp_log_slot); ++i) add(slot[i].key, slot[i].size);
  }

  // Every CPU's stage, as read now and at the previous drain (one pp_log_stage per CPU).
  std::vector<pp_log_stage> stage, stage_before;

  // The keys staged now that the previous drain did not find in the same slot of the same
  // stage fill: each key the stage holds is handed over once (and carried once), as if drained.
  void add_staged() {
    for (std::size_t cpu = 0; cpu < stage.size(); ++cpu) {
      const pp_log_stage& s = stage[cpu];
      const pp_log_stage* b = cpu < stage_before.size() ? &stage_before[cpu] : nullptr;
      const std::uint64_t n = staged(s),
                          seen = b != nullptr && first_staged(*b) == first_staged(s) ? staged(*b) : 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        if (i < seen && std::memcmp(&s.slot[i], &b->slot[i], sizeof(pp_log_slot)) == 0) continue;
        add(s.slot[i].key, s.slot[i].size);
      }
    }
  }
  // How many slots hold staged keys, and the number of the first of them.
  static std::uint64_t staged(const pp_log_stage& s) {
    return s.logged == 0 ? 0 : (s.logged - 1) % PP_LOG_STAGE_SLOTS + 1;
  }
  static std::uint64_t first_staged(const pp_log_stage& s) { return s.logged - staged(s); }

  void add(const void* data, std::size_t size) {
    if (over) return;
    if (now4.size() + now6.size() >= cap) {
      over = true;
      now4 = decltype(now4)();
      now6 = decltype(now6)();
      return;
    }
    if (size == sizeof(pp_flow4_map_key)) {
      pp_flow4_map_key k{};
      std::memcpy(&k, data, sizeof(k));
      now4.insert(k);
    } else if (size == sizeof(pp_flow_map_key)) {
      pp_flow_map_key k{};
      std::memcpy(&k, data, sizeof(k));
      now6.insert(k);
    }
  }
};

Datapath::Datapath(DatapathOptions options) : options_(options) {}
Datapath::~Datapath() = default;

Result<std::unique_ptr<Datapath>> Datapath::load(const DatapathOptions& options, std::uint64_t netns_cookie) {
  if (options.ringbuf_bytes < 4096 || (options.ringbuf_bytes & (options.ringbuf_bytes - 1)) != 0) {
    return make_error(EINVAL, "ring buffer size {} must be a power of two of at least 4096 bytes",
                      options.ringbuf_bytes);
  }
  if (options.change_log_bytes != 0 &&
      (options.change_log_bytes < 4096 || (options.change_log_bytes & (options.change_log_bytes - 1)) != 0)) {
    return make_error(EINVAL, "change log size {} must be a power of two of at least 4096 bytes",
                      options.change_log_bytes);
  }
  if (options.max_flows == 0) return make_error(EINVAL, "the flows map needs at least one entry");
  if (options.max_ifaces == 0) return make_error(EINVAL, "the interface map needs at least one entry");
  std::unique_ptr<Datapath> dp(new Datapath(options));
  dp->ncpu_ = libbpf_num_possible_cpus();
  if (dp->ncpu_ <= 0) return make_error(dp->ncpu_, "cannot count possible CPUs");
  if (auto r = dp->add_object(netns_cookie); !r) return r.error();
  if (logs_changes(options)) {
    std::size_t bss_size = 0;
    bpf_map* bss = bss_of(dp->objects_.front()->obj());
    // After load, libbpf maps the .bss value here (the skeleton's bss): a store is seen at once.
    auto* epoch = bss != nullptr ? const_cast<void*>(bpf_map__initial_value(bss, &bss_size)) : nullptr;
    // Where the epoch sits in .bss: the same in both objects (one source).
    constexpr std::size_t kAt = offsetof(tc_flow::tc_flow__bss, pp_log_epoch);
    static_assert(offsetof(tc_flow_fixed::tc_flow_fixed__bss, pp_log_epoch) == kAt);
    if (epoch == nullptr || bss_size < kAt + sizeof(std::uint32_t)) {
      return make_error(ENOTSUP, "the change-log epoch is not mapped");
    }
    dp->epoch_ = reinterpret_cast<std::uint32_t*>(static_cast<std::uint8_t*>(epoch) + kAt);
    dp->log_keys_ = std::make_unique<LogKeys>();
    LogKeys* keys = dp->log_keys_.get();
    auto rb = RingBuffer::open(
        dp->map_fd("pp_changed"),
        [keys](const void* data, std::size_t size) { keys->add_record(data, size); }, "the change log");
    if (!rb) return rb.error();
    dp->change_log_ = std::make_unique<RingBuffer>(std::move(*rb));
    if (looks_up_in_batches(options)) {
      const bpf_program* prog =
          bpf_object__find_program_by_name(dp->objects_.front()->obj(), "pp_read_logged");
      auto batch =
          BatchLookup::open(prog != nullptr ? bpf_program__fd(prog) : -1, dp->map_fd("pp_read_batch"));
      if (!batch) return batch.error();
      dp->batch_lookup_ = std::move(*batch);
    }
  }
  if (options.map_iterator) {
    auto it = FlowIterator::open(dp->flows4_map_fd(), dp->flows_map_fd());
    if (it) {
      dp->iterator_ = std::move(*it);
    } else {
      spdlog::debug("flows maps read with batch lookups: {}", it.error().to_string());
    }
  }
  return dp;
}

Result<void> Datapath::add_object(std::uint64_t netns_cookie) {
  const ObjectHandle* share = objects_.empty() ? nullptr : objects_.front().get();
  auto obj = options_.netns_mode == NetnsIdMode::KernCtx
                 ? open_and_load<tc_flow>(options_, 0, share)
                 : open_and_load<tc_flow_fixed>(options_, netns_cookie, share);
  if (!obj) return obj.error();
  objects_.push_back(std::move(*obj));
  object_by_netns_[netns_cookie] = objects_.size() - 1;
  return {};
}

std::uint64_t Datapath::full_netns_cookie(std::uint32_t netns) const {
  const auto it = cookie_by_low_.find(netns);
  return it == cookie_by_low_.end() ? netns : it->second;
}

std::optional<LinkLayer> link_layer_of(std::uint32_t link_type) {
  switch (link_type) {
  case ARPHRD_ETHER:
  case ARPHRD_LOOPBACK:  // a zeroed Ethernet header
    return LinkLayer::Ethernet;
  case ARPHRD_NONE:     // tun, WireGuard
  case ARPHRD_TUNNEL:   // IP-in-IP
  case ARPHRD_TUNNEL6:  // ip6tnl
  case ARPHRD_SIT:      // IPv6-in-IPv4
  case ARPHRD_RAWIP:    // raw-IP modems
    return LinkLayer::None;
  default:
    return std::nullopt;
  }
}

Result<ProgramPair> Datapath::programs_for(std::uint64_t netns_cookie, LinkLayer layer) {
  cookie_by_low_[static_cast<std::uint32_t>(netns_cookie)] = netns_cookie;
  std::size_t idx = 0;
  if (options_.netns_mode == NetnsIdMode::Fixed) {
    auto it = object_by_netns_.find(netns_cookie);
    if (it == object_by_netns_.end()) {
      if (auto r = add_object(netns_cookie); !r) return r.error();
      it = object_by_netns_.find(netns_cookie);
    }
    idx = it->second;
  }
  const auto& obj = *objects_[idx];
  if (layer == LinkLayer::None) return ProgramPair{obj.prog_fd("pp_tc_l3_in"), obj.prog_fd("pp_tc_l3_eg")};
  return ProgramPair{obj.prog_fd("pp_tc_ingress"), obj.prog_fd("pp_tc_egress")};
}

int Datapath::map_fd(const char* name) const { return objects_.front()->map_fd(name); }
int Datapath::events_map_fd() const { return map_fd("pp_events"); }
int Datapath::flows_map_fd() const { return map_fd("pp_flows"); }
int Datapath::flows4_map_fd() const { return map_fd("pp_flows4"); }
int Datapath::log_stage_map_fd() const { return map_fd("pp_log_stage"); }

Result<void> Datapath::set_cidrs(const std::vector<CidrRule>& rules) {
  const int fd = map_fd("pp_cidrs");
  // Clear, then fill: the trie is small and changes only when the inventory does.
  if (auto r = clear_map(fd, sizeof(pp_cidr_key), sizeof(pp_cidr_info)); !r) return r;
  for (const auto& rule : rules) {
    if (rule.id == PP_CIDR_OTHER || rule.id >= PP_MAX_CIDRS) {
      return make_error(EINVAL, "CIDR id {} for {} is outside 1..{}", rule.id, rule.cidr.to_string(),
                        PP_MAX_CIDRS - 1);
    }
    const pp_cidr_key key = to_abi(rule.cidr);
    const pp_cidr_info info = to_abi(rule);
    if (bpf_map_update_elem(fd, &key, &info, BPF_ANY) != 0) {
      return make_error(errno, "cannot add CIDR {} to the classifier", rule.cidr.to_string());
    }
  }
  return {};
}

Result<void> Datapath::set_iface_role(std::uint64_t netns_cookie, std::uint32_t ifindex,
                                      model::InterfaceRole role) {
  cookie_by_low_[static_cast<std::uint32_t>(netns_cookie)] = netns_cookie;
  const pp_iface_key key{static_cast<__u32>(netns_cookie), ifindex};
  const pp_iface_info info{to_abi(role), 0};
  if (bpf_map_update_elem(map_fd("pp_ifaces"), &key, &info, BPF_ANY) != 0) {
    if (errno == E2BIG) {
      return make_error(0, "the interface map is full ({} interfaces): ifindex {} cannot be watched",
                        options_.max_ifaces, ifindex);
    }
    return make_error(errno, "cannot record interface {} role", ifindex);
  }
  return {};
}

Result<void> Datapath::forget_iface(std::uint64_t netns_cookie, std::uint32_t ifindex) {
  const pp_iface_key key{static_cast<__u32>(netns_cookie), ifindex};
  if (bpf_map_delete_elem(map_fd("pp_ifaces"), &key) != 0 && errno != ENOENT) {
    return make_error(errno, "cannot forget interface {}", ifindex);
  }
  return {};
}

Result<void> Datapath::read_flows(const FlowRecordSink& sink) const {
  if (auto r = read_flows(sink, 0); !r) return r.error();
  return {};
}

std::uint64_t Datapath::flow_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

Result<std::uint64_t> Datapath::read_flows(const FlowRecordSink& sink, std::uint64_t since_ns,
                                           bool batch_lookups) const {
  // Converted a batch at a time into one reused buffer: no allocation per entry.
  std::vector<model::FlowRecord> batch;
  batch.reserve(kFlowBatch);
  std::uint32_t last_low = 0;
  std::uint64_t last_cookie = full_netns_cookie(0);
  std::uint64_t held = 0;
  const auto add = [&](const pp_flow_map_key& key, const pp_flow_stats& stats) {
    if (key.point.netns != last_low) {  // entries of one namespace come in runs
      last_low = key.point.netns;
      last_cookie = full_netns_cookie(last_low);
    }
    batch.push_back(to_model(key, stats, last_cookie));
    if (batch.size() == kFlowBatch) {
      sink(batch);
      batch.clear();
    }
  };
  if (iterator_ && !batch_lookups) {
    const auto add4 = [&](const std::uint8_t* r) {
      pp_flow4_record rec{};
      std::memcpy(&rec, r, sizeof(rec));
      add(widen(rec.key), rec.stats);
    };
    const auto add6 = [&](const std::uint8_t* r) {
      pp_flow_record rec{};
      std::memcpy(&rec, r, sizeof(rec));
      add(rec.key, rec.stats);
    };
    auto n4 = iterator_->read(true, since_ns, add4);
    if (!n4) return n4.error();
    auto n6 = iterator_->read(false, since_ns, add6);
    if (!n6) return n6.error();
    held = *n4 + *n6;
  } else {
    const auto add_changed = [&](const pp_flow_map_key& key, const pp_flow_stats& stats) {
      ++held;
      if (stats.last_seen_ns >= since_ns) add(key, stats);
    };
    if (auto r = for_each_flow<pp_flow4_map_key>(flows4_map_fd(), add_changed); !r) return r.error();
    if (auto r = for_each_flow<pp_flow_map_key>(flows_map_fd(), add_changed); !r) return r.error();
  }
  if (!batch.empty()) sink(batch);
  return held;
}

Result<std::uint64_t> Datapath::sum_counter(std::uint32_t index) const {
  std::vector<std::uint64_t> values(static_cast<std::size_t>(ncpu_));
  if (bpf_map_lookup_elem(map_fd("pp_counters"), &index, values.data()) != 0) {
    return make_error(errno, "cannot read health counter {}", index);
  }
  std::uint64_t sum = 0;
  for (const std::uint64_t v : values) sum += v;
  return sum;
}

// Why a refresh through the log misses no count (the programs' side: pp_log_change in
// bpf/tc_flow.bpf.c): a packet is not logged only if its entry already carries the current
// epoch, which some packet stored after the epoch store below; that packet's key is drained
// in this refresh or the next (from the ring or, read after it, a CPU's stage), and read_logged() looks up
// the keys of the previous drain once more (the carry), after the next epoch store, so every packet counted
// after a lookup is read by the following refresh. A packet that loaded the old epoch stores the old value,
// which never hides a later packet. A lost record (the log was full) is counted: the caller then walks the
// maps, this read and the next (a loss counted before this read's counter read may be of this epoch: its
// entry's later packets are not logged, and only the next walk, whose clock margin covers this read, finds
// them). Full reads stay the safety net.
Result<LogDrain> Datapath::drain_change_log() {
  LogDrain out;
  if (!change_log_) return out;
  __atomic_store_n(epoch_, ++epoch_value_, __ATOMIC_SEQ_CST);
  if (after_epoch_) after_epoch_();
  auto lost = sum_counter(PP_CNT_CHANGE_LOG_FULL);
  if (!lost) return lost.error();
  auto created = sum_counter(PP_CNT_NEW_FLOWS);
  if (!created) return created.error();
  const std::uint64_t held_before = *created > deleted_ ? *created - deleted_ : 0;
  LogKeys& keys = *log_keys_;
  keys.before4 = std::move(keys.now4);
  keys.before6 = std::move(keys.now6);
  keys.now4 = decltype(keys.now4)();
  keys.now6 = decltype(keys.now6)();
  keys.over = false;
  keys.cap = static_cast<std::size_t>((held_before + kLogFloor) / kLogShare);
  if (auto n = change_log_->consume(); !n) return n.error();
  // Then the keys still staged (after the ring: a stage that fills meanwhile is in the ring
  // at the next drain).
  keys.stage_before.swap(keys.stage);
  keys.stage.resize(static_cast<std::size_t>(ncpu_));
  const __u32 zero = 0;
  if (bpf_map_lookup_elem(log_stage_map_fd(), &zero, keys.stage.data()) != 0) {
    return make_error(errno, "cannot read the change log's stage");
  }
  keys.add_staged();
  // Read again after the drain: an entry created meanwhile is in both or (a few ns apart: the
  // program logs, then counts) in neither, else the aggregator reads every entry once.
  created = sum_counter(PP_CNT_NEW_FLOWS);
  if (!created) return created.error();
  out.held = *created > deleted_ ? *created - deleted_ : 0;
  // Records lost before (b) may belong to this epoch, and a drain past its cap kept no keys:
  // either way this read and the next walk (the next one's margin covers this one's epoch).
  const bool lost_now = *lost != log_lost_;
  log_lost_ = *lost;
  out.usable = !lost_now && !keys.over && !walk_next_;
  walk_next_ = lost_now || keys.over;
  if (keys.over) {
    keys.before4 = decltype(keys.before4)();
    keys.before6 = decltype(keys.before6)();
  }
  const auto count = [&](const auto&) {
    ++out.keys;
    return Result<void>{};
  };
  (void)for_each_to_read(keys.now4, keys.before4, count);
  (void)for_each_to_read(keys.now6, keys.before6, count);
  return out;
}

Result<std::size_t> Datapath::read_logged(const FlowRecordSink& sink) const {
  std::size_t handed = 0;
  if (!log_keys_) return handed;
  std::vector<model::FlowRecord> batch;
  batch.reserve(kFlowBatch);
  const auto add = [&](const pp_flow_map_key& key, const pp_flow_stats& stats) {
    batch.push_back(to_model(key, stats, full_netns_cookie(key.point.netns)));
    ++handed;
    if (batch.size() == kFlowBatch) {
      sink(batch);
      batch.clear();
    }
  };
  // The keys of each map, looked up PP_READ_BATCH at a time by one program run where the
  // kernel can, else one syscall each (ENOENT: deleted since it was logged).
  const auto lookup = [&](const auto& keys, int fd, const auto& found) -> Result<void> {
    using Key = typename std::decay_t<decltype(keys)>::value_type;
    if (batch_lookup_) return batch_lookup_->lookup(keys.data(), sizeof(Key), keys.size(), found);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      pp_flow_stats stats{};
      if (bpf_map_lookup_elem(fd, &keys[i], &stats) == 0) {
        found(i, stats);
      } else if (errno != ENOENT) {
        return make_error(errno, "cannot read a changed flow entry");
      }
    }
    return {};
  };
  const auto collect = [&](const auto& now, const auto& before, auto& into) {
    (void)for_each_to_read(now, before, [&](const auto& k) {
      into.push_back(k);
      return Result<void>{};
    });
  };
  std::vector<pp_flow4_map_key> keys4;
  std::vector<pp_flow_map_key> keys6;
  collect(log_keys_->now4, log_keys_->before4, keys4);
  collect(log_keys_->now6, log_keys_->before6, keys6);
  if (auto r = lookup(keys4, flows4_map_fd(),
                      [&](std::size_t i, const pp_flow_stats& s) { add(widen(keys4[i]), s); });
      !r) {
    return r.error();
  }
  if (auto r =
          lookup(keys6, flows_map_fd(), [&](std::size_t i, const pp_flow_stats& s) { add(keys6[i], s); });
      !r) {
    return r.error();
  }
  if (!batch.empty()) sink(batch);
  return handed;
}

Result<std::vector<model::FlowRecord>> Datapath::read_flows() const {
  std::vector<model::FlowRecord> out;
  auto r = read_flows(
      [&](std::span<const model::FlowRecord> batch) { out.insert(out.end(), batch.begin(), batch.end()); });
  if (!r) return r.error();
  return out;
}

Result<std::vector<model::NatRecord>> Datapath::read_nat() const {
  std::vector<model::NatRecord> out;
  auto r = for_each_entry(map_fd("pp_nat4"), sizeof(pp_nat4_key), sizeof(pp_nat4_value),
                          [&](const std::uint8_t* k, const std::uint8_t* v) {
                            pp_nat4_key key{};
                            pp_nat4_value value{};
                            std::memcpy(&key, k, sizeof(key));
                            std::memcpy(&value, v, sizeof(value));
                            out.push_back(to_model(key, value, full_netns_cookie(key.netns)));
                          });
  if (!r) return r.error();
  return out;
}

Result<void> Datapath::delete_nat(const std::vector<model::NatRecord>& records) {
  const int fd = map_fd("pp_nat4");
  for (const auto& rec : records) {
    const pp_nat4_key key = to_nat_key(rec);
    if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT) {
      return make_error(errno, "cannot delete a NAT entry");
    }
  }
  return {};
}

Result<void> Datapath::delete_flows(const std::vector<FlowId>& ids) {
  if (ids.empty()) return {};
  std::vector<pp_flow4_map_key> keys4;
  std::vector<pp_flow_map_key> keys6;
  std::vector<std::size_t> ids4, ids6;  // position in `ids` of each key
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const pp_flow_map_key k = to_abi(ids[i].point, ids[i].key);
    if (in_ipv4_map(k)) {
      keys4.push_back(narrow(k));
      ids4.push_back(i);
    } else {
      keys6.push_back(k);
      ids6.push_back(i);
    }
  }
  std::vector<std::size_t> missing4, missing6;  // keys the kernel did not find
  const auto r4 = delete_keys(flows4_map_fd(), keys4, missing4);
  const auto r6 = r4 ? delete_keys(flows_map_fd(), keys6, missing6) : Result<void>{};
  deleted_ += keys4.size() - missing4.size() + keys6.size() - missing6.size();
  if (!r4) return r4;
  if (!r6) return r6;
  reopen_flows();
  std::vector<std::size_t> missing;
  for (const std::size_t m : missing4) missing.push_back(ids4[m]);
  for (const std::size_t m : missing6) missing.push_back(ids6[m]);
  if (missing.empty()) return {};
  return delete_unmatched(ids, missing);
}

void Datapath::reopen_flows() {
  // The programs back off from a full map; there is room again.
  const __u32 zero = 0;
  const __u64 open = 0;
  if (bpf_map_update_elem(map_fd("pp_flows_full"), &zero, &open, BPF_ANY) != 0) {
    spdlog::debug("cannot reset the flows-map back-off: {}", std::strerror(errno));
  }
}

Result<void> Datapath::delete_unmatched(const std::vector<FlowId>& ids,
                                        const std::vector<std::size_t>& missing) {
  // An entry is normally missing because it is gone (LRU eviction). But if the key read
  // from the map does not convert back to itself, its delete gets ENOENT while the entry
  // stays, and it is counted again every idle period: look for such entries and delete
  // them by the key the kernel holds.
  std::set<std::pair<model::ObservationPoint, model::FlowKey>> wanted;
  for (const std::size_t i : missing) wanted.emplace(ids[i].point, ids[i].key);
  std::vector<pp_flow_map_key> stuck;
  const auto check = [&](const pp_flow_map_key& key, const pp_flow_stats& stats) {
    const auto rec = to_model(key, stats, full_netns_cookie(key.point.netns));
    if (wanted.count({rec.point, rec.key}) != 0) stuck.push_back(key);
  };
  if (auto r = for_each_flow<pp_flow4_map_key>(flows4_map_fd(), check); !r) return r.error();
  if (auto r = for_each_flow<pp_flow_map_key>(flows_map_fd(), check); !r) return r.error();
  if (stuck.empty()) return {};
  for (const auto& key : stuck) {
    const pp_flow4_map_key k4 = narrow(key);
    const int err = in_ipv4_map(key) ? bpf_map_delete_elem(flows4_map_fd(), &k4)
                                     : bpf_map_delete_elem(flows_map_fd(), &key);
    if (err != 0 && errno != ENOENT) return make_error(errno, "cannot delete an expired flow entry");
    if (err == 0) ++deleted_;
  }
  spdlog::warn("{} expired flow entr{} did not convert back to the kernel's key; deleted by the key read",
               stuck.size(), stuck.size() == 1 ? "y" : "ies");
  return {};
}

Result<std::vector<MatrixCell>> Datapath::read_matrix() const {
  const std::size_t stride = percpu_stride(sizeof(pp_matrix_cell));
  std::vector<MatrixCell> out;
  auto r = for_each_entry(map_fd("pp_matrix"), sizeof(__u32), stride * static_cast<std::size_t>(ncpu_),
                          [&](const std::uint8_t* k, const std::uint8_t* v) {
                            __u32 idx = 0;
                            std::memcpy(&idx, k, sizeof(idx));
                            MatrixCell cell{static_cast<std::uint16_t>(idx / PP_MAX_CIDRS),
                                            static_cast<std::uint16_t>(idx % PP_MAX_CIDRS), 0, 0};
                            for (int cpu = 0; cpu < ncpu_; ++cpu) {
                              pp_matrix_cell c{};
                              std::memcpy(&c, v + static_cast<std::size_t>(cpu) * stride, sizeof(c));
                              cell.packets += c.packets;
                              cell.bytes += c.bytes;
                            }
                            if (cell.packets != 0) out.push_back(cell);
                          });
  if (!r) return r.error();
  return out;
}

Result<FlowCounters> Datapath::read_counters() const {
  return read_counters_map<FlowCounter>(map_fd("pp_counters"), ncpu_);
}

}  // namespace podpath::bpf
