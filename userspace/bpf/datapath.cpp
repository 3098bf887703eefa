#include "bpf/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "bpf/abi.hpp"
#include "bpf/object.hpp"
#include "tc_flow.skel.h"
#include "tc_flow_fixed.skel.h"

namespace podpath::bpf {

namespace {

// Maps shared by every object instance (Fixed mode reuses the first object's).
constexpr const char* kSharedMaps[] = {"pp_flows",  "pp_cidrs",  "pp_matrix",
                                       "pp_ifaces", "pp_events", "pp_counters"};

bpf_map_type to_map_type(FlowMapKind kind) {
  switch (kind) {
  case FlowMapKind::LruHash:
    return BPF_MAP_TYPE_LRU_HASH;
  case FlowMapKind::PercpuHash:
    return BPF_MAP_TYPE_PERCPU_HASH;
  case FlowMapKind::Hash:
    break;
  }
  return BPF_MAP_TYPE_HASH;
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
  skel->rodata->pp_cfg_flows_percpu = o.flow_map == FlowMapKind::PercpuHash ? 1 : 0;
  skel->rodata->pp_cfg_events = o.events ? 1 : 0;
  skel->rodata->pp_cfg_debug = o.debug ? 1 : 0;
  skel->rodata->pp_cfg_coarse_clock = o.coarse_clock ? 1 : 0;
  skel->rodata->pp_cfg_bench_unique = o.bench_unique_flows ? 1 : 0;

  if (int err = bpf_map__set_type(skel->maps.pp_flows, to_map_type(o.flow_map)); err != 0) {
    return make_error(err, "cannot set the flows map type");
  }
  if (int err = bpf_map__set_max_entries(skel->maps.pp_flows, o.max_flows); err != 0) {
    return make_error(err, "cannot size the flows map to {} entries", o.max_flows);
  }
  if (int err = bpf_map__set_max_entries(skel->maps.pp_events, o.ringbuf_bytes); err != 0) {
    return make_error(err, "cannot size the event ring buffer to {} bytes", o.ringbuf_bytes);
  }
  if (share_maps_of != nullptr) {
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
  return handle;
}

std::size_t percpu_stride(std::size_t value_size) { return (value_size + 7) / 8 * 8; }

// Flow records handed to a reader at a time: the kernel's batch size, 1024 entries.
constexpr std::size_t kFlowBatch = 1024;

}  // namespace

Datapath::Datapath(DatapathOptions options) : options_(options) {}
Datapath::~Datapath() = default;

Result<std::unique_ptr<Datapath>> Datapath::load(const DatapathOptions& options, std::uint64_t netns_cookie) {
  if (options.ringbuf_bytes < 4096 || (options.ringbuf_bytes & (options.ringbuf_bytes - 1)) != 0) {
    return make_error(EINVAL, "ring buffer size {} must be a power of two of at least 4096 bytes",
                      options.ringbuf_bytes);
  }
  if (options.max_flows == 0) return make_error(EINVAL, "the flows map needs at least one entry");
  std::unique_ptr<Datapath> dp(new Datapath(options));
  dp->ncpu_ = libbpf_num_possible_cpus();
  if (dp->ncpu_ <= 0) return make_error(dp->ncpu_, "cannot count possible CPUs");
  if (auto r = dp->add_object(netns_cookie); !r) return r.error();
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

Result<ProgramPair> Datapath::programs_for(std::uint64_t netns_cookie) {
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
  return ProgramPair{obj.prog_fd("pp_tc_ingress"), obj.prog_fd("pp_tc_egress")};
}

int Datapath::map_fd(const char* name) const { return objects_.front()->map_fd(name); }
int Datapath::events_map_fd() const { return map_fd("pp_events"); }
int Datapath::flows_map_fd() const { return map_fd("pp_flows"); }

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
  const bool percpu = options_.flow_map == FlowMapKind::PercpuHash;
  const std::size_t stride = percpu_stride(sizeof(pp_flow_stats));
  const std::size_t value_size = percpu ? stride * static_cast<std::size_t>(ncpu_) : sizeof(pp_flow_stats);
  // Converted a batch at a time into one reused buffer: no allocation per entry.
  std::vector<model::FlowRecord> batch;
  batch.reserve(kFlowBatch);
  std::uint32_t last_low = 0;
  std::uint64_t last_cookie = full_netns_cookie(0);
  auto r = for_each_entry(flows_map_fd(), sizeof(pp_flow_map_key), value_size,
                          [&](const std::uint8_t* k, const std::uint8_t* v) {
                            pp_flow_map_key key{};
                            std::memcpy(&key, k, sizeof(key));
                            pp_flow_stats sum{};
                            for (int cpu = 0; cpu < (percpu ? ncpu_ : 1); ++cpu) {
                              pp_flow_stats s{};
                              std::memcpy(&s, v + static_cast<std::size_t>(cpu) * stride, sizeof(s));
                              if (s.packets == 0) continue;
                              sum.packets += s.packets;
                              sum.bytes += s.bytes;
                              sum.tcp_flags |= s.tcp_flags;
                              if (sum.first_seen_ns == 0 || s.first_seen_ns < sum.first_seen_ns) {
                                sum.first_seen_ns = s.first_seen_ns;
                              }
                              if (s.last_seen_ns > sum.last_seen_ns) sum.last_seen_ns = s.last_seen_ns;
                              sum.src_cidr = s.src_cidr;
                              sum.dst_cidr = s.dst_cidr;
                              sum.flags |= s.flags;
                            }
                            if (key.point.netns != last_low) {  // entries of one namespace come in runs
                              last_low = key.point.netns;
                              last_cookie = full_netns_cookie(last_low);
                            }
                            batch.push_back(to_model(key, sum, last_cookie));
                            if (batch.size() == kFlowBatch) {
                              sink(batch);
                              batch.clear();
                            }
                          });
  if (!r) return r.error();
  if (!batch.empty()) sink(batch);
  return {};
}

Result<std::vector<model::FlowRecord>> Datapath::read_flows() const {
  std::vector<model::FlowRecord> out;
  auto r = read_flows([&](std::span<const model::FlowRecord> batch) { out.insert(out.end(), batch.begin(), batch.end()); });
  if (!r) return r.error();
  return out;
}

Result<void> Datapath::delete_flows(const std::vector<FlowId>& ids) {
  if (ids.empty()) return {};
  std::vector<pp_flow_map_key> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids) keys.push_back(to_abi(id.point, id.key));
  std::size_t done = 0;
  while (done < keys.size()) {
    auto count = static_cast<std::uint32_t>(keys.size() - done);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_delete_batch(flows_map_fd(), &keys[done], &count, &opts);
    done += count;
    if (err == 0) break;
    if (-err == ENOENT) {  // already gone (evicted): skip it and go on
      ++done;
      continue;
    }
    if (is_unsupported(-err)) {  // no batch delete: one by one
      for (; done < keys.size(); ++done) bpf_map_delete_elem(flows_map_fd(), &keys[done]);
      break;
    }
    return make_error(err, "cannot delete expired flows");
  }
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
