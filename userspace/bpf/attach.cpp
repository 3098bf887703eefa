#include "bpf/attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_sched.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>

#include "bpf/libbpf_log.hpp"

namespace podpath::bpf {
namespace {

// Linux 6.6 UAPI values (Debian 12's headers predate tcx).
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;
constexpr std::uint32_t kBpfFBefore = 1U << 3;

bpf_tc_attach_point to_tc_point(bool ingress) { return ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }
const char* direction(bool ingress) { return ingress ? "ingress" : "egress"; }

std::string program_name(std::uint32_t id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return {};
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  close(fd);
  return err == 0 ? std::string(info.name) : std::string();
}

Result<void> detach_filter(int ifindex, bool ingress, const TcSlot& slot) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = slot.handle, .priority = slot.priority);
  const QuietKernelErrors quiet;  // a filter already gone is not news
  const int err = bpf_tc_detach(&hook, &opts);
  if (err != 0 && err != -ENOENT && err != -EINVAL && err != -ENODEV) {
    return make_error(err, "cannot remove podpath's {} TC filter from ifindex {}", direction(ingress),
                      ifindex);
  }
  return {};
}

/// Removes the clsact qdisc of an interface if no filter is left in it; the number of
/// filters that keep it otherwise.
Result<int> destroy_qdisc_if_empty(int ifindex, bool dry_run) {
  auto left = count_clsact_filters(ifindex);
  if (!left) return left.error();
  if (*left > 0 || dry_run) return *left;
  LIBBPF_OPTS(bpf_tc_hook, qdisc, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  const QuietKernelErrors quiet;
  const int err = bpf_tc_hook_destroy(&qdisc);
  if (err != 0 && err != -ENOENT && err != -EINVAL) {
    return make_error(err, "cannot remove the clsact qdisc podpath created on ifindex {}", ifindex);
  }
  return 0;
}

struct NlSockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct NlCacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

using NlSock = std::unique_ptr<nl_sock, NlSockDeleter>;

Result<NlSock> route_socket() {
  NlSock sock(nl_socket_alloc());
  if (!sock) return make_error(ENOMEM, "cannot allocate a netlink socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return make_error(EIO, "cannot connect to rtnetlink: {}", nl_geterror(err));
  }
  return sock;
}

}  // namespace

const char* to_string(AttachMode mode) { return mode == AttachMode::Tcx ? "tcx" : "clsact"; }

bool is_podpath_program_name(const std::string& name) { return name.rfind("pp_tc_", 0) == 0; }

std::uint32_t program_id(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return 0;
  return info.id;
}

Result<std::optional<SlotFilter>> slot_filter(int ifindex, bool ingress, const TcSlot& slot) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = slot.handle, .priority = slot.priority);
  // An empty slot (or no clsact qdisc) is an answer, not a problem: keep the kernel's
  // "not found" message out of the log.
  const QuietKernelErrors quiet;
  const int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return std::optional<SlotFilter>();
  if (err != 0) return make_error(err, "cannot query TC filters on ifindex {}", ifindex);
  return std::optional<SlotFilter>(SlotFilter{opts.prog_id, program_name(opts.prog_id)});
}

Result<int> count_clsact_filters(int ifindex) {
  auto sock = route_socket();
  if (!sock) return sock.error();
  int total = 0;
  for (std::uint32_t minor : {TC_H_MIN_INGRESS, TC_H_MIN_EGRESS}) {
    nl_cache* raw = nullptr;
    const int err = rtnl_cls_alloc_cache(sock->get(), ifindex, TC_H_MAKE(TC_H_CLSACT, minor), &raw);
    if (err < 0)
      return make_error(EIO, "cannot list TC filters on ifindex {}: {}", ifindex, nl_geterror(err));
    std::unique_ptr<nl_cache, NlCacheDeleter> cache(raw);
    total += nl_cache_nitems(cache.get());
  }
  return total;
}

Result<LeftoverRemoval> remove_leftover_filters(int ifindex, const TcSlot& slot, std::uint32_t ingress_id,
                                                std::uint32_t egress_id, bool created_qdisc, bool dry_run) {
  LeftoverRemoval out;
  for (bool ingress : {true, false}) {
    auto found = slot_filter(ifindex, ingress, slot);
    if (!found) return found.error();
    const std::uint32_t want = ingress ? ingress_id : egress_id;
    if (!*found || want == 0 || (*found)->prog_id != want) continue;  // not that run's: leave it
    if (!dry_run) {
      if (auto r = detach_filter(ifindex, ingress, slot); !r) return r.error();
    }
    ++out.filters;
  }
  if (created_qdisc) {
    auto users = destroy_qdisc_if_empty(ifindex, dry_run);
    if (!users) return users.error();
    // A dry run counts the filters it would have removed as gone.
    out.qdisc_users = dry_run ? std::max(0, *users - out.filters) : *users;
    out.qdisc_removed = out.qdisc_users == 0;
  }
  return out;
}

Result<std::unique_ptr<InterfaceHooks>> InterfaceHooks::attach(AttachMode mode, int ifindex,
                                                               const ProgramPair& progs, const TcSlot& slot,
                                                               const AttachOptions& options) {
  std::unique_ptr<InterfaceHooks> hooks(new InterfaceHooks(mode, ifindex, slot));
  hooks->ingress_prog_id_ = program_id(progs.ingress);
  hooks->egress_prog_id_ = program_id(progs.egress);

  if (mode == AttachMode::Tcx) {
    for (bool ingress : {true, false}) {
      LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = kBpfFBefore);
      const int fd =
          bpf_link_create(ingress ? progs.ingress : progs.egress, ifindex,
                          static_cast<bpf_attach_type>(ingress ? kBpfTcxIngress : kBpfTcxEgress), &opts);
      if (fd < 0) {
        return make_error(fd, "cannot attach podpath to the tcx {} hook of ifindex {}", direction(ingress),
                          ifindex);
      }
      (ingress ? hooks->ingress_link_ : hooks->egress_link_).reset(fd);
    }
    hooks->attached_ = true;
    return hooks;
  }

  LIBBPF_OPTS(bpf_tc_hook, qdisc, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int qerr = 0;
  {
    const QuietKernelErrors quiet;  // "exclusivity flag on, cannot modify" = it exists already
    qerr = bpf_tc_hook_create(&qdisc);
  }
  if (qerr != 0 && qerr != -EEXIST)
    return make_error(qerr, "cannot create a clsact qdisc on ifindex {}", ifindex);
  hooks->created_qdisc_ = qerr == 0;

  // What is in podpath's slot: nothing, a killed run's podpath filter (replaced only under
  // the slot's lock), or another owner's filter (an error that names it).
  for (bool ingress : {true, false}) {
    auto found = slot_filter(ifindex, ingress, slot);
    if (!found) {
      (void)hooks->detach();
      return found.error();
    }
    if (!*found) continue;
    const SlotFilter& f = **found;
    if (options.replace_stale && is_podpath_program_name(f.prog_name)) {
      if (auto r = detach_filter(ifindex, ingress, slot); !r) {
        (void)hooks->detach();
        return r.error();
      }
      ++hooks->replaced_stale_;
      continue;
    }
    (void)hooks->detach();
    return make_error(
        0,
        "its TC {} hook already has a filter in podpath's slot (priority {}, handle {:#x}): BPF "
        "program '{}' (id {}), {}; podpath never replaces a filter it cannot prove is its own: "
        "run podpath with another --tc-priority, or with --attach tcx",
        direction(ingress), slot.priority, slot.handle, f.prog_name.empty() ? "?" : f.prog_name, f.prog_id,
        is_podpath_program_name(f.prog_name)
            ? "a podpath program that another podpath may still own (podpath cleanup removes a "
              "killed run's)"
            : "not podpath's");
  }

  if (options.before_filters) options.before_filters(*hooks);
  for (bool ingress : {true, false}) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = ingress ? progs.ingress : progs.egress, .handle = slot.handle,
                .priority = slot.priority);
    hooks->attached_ = true;  // from here detach() has something to look for
    if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
      (void)hooks->detach();
      return make_error(err, "cannot attach podpath's TC {} filter on ifindex {}", direction(ingress),
                        ifindex);
    }
  }
  return hooks;
}

InterfaceHooks::~InterfaceHooks() {
  // tcx links detach when their fds close (Fd members). Classic filters need detach() in
  // the right namespace, which the owner of these hooks calls (loader::Loader); a killed
  // run's are removed by the next run in its slot, or by `podpath cleanup`.
  if (attached_ && mode_ == AttachMode::Clsact) {
    spdlog::debug("ifindex {}: classic TC filters left in place (not detached)", ifindex_);
  }
}

void InterfaceHooks::abandon() {
  attached_ = false;
  ingress_link_.reset();
  egress_link_.reset();
}

Result<void> InterfaceHooks::detach() {
  if (!attached_) {
    // Nothing attached; but a qdisc podpath created for an attach that then failed goes.
    if (mode_ == AttachMode::Clsact && created_qdisc_) {
      created_qdisc_ = false;
      if (auto r = destroy_qdisc_if_empty(ifindex_, false); !r) return r.error();
    }
    return {};
  }
  if (mode_ == AttachMode::Tcx) {
    ingress_link_.reset();
    egress_link_.reset();
    attached_ = false;
    return {};
  }
  auto removed =
      remove_leftover_filters(ifindex_, slot_, ingress_prog_id_, egress_prog_id_, created_qdisc_, false);
  if (!removed) return removed.error();
  attached_ = false;
  if (created_qdisc_ && !removed->qdisc_removed) {
    spdlog::info("ifindex {}: keeping the clsact qdisc podpath created: {} other filter(s) use it", ifindex_,
                 removed->qdisc_users);
  }
  created_qdisc_ = false;
  return {};
}

}  // namespace podpath::bpf
