#include "bpf/cgroup_datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "bpf/abi.hpp"
#include "bpf/attach.hpp"
#include "bpf/clock.hpp"
#include "bpf/features.hpp"
#include "bpf/object.hpp"
#include "cgroup_flow.skel.h"
#include "cgroup_flow_compat.skel.h"
#include "util/system.hpp"

namespace podpath::bpf {

namespace {

constexpr const char* kIngressProg = "pp_cg_ingress";
constexpr const char* kEgressProg = "pp_cg_egress";

template <typename Skel> struct SkelOps;
template <> struct SkelOps<cgroup_flow> {
  static cgroup_flow* open() { return cgroup_flow__open(); }
  static int load(cgroup_flow* s) { return cgroup_flow__load(s); }
  static void destroy(cgroup_flow* s) { cgroup_flow__destroy(s); }
};
template <> struct SkelOps<cgroup_flow_compat> {
  static cgroup_flow_compat* open() { return cgroup_flow_compat__open(); }
  static int load(cgroup_flow_compat* s) { return cgroup_flow_compat__load(s); }
  static void destroy(cgroup_flow_compat* s) { cgroup_flow_compat__destroy(s); }
};

template <typename Skel> Result<std::unique_ptr<ObjectHandle>> open_and_load(const CgroupDatapathOptions& o) {
  Skel* skel = SkelOps<Skel>::open();
  if (skel == nullptr) return make_error(errno, "cannot open the cgroup_flow BPF object");
  auto handle = std::make_unique<ObjectHandle>(skel->obj, [skel] { SkelOps<Skel>::destroy(skel); });
  skel->rodata->pp_cfg_cg_netns = to_abi(o.netns_mode);
  skel->rodata->pp_cfg_cg_coarse_clock = o.coarse_clock ? 1 : 0;
  skel->rodata->pp_cfg_tick_ns = o.coarse_clock && o.jiffies_clock ? tick_clock_ns() : 0;
  skel->rodata->pp_cfg_cg_debug = o.debug ? 1 : 0;
  skel->rodata->pp_cfg_cg_bench_unique = o.bench_unique ? 1 : 0;
  if (int err = bpf_map__set_max_entries(skel->maps.pp_cg_flows, o.max_entries); err != 0) {
    return make_error(err, "cannot size the container-flows map to {} entries", o.max_entries);
  }
  if (int err = SkelOps<Skel>::load(skel); err != 0) {
    return make_error(
        err,
        "cannot load the cgroup_flow BPF programs into the kernel (namespace mode {}; run with -v "
        "for the verifier log)",
        to_string(o.netns_mode));
  }
  if (skel->rodata->pp_cfg_tick_ns != 0) {
    if (auto r = sync_tick_clock(bpf_program__fd(skel->progs.pp_cg_clock_sync)); !r) return r.error();
  }
  return handle;
}

bool cg_skb_helper(bpf_func_id id) {
  return libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, id, nullptr) == 1;
}

/// Names of the programs attached to a cgroup hook (any owner), with their ids.
std::vector<std::pair<std::uint32_t, std::string>> attached_programs(int cgroup_fd, bpf_attach_type type) {
  std::vector<std::pair<std::uint32_t, std::string>> out;
  std::vector<__u32> ids(64);
  __u32 count = static_cast<__u32>(ids.size());
  __u32 flags = 0;
  if (bpf_prog_query(cgroup_fd, type, 0, &flags, ids.data(), &count) != 0) return out;
  for (__u32 i = 0; i < count && i < ids.size(); ++i) {
    const int fd = bpf_prog_get_fd_by_id(ids[i]);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) out.emplace_back(ids[i], info.name);
    close(fd);
  }
  return out;
}

/// Detaches the program with id `id` from `type` of a cgroup if it is attached there the
/// classic way; true when it was (or, dry run, would be).
Result<bool> detach_by_id(int cgroup_fd, bpf_attach_type type, std::uint32_t id, bool dry_run) {
  if (id == 0) return false;
  bool found = false;
  for (const auto& [attached, name] : attached_programs(cgroup_fd, type)) found = found || attached == id;
  if (!found || dry_run) return found;
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return false;  // freed meanwhile
  const int err = bpf_prog_detach2(fd, cgroup_fd, type) == 0 ? 0 : errno;
  close(fd);
  if (err != 0 && err != ENOENT) return make_error(err, "cannot detach BPF program {} from the cgroup", id);
  return err == 0;
}

Error attach_error(int err, const std::filesystem::path& cgroup, const char* what) {
  const int e = err < 0 ? -err : err;
  if (e == EPERM) {
    return make_error(
        e,
        "cannot attach the {} program to cgroup {}: another program is attached there (or above) "
        "without multi-attach, and podpath does not replace it",
        what, cgroup.string());
  }
  return make_error(e, "cannot attach the {} program to cgroup {}", what, cgroup.string());
}

}  // namespace

const char* to_string(CgroupNetnsMode mode) {
  switch (mode) {
  case CgroupNetnsMode::Helper:
    return "helper";
  case CgroupNetnsMode::KernCtx:
    return "kern-ctx";
  case CgroupNetnsMode::SockCast:
    return "sock-cast";
  case CgroupNetnsMode::None:
    break;
  }
  return "none";
}

const char* to_string(CgroupAttachMode mode) { return mode == CgroupAttachMode::Link ? "link" : "legacy"; }

CgroupNetnsMode CgroupFeatures::best_netns_mode() const {
  if (netns_helper) return CgroupNetnsMode::Helper;
  if (kern_ctx) return CgroupNetnsMode::KernCtx;
  if (sock_cast) return CgroupNetnsMode::SockCast;
  return CgroupNetnsMode::None;
}

CgroupFeatures probe_cgroup_features() {
  CgroupFeatures f;
  if (auto cg = find_mount("cgroup2")) f.cgroup2_mount = cg->string();
  f.cgroup_skb = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, nullptr) == 1 &&
                 cg_skb_helper(BPF_FUNC_skb_cgroup_id);
  if (!f.cgroup_skb) return f;
  f.netns_helper = cg_skb_helper(BPF_FUNC_get_netns_cookie);
  f.kern_ctx = kernel_has_kfunc("bpf_cast_to_kern_ctx");
  f.sock_cast = cg_skb_helper(BPF_FUNC_skc_to_tcp_sock) && cg_skb_helper(BPF_FUNC_skc_to_udp6_sock);
  f.coarse_clock = cg_skb_helper(BPF_FUNC_ktime_get_coarse_ns);
  return f;
}

std::vector<std::string> cgroup_blocking_problems(const CgroupFeatures& f) {
  std::vector<std::string> out;
  if (f.cgroup2_mount.empty()) {
    out.emplace_back(
        "no cgroup v2 hierarchy is mounted: per-container attribution needs one (mount -t cgroup2 none "
        "/sys/fs/cgroup/unified, or boot with systemd.unified_cgroup_hierarchy=1)");
  }
  if (!f.cgroup_skb) {
    out.emplace_back(
        "this kernel has no cgroup_skb programs with bpf_skb_cgroup_id (Linux 5.7+ needed), or podpath "
        "lacks CAP_BPF/CAP_SYS_ADMIN to load them");
  }
  return out;
}

std::string netns_mode_limitation(CgroupNetnsMode mode) {
  switch (mode) {
  case CgroupNetnsMode::SockCast:
    return "this kernel (before 6.3) shows the network namespace only for TCP and UDP-over-IPv6 sockets; "
           "other traffic is listed with namespace 'unknown' and judged by its address alone";
  case CgroupNetnsMode::None:
    return "this kernel (before 5.9) cannot tell which network namespace a socket is in; traffic is "
           "judged by its address alone";
  case CgroupNetnsMode::Helper:
  case CgroupNetnsMode::KernCtx:
    break;
  }
  return "";
}

// ------------------------------------------------------------------------- attachment

CgroupAttachment::~CgroupAttachment() {
  try {
    if (auto r = detach(); !r) spdlog::warn("{}", r.error().to_string());
  } catch (...) {
    // A destructor must not throw (it may run while an exception unwinds).
  }
}

Result<void> CgroupAttachment::detach() {
  if (!attached_) return {};
  attached_ = false;
  if (mode_ == CgroupAttachMode::Link) {
    ingress_link_.reset();
    egress_link_.reset();
    return {};
  }
  int err = 0;
  if (ingress_prog_ >= 0 && bpf_prog_detach2(ingress_prog_, cgroup_fd_.get(), BPF_CGROUP_INET_INGRESS) != 0)
    err = errno;
  if (egress_prog_ >= 0 && bpf_prog_detach2(egress_prog_, cgroup_fd_.get(), BPF_CGROUP_INET_EGRESS) != 0)
    err = errno;
  if (err != 0 && err != ENOENT)
    return make_error(err, "cannot detach podpath from cgroup {}", cgroup_.string());
  return {};
}

// ------------------------------------------------------------------------- datapath

CgroupDatapath::CgroupDatapath(CgroupDatapathOptions options) : options_(options) {}
CgroupDatapath::~CgroupDatapath() = default;

Result<std::unique_ptr<CgroupDatapath>> CgroupDatapath::load(const CgroupDatapathOptions& options) {
  if (options.max_entries == 0) return make_error(EINVAL, "the container-flows map needs at least one entry");
  std::unique_ptr<CgroupDatapath> dp(new CgroupDatapath(options));
  dp->ncpu_ = libbpf_num_possible_cpus();
  if (dp->ncpu_ <= 0) return make_error(dp->ncpu_, "cannot count possible CPUs");
  auto obj = options.needs_kfunc() ? open_and_load<cgroup_flow>(options)
                                   : open_and_load<cgroup_flow_compat>(options);
  if (!obj) return obj.error();
  dp->object_ = std::move(*obj);
  return dp;
}

int CgroupDatapath::ingress_fd() const { return object_->prog_fd(kIngressProg); }
std::uint32_t CgroupDatapath::ingress_prog_id() const { return program_id(ingress_fd()); }
std::uint32_t CgroupDatapath::egress_prog_id() const { return program_id(egress_fd()); }
int CgroupDatapath::egress_fd() const { return object_->prog_fd(kEgressProg); }
int CgroupDatapath::map_fd(const char* name) const { return object_->map_fd(name); }
int CgroupDatapath::flows_map_fd() const { return map_fd("pp_cg_flows"); }

Result<std::unique_ptr<CgroupAttachment>> CgroupDatapath::attach(const std::filesystem::path& cgroup,
                                                                 CgroupAttachMode mode) {
  const int fd = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, "cannot open cgroup {}", cgroup.string());
  std::unique_ptr<CgroupAttachment> a(new CgroupAttachment(mode, cgroup));
  a->cgroup_fd_.reset(fd);

  if (mode == CgroupAttachMode::Link) {
    BpfLink in(bpf_program__attach_cgroup(object_->program(kIngressProg), fd));
    if (in) {
      BpfLink out(bpf_program__attach_cgroup(object_->program(kEgressProg), fd));
      if (!out) return attach_error(errno, cgroup, "egress");
      a->ingress_link_ = std::move(in);
      a->egress_link_ = std::move(out);
      a->attached_ = true;
      return a;
    }
    const int err = errno;
    if (!is_unsupported(err)) {
      return attach_error(err, cgroup, "ingress");
    }
    spdlog::info(
        "this kernel has no cgroup BPF links (Linux 5.7+); attaching the classic way, detached on exit");
    a->mode_ = CgroupAttachMode::Legacy;
  }

  // Programs a killed Legacy-mode run left here are removed by the caller, from that run's
  // journal (loader/journal.hpp): a name proves nothing, since another live podpath's
  // programs carry the same names.
  if (bpf_prog_attach(ingress_fd(), fd, BPF_CGROUP_INET_INGRESS, BPF_F_ALLOW_MULTI) != 0) {
    return attach_error(errno, cgroup, "ingress");
  }
  a->ingress_prog_ = ingress_fd();
  a->attached_ = true;
  if (bpf_prog_attach(egress_fd(), fd, BPF_CGROUP_INET_EGRESS, BPF_F_ALLOW_MULTI) != 0) {
    const int err = errno;
    (void)a->detach();
    return attach_error(err, cgroup, "egress");
  }
  a->egress_prog_ = egress_fd();
  return a;
}

Result<int> detach_cgroup_leftovers(const std::filesystem::path& cgroup, std::uint32_t ingress_id,
                                    std::uint32_t egress_id, bool dry_run) {
  Fd fd(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return 0;  // the cgroup is gone, and its programs with it
    return make_error(errno, "cannot open cgroup {}", cgroup.string());
  }
  int n = 0;
  for (const auto& [type, id] :
       {std::pair{BPF_CGROUP_INET_INGRESS, ingress_id}, std::pair{BPF_CGROUP_INET_EGRESS, egress_id}}) {
    auto r = detach_by_id(fd.get(), type, id, dry_run);
    if (!r) return make_error(r.error().code, "cgroup {}: {}", cgroup.string(), r.error().message);
    n += *r ? 1 : 0;
  }
  return n;
}

Result<std::vector<CgroupFlowRecord>> CgroupDatapath::read_flows() const {
  std::vector<CgroupFlowRecord> out;
  auto r = for_each_entry(flows_map_fd(), sizeof(pp_cg_flow_key), sizeof(pp_cg_flow_stats),
                          [&](const std::uint8_t* k, const std::uint8_t* v) {
                            pp_cg_flow_key key{};
                            pp_cg_flow_stats st{};
                            std::memcpy(&key, k, sizeof(key));
                            std::memcpy(&st, v, sizeof(st));
                            out.push_back(to_record(key, st));
                          });
  if (!r) return r.error();
  return out;
}

Result<void> CgroupDatapath::delete_flows(std::span<const CgroupFlowRecord> records) {
  for (const auto& rec : records) {
    const pp_cg_flow_key key = to_cg_key(rec);
    if (bpf_map_delete_elem(flows_map_fd(), &key) != 0 && errno != ENOENT) {
      return make_error(errno, "cannot delete a container-flows entry");
    }
  }
  return {};
}

Result<void> CgroupDatapath::clear() {
  auto all = read_flows();
  if (!all) return all.error();
  return delete_flows(*all);
}

Result<CgroupCounters> CgroupDatapath::read_counters() const {
  return read_counters_map<CgroupCounter>(map_fd("pp_cg_counters"), ncpu_);
}

Result<FlowCounters> CgroupDatapath::read_parse_errors() const {
  return read_counters_map<FlowCounter>(map_fd("pp_cg_parse_errors"), ncpu_);
}

}  // namespace podpath::bpf
