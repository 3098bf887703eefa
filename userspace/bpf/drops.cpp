#include "bpf/drops.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "bpf/abi.hpp"
#include "bpf/drop_abi.hpp"
#include "bpf/object.hpp"
#include "drop.skel.h"
#include "util/system.hpp"

namespace podpath::bpf {

namespace {

constexpr const char* kReasonProg = "pp_kfree_skb";
constexpr const char* kNoReasonProg = "pp_kfree_skb_noreason";

constexpr std::string_view kReasonPrefix = "SKB_DROP_REASON_";
constexpr std::string_view kSkbPrefix = "SKB_";
constexpr std::string_view kSubsysPrefix = "SKB_DROP_REASON_SUBSYS_";
constexpr std::uint32_t kSubsysShift = 16;

/// (name, value) of every enumerator of enum `name` (ENUM or ENUM64).
std::vector<std::pair<std::string, std::uint32_t>> enum_values(const btf* b, const char* name) {
  std::vector<std::pair<std::string, std::uint32_t>> out;
  int id = btf__find_by_name_kind(b, name, BTF_KIND_ENUM);
  if (id < 0) id = btf__find_by_name_kind(b, name, BTF_KIND_ENUM64);
  if (id < 0) return out;
  const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
  if (t == nullptr) return out;
  const auto n = btf_vlen(t);
  if (btf_is_enum(t)) {
    const struct btf_enum* e = btf_enum(t);
    for (unsigned i = 0; i < n; ++i) {
      out.emplace_back(btf__name_by_offset(b, e[i].name_off), static_cast<std::uint32_t>(e[i].val));
    }
  } else if (btf_is_enum64(t)) {
    const struct btf_enum64* e = btf_enum64(t);
    for (unsigned i = 0; i < n; ++i) {
      out.emplace_back(btf__name_by_offset(b, e[i].name_off), static_cast<std::uint32_t>(e[i].val_lo32));
    }
  }
  return out;
}

std::string strip(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) == prefix) name.remove_prefix(prefix.size());
  return std::string(name);
}

}  // namespace

DropFeatures probe_drop_features() {
  DropFeatures f;
  auto b = load_vmlinux_btf();
  if (!b) return f;
  // typedef void (*btf_trace_kfree_skb)(void *, struct sk_buff *, void *[, enum skb_drop_reason[, struct sock
  // *]]);
  const int id = btf__find_by_name_kind(b.get(), "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);
  if (id < 0) return f;
  const btf_type* t = btf__type_by_id(b.get(), static_cast<__u32>(id));
  t = t != nullptr ? btf__type_by_id(b.get(), t->type) : nullptr;  // the pointer
  t = t != nullptr && btf_is_ptr(t) ? btf__type_by_id(b.get(), t->type) : nullptr;
  if (t == nullptr || !btf_is_func_proto(t)) return f;
  f.kfree_skb_btf = true;
  f.tracepoint_args = static_cast<int>(btf_vlen(t)) - 1;  // the first one is the tracepoint's ctx
  f.reasons = f.tracepoint_args >= 3 && !enum_values(b.get(), "skb_drop_reason").empty();
  return f;
}

DropReasonNames::DropReasonNames(const std::vector<std::pair<std::string, std::uint32_t>>& reasons,
                                 const std::vector<std::pair<std::string, std::uint32_t>>& subsystems) {
  for (const auto& [name, value] : reasons) {
    if (name.ends_with("_MAX") || name == "SKB_DROP_REASON_SUBSYS_MASK") continue;
    names_.emplace(value, strip(name, name.starts_with(kReasonPrefix) ? kReasonPrefix : kSkbPrefix));
  }
  for (const auto& [name, value] : subsystems) {
    if (name.ends_with("_NUM") || name.ends_with("_MAX")) continue;
    subsystems_.emplace(value, strip(name, kSubsysPrefix));
  }
}

DropReasonNames DropReasonNames::from_kernel() {
  auto b = load_vmlinux_btf();
  if (!b) return {};
  return DropReasonNames(enum_values(b.get(), "skb_drop_reason"),
                         enum_values(b.get(), "skb_drop_reason_subsys"));
}

std::string DropReasonNames::name(std::uint32_t reason) const {
  if (const auto it = names_.find(reason); it != names_.end()) return it->second;
  const std::uint32_t subsys = reason >> kSubsysShift;
  if (subsys != 0) {
    const auto it = subsystems_.find(subsys);
    const std::string who = it != subsystems_.end() ? it->second : fmt::format("subsystem {}", subsys);
    return fmt::format("{} reason {}", who, reason & ((1U << kSubsysShift) - 1));
  }
  return fmt::format("reason {}", reason);
}

std::optional<std::uint32_t> DropReasonNames::value(std::string_view short_name) const {
  for (const auto& [v, n] : names_) {
    if (n == short_name) return v;
  }
  return std::nullopt;
}

Result<std::unique_ptr<DropTracker>> DropTracker::start(const DropOptions& options, Callback callback) {
  if (options.ringbuf_bytes < 4096 || (options.ringbuf_bytes & (options.ringbuf_bytes - 1)) != 0) {
    return make_error(EINVAL, "drop ring buffer size {} must be a power of two of at least 4096 bytes",
                      options.ringbuf_bytes);
  }
  const DropFeatures features = probe_drop_features();
  if (!features.kfree_skb_btf) {
    return make_error(ENOTSUP,
                      "this kernel ({}) has no BTF for the skb:kfree_skb tracepoint: drop tracking needs "
                      "CONFIG_DEBUG_INFO_BTF=y (Linux 5.5+)",
                      kernel_release());
  }
  std::unique_ptr<DropTracker> t(new DropTracker());
  t->callback_ = std::move(callback);
  t->kernel_has_reasons_ = features.reasons;
  t->reasons_ = features.reasons && !options.force_location_only;
  if (t->reasons_) t->names_ = DropReasonNames::from_kernel();
  t->ncpu_ = libbpf_num_possible_cpus();
  if (t->ncpu_ <= 0) return make_error(t->ncpu_, "cannot count possible CPUs");

  drop* s = drop__open();
  if (s == nullptr) return make_error(errno, "cannot open the drop BPF object");
  t->object_ = std::make_unique<ObjectHandle>(s->obj, [s] { drop__destroy(s); });
  s->rodata->pp_cfg_drop_skip_unspecified = options.skip_unspecified ? 1 : 0;
  s->rodata->pp_cfg_drop_skip_local = options.keep_local_declines ? 0 : 1;
  s->rodata->pp_cfg_drop_wakeup_bytes = options.ringbuf_bytes / 4;
  s->rodata->pp_cfg_drop_track_all = options.track_all ? 1 : 0;
  if (int err = bpf_map__set_max_entries(s->maps.pp_drop_events, options.ringbuf_bytes); err != 0) {
    return make_error(err, "cannot size the drop ring buffer to {} bytes", options.ringbuf_bytes);
  }
  bpf_program* chosen = t->reasons_ ? s->progs.pp_kfree_skb : s->progs.pp_kfree_skb_noreason;
  bpf_program* other = t->reasons_ ? s->progs.pp_kfree_skb_noreason : s->progs.pp_kfree_skb;
  bpf_program__set_autoload(other, false);
  if (int err = drop__load(s); err != 0) {
    return make_error(err, "cannot load the drop-tracking BPF program (run with -v for the verifier log)");
  }
  t->link_.reset(bpf_program__attach(chosen));
  if (!t->link_) return make_error(errno, "cannot attach to the skb:kfree_skb tracepoint");
  auto ring = RingBuffer::open(bpf_map__fd(s->maps.pp_drop_events),
                               record_handler<pp_drop_event>([raw = t.get()](const pp_drop_event& ev) {
                                 if (raw->callback_) raw->callback_(to_drop_event(ev, raw->names_));
                               }),
                               "the drop ring buffer");
  if (!ring) return ring.error();
  t->ring_ = std::move(*ring);
  spdlog::debug("drop tracking: {}", t->describe());
  return t;
}

DropTracker::DropTracker() = default;
DropTracker::~DropTracker() = default;

Result<void> DropTracker::set_cidrs(const std::vector<model::Cidr>& cidrs) {
  const int fd = object_->map_fd("pp_drop_cidrs");
  if (auto r = clear_map(fd, sizeof(pp_cidr_key), sizeof(__u32)); !r) return r;
  __u32 id = 1;
  for (const auto& c : cidrs) {
    const pp_cidr_key k = to_abi(c);
    if (bpf_map_update_elem(fd, &k, &id, BPF_ANY) != 0) {
      return make_error(errno, "cannot track drops for {}", c.to_string());
    }
    ++id;
  }
  return {};
}

Result<int> DropTracker::poll(int timeout_ms) { return ring_->poll(timeout_ms); }

Result<DropCounters> DropTracker::read_counters() const {
  return read_counters_map<DropCounter>(object_->map_fd("pp_drop_counters"), ncpu_);
}

int DropTracker::prog_fd() const { return object_->prog_fd(reasons_ ? kReasonProg : kNoReasonProg); }

std::string DropTracker::describe() const {
  if (reasons_) return "drop reasons and locations (tp_btf/kfree_skb)";
  if (kernel_has_reasons_) return "drop locations only (reasons switched off)";
  return fmt::format(
      "drop locations only: this kernel ({}) reports no drop reasons (Linux 5.17+ does), so drops are "
      "named by the kernel function that freed them",
      kernel_release());
}

}  // namespace podpath::bpf
