#include "loader/leftovers.hpp"

#include <fmt/format.h>
#include <net/if.h>

#include <cerrno>
#include <map>
#include <variant>

#include "bpf/attach.hpp"
#include "bpf/cgroup_datapath.hpp"
#include "loader/journal.hpp"
#include "loader/slot_lock.hpp"
#include "net/netns.hpp"
#include "util/fd.hpp"

namespace podpath::loader {
namespace {

/// The lock of each classic TC priority met so far, or why it could not be taken.
using SlotLocks = std::map<std::uint16_t, std::variant<SlotLock, std::string>>;

const char* verb(const CleanupOptions& o) { return o.dry_run ? "would remove" : "removed"; }

std::string where(const TcRecord& r) {
  return fmt::format("{} (ifindex {}) in {}{}", r.ifname, r.ifindex, net::netns_display(r.netns),
                     r.node.empty() ? "" : fmt::format(", node {}", r.node));
}

/// Why podpath may not touch priority `priority` now; "" when it holds its lock.
std::string slot_refusal(std::uint16_t priority, const CleanupOptions& o, SlotLocks& locks) {
  if (o.held_priority) return *o.held_priority == priority ? "" : "not this run's priority";
  auto it = locks.find(priority);
  if (it == locks.end()) {
    auto lock = lock_tc_slot(priority, SlotHold::Brief, o.dir);
    it = lock ? locks.emplace(priority, std::move(*lock)).first
              : locks.emplace(priority, lock.error().to_string()).first;
  }
  const auto* why = std::get_if<std::string>(&it->second);
  return why != nullptr ? *why : "";
}

/// The two passes over dead runs' TC records: every run's filters first, then the qdiscs
/// runs created, so that a qdisc that only another dead run's filters kept is removed too.
enum class TcPass { Filters, Qdiscs };

/// True when nothing of `r` is left to clean in this pass (removed, or gone with its
/// interface). A qdisc the run created that other filters still use stays recorded: a later
/// cleanup removes it once it is empty.
bool clean_tc(const TcRecord& r, TcPass pass, int pid, const CleanupOptions& o, SlotLocks& locks,
              CleanupReport& report) {
  if (pass == TcPass::Qdiscs && !r.created_qdisc) return true;
  if (!o.tc || (o.held_priority && *o.held_priority != r.priority)) return false;
  const bool first = pass == TcPass::Filters;  // what stops both passes is said once
  if (auto why = slot_refusal(r.priority, o, locks); !why.empty()) {
    if (first)
      report.kept.push_back(
          fmt::format("podpath's TC filters on {} (priority {}, left by pid {}): not touched: {}", where(r),
                      r.priority, pid, why));
    return false;
  }
  auto cookie = net::netns_cookie(r.netns);
  if (!cookie && cookie.error().code != ENOENT) {
    if (first)
      report.failed.push_back(fmt::format("podpath's TC filters on {} (left by pid {}): {}", where(r), pid,
                                          cookie.error().to_string()));
    return false;
  }
  if (!cookie || *cookie != r.netns_cookie) {
    // A named namespace that is gone (or whose name now belongs to a new one) took the
    // interfaces, and their filters, with it.
    if (!r.netns.empty()) return true;
    if (first)
      report.kept.push_back(fmt::format(
          "podpath's TC filters on {} (left by pid {}) are in another network namespace than this one: run "
          "'podpath cleanup' there",
          where(r), pid));
    return false;
  }
  const bpf::TcSlot slot{r.priority, r.handle};
  auto removed = net::in_netns(r.netns, [&]() -> Result<bpf::LeftoverRemoval> {
    char name[IF_NAMESIZE] = {};
    if (::if_indextoname(r.ifindex, name) == nullptr || r.ifname != name) {
      return bpf::LeftoverRemoval{};  // the interface is gone (its index may name another one now)
    }
    return bpf::remove_leftover_filters(static_cast<int>(r.ifindex), slot, r.ingress_prog, r.egress_prog,
                                        pass == TcPass::Qdiscs, o.dry_run);
  });
  if (!removed) {
    if (removed.error().code == ENODEV || removed.error().code == ENXIO) return true;
    report.failed.push_back(fmt::format("podpath's TC filters on {} (left by pid {}): {}", where(r), pid,
                                        removed.error().to_string()));
    return false;
  }
  if (pass == TcPass::Filters) {
    if (removed->filters > 0) {
      report.removed.push_back(
          fmt::format("{} podpath's {} TC filter(s) on {} (priority {}, programs {}/{}), left by pid {}",
                      verb(o), removed->filters, where(r), r.priority, r.ingress_prog, r.egress_prog, pid));
    }
    return true;
  }
  if (removed->qdisc_removed) {
    report.removed.push_back(
        fmt::format("{} the clsact qdisc podpath created on {} (nothing else used it)", verb(o), where(r)));
    return true;
  }
  if (removed->qdisc_users > 0) {
    report.kept.push_back(fmt::format("the clsact qdisc podpath created on {}: {} other filter(s) use it",
                                      where(r), removed->qdisc_users));
    return false;
  }
  return true;
}

bool clean_cgroup(const CgroupRecord& r, int pid, const CleanupOptions& o, CleanupReport& report) {
  if (!o.cgroups) return false;
  auto n = bpf::detach_cgroup_leftovers(r.cgroup, r.ingress_prog, r.egress_prog, o.dry_run);
  if (!n) {
    report.failed.push_back(
        fmt::format("podpath's cgroup programs (left by pid {}): {}", pid, n.error().to_string()));
    return false;
  }
  if (*n > 0) {
    report.removed.push_back(
        fmt::format("{} podpath's {} cgroup program(s) on {} (programs {}/{}), left by pid {}", verb(o), *n,
                    r.cgroup, r.ingress_prog, r.egress_prog, pid));
  }
  return true;
}

}  // namespace

CleanupReport clean_leftovers(const CleanupOptions& options) {
  CleanupReport report;
  auto journals = find_run_journals(options.dir);
  report.live = journals.live;
  for (auto& problem : journals.problems) report.failed.push_back(problem);
  SlotLocks locks;
  std::vector<bool> finished(journals.dead.size(), true);
  for (const auto pass : {TcPass::Filters, TcPass::Qdiscs}) {
    for (std::size_t i = 0; i < journals.dead.size(); ++i) {
      const auto& run = journals.dead[i];
      for (const auto& entry : run.entries) {
        bool done = true;
        if (const auto* tc = std::get_if<TcRecord>(&entry.record)) {
          done = clean_tc(*tc, pass, run.pid, options, locks, report);
        } else if (pass == TcPass::Filters) {
          done = clean_cgroup(std::get<CgroupRecord>(entry.record), run.pid, options, report);
        }
        finished[i] = finished[i] && done;
      }
    }
  }
  for (std::size_t i = 0; i < journals.dead.size(); ++i) {
    ++report.dead_runs;
    if (finished[i] && !options.dry_run) {
      remove_journal(options.dir, journals.dead[i]);
      ++report.finished_runs;
    }
  }
  return report;
}

}  // namespace podpath::loader
