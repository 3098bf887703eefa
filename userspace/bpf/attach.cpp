#include "bpf/attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_sched.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <memory>
#include <string_view>

namespace podpath::bpf {
namespace {

// Linux 6.6 UAPI values (Debian 12's headers predate tcx).
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;
constexpr std::uint32_t kBpfFBefore = 1U << 3;

bpf_tc_attach_point to_tc_point(bool ingress) { return ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }

/// Name of the program behind a filter at `slot`, or empty when the slot is free.
Result<std::string> filter_program_name(int ifindex, bool ingress, const TcSlot& slot) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = slot.handle, .priority = slot.priority);
  const int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return std::string();  // no filter, or no clsact qdisc
  if (err != 0) return make_error(err, "cannot query TC filters on ifindex {}", ifindex);
  const int fd = bpf_prog_get_fd_by_id(opts.prog_id);
  if (fd < 0) return make_error(errno, "cannot inspect BPF program {} on ifindex {}", opts.prog_id, ifindex);
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  const int ierr = bpf_obj_get_info_by_fd(fd, &info, &len);
  close(fd);
  if (ierr != 0) return make_error(ierr, "cannot inspect BPF program {}", opts.prog_id);
  std::string name(info.name);
  return name.empty() ? std::string("id ") + std::to_string(opts.prog_id) : name;
}

Result<void> detach_filter(int ifindex, bool ingress, const TcSlot& slot) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = slot.handle, .priority = slot.priority);
  const int err = bpf_tc_detach(&hook, &opts);
  if (err != 0 && err != -ENOENT && err != -EINVAL && err != -ENODEV) {
    return make_error(err, "cannot remove podpath's {} TC filter from ifindex {}",
                      ingress ? "ingress" : "egress", ifindex);
  }
  return {};
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

/// Whether the interface has a clsact qdisc (asked before querying filters, so that the
/// kernel has no reason to complain about a missing parent).
Result<bool> has_clsact_qdisc(int ifindex) {
  auto sock = route_socket();
  if (!sock) return sock.error();
  nl_cache* raw = nullptr;
  if (int err = rtnl_qdisc_alloc_cache(sock->get(), &raw); err < 0) {
    return make_error(EIO, "cannot list qdiscs: {}", nl_geterror(err));
  }
  std::unique_ptr<nl_cache, NlCacheDeleter> cache(raw);
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* tc = TC_CAST(o);
    const char* kind = rtnl_tc_get_kind(tc);
    if (rtnl_tc_get_ifindex(tc) == ifindex && kind != nullptr && std::string_view(kind) == "clsact")
      return true;
  }
  return false;
}

}  // namespace

const char* to_string(AttachMode mode) { return mode == AttachMode::Tcx ? "tcx" : "clsact"; }

bool is_podpath_program_name(const std::string& name) { return name.rfind("pp_tc_", 0) == 0; }

Result<int> remove_stale_filters(int ifindex, const TcSlot& slot) {
  auto clsact = has_clsact_qdisc(ifindex);
  if (!clsact) return clsact.error();
  if (!*clsact) return 0;
  int removed = 0;
  for (bool ingress : {true, false}) {
    auto name = filter_program_name(ifindex, ingress, slot);
    if (!name) return name.error();
    if (name->empty()) continue;
    if (!is_podpath_program_name(*name)) continue;  // not ours: leave it
    if (auto r = detach_filter(ifindex, ingress, slot); !r) return r.error();
    ++removed;
  }
  return removed;
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

Result<std::unique_ptr<InterfaceHooks>> InterfaceHooks::attach(AttachMode mode, int ifindex,
                                                               const ProgramPair& progs, const TcSlot& slot,
                                                               bool remove_stale) {
  std::unique_ptr<InterfaceHooks> hooks(new InterfaceHooks(mode, ifindex, slot));

  // Whatever the mode, a podpath filter left in the classic slot by a killed run goes
  // (the caller holds the slot lock, so no live podpath uses it).
  if (remove_stale) {
    auto stale = remove_stale_filters(ifindex, slot);
    if (!stale) return stale.error();
    if (*stale > 0) {
      spdlog::info("ifindex {}: replaced {} stale podpath TC filter(s) from an earlier run", ifindex, *stale);
    }
  }

  if (mode == AttachMode::Tcx) {
    for (bool ingress : {true, false}) {
      LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = kBpfFBefore);
      const int fd =
          bpf_link_create(ingress ? progs.ingress : progs.egress, ifindex,
                          static_cast<bpf_attach_type>(ingress ? kBpfTcxIngress : kBpfTcxEgress), &opts);
      if (fd < 0) {
        return make_error(fd, "cannot attach podpath to the tcx {} hook of ifindex {}",
                          ingress ? "ingress" : "egress", ifindex);
      }
      (ingress ? hooks->ingress_link_ : hooks->egress_link_).reset(fd);
    }
    hooks->attached_ = true;
    return hooks;
  }

  LIBBPF_OPTS(bpf_tc_hook, qdisc, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  const int qerr = bpf_tc_hook_create(&qdisc);
  if (qerr != 0 && qerr != -EEXIST)
    return make_error(qerr, "cannot create a clsact qdisc on ifindex {}", ifindex);
  hooks->created_qdisc_ = qerr == 0;

  for (bool ingress : {true, false}) {
    auto owner = filter_program_name(ifindex, ingress, slot);
    if (!owner) return owner.error();
    if (!owner->empty()) {
      // Stale podpath filters were removed above, so this one is foreign.
      (void)hooks->detach();
      return make_error(EEXIST,
                        "ifindex {} already has a TC {} filter at priority {} handle {:#x} (program {}); "
                        "podpath will not replace another owner's filter: choose another --tc-priority",
                        ifindex, ingress ? "ingress" : "egress", slot.priority, slot.handle, *owner);
    }
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = to_tc_point(ingress));
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = ingress ? progs.ingress : progs.egress, .handle = slot.handle,
                .priority = slot.priority);
    if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
      hooks->attached_ = true;
      (void)hooks->detach();
      return make_error(err, "cannot attach podpath's TC {} filter on ifindex {}",
                        ingress ? "ingress" : "egress", ifindex);
    }
    hooks->attached_ = true;
  }
  return hooks;
}

InterfaceHooks::~InterfaceHooks() {
  // tcx links detach when their fds close (Fd members). Classic filters need detach() in
  // the right namespace; if it was not called they stay until the next start replaces them.
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
  if (!attached_) return {};
  if (mode_ == AttachMode::Tcx) {
    ingress_link_.reset();
    egress_link_.reset();
    attached_ = false;
    return {};
  }
  for (bool ingress : {true, false}) {
    auto owner = filter_program_name(ifindex_, ingress, slot_);
    if (!owner) return owner.error();
    if (owner->empty() || !is_podpath_program_name(*owner)) continue;  // never remove others'
    if (auto r = detach_filter(ifindex_, ingress, slot_); !r) return r;
  }
  attached_ = false;
  if (created_qdisc_) {
    auto left = count_clsact_filters(ifindex_);
    if (left && *left == 0) {
      LIBBPF_OPTS(bpf_tc_hook, qdisc, .ifindex = ifindex_,
                  .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
      const int err = bpf_tc_hook_destroy(&qdisc);
      if (err != 0 && err != -ENOENT && err != -EINVAL) {
        return make_error(err, "cannot remove the clsact qdisc podpath created on ifindex {}", ifindex_);
      }
    } else if (left) {
      spdlog::info("ifindex {}: keeping the clsact qdisc podpath created: {} other filter(s) use it",
                   ifindex_, *left);
    }
  }
  return {};
}

}  // namespace podpath::bpf
