#pragma once
/// @file
/// @brief Attaching the TC programs to one interface, both directions: tcx links where the
/// kernel has them (6.6+), classic clsact filters otherwise.
///
/// Every function here acts on the network namespace of the calling thread: call them
/// from a thread that has entered the interface's namespace.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bpf/datapath.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::bpf {

enum class AttachMode {
  Tcx,     ///< BPF links on the tcx hook, placed first; they detach when podpath exits
  Clsact,  ///< classic cls_bpf filters under a clsact qdisc, at podpath's priority/handle
};

const char* to_string(AttachMode mode);

/// @brief Where podpath's classic TC filters sit. Cilium uses priority 1 handle 1: podpath
/// stays away from it by default and never touches a filter it cannot prove is its own.
struct TcSlot {
  std::uint16_t priority = 0x7070;  ///< 28784: after other owners' usual low priorities
  std::uint32_t handle = 0x7070;
};

/// @brief Program names podpath loads. A name alone proves nothing: a filter is this run's
/// own when it runs one of this run's program ids (InterfaceHooks), and a podpath-named
/// filter is stale only where no live podpath may own it (the slot's lock is free).
bool is_podpath_program_name(const std::string& name);

/// @brief The id of a loaded BPF program, read from its fd; 0 when it cannot be read.
std::uint32_t program_id(int prog_fd);

/// @brief The BPF filter found in a classic TC slot.
struct SlotFilter {
  std::uint32_t prog_id = 0;
  std::string prog_name;  ///< "" when the program cannot be inspected
};

/// @brief The BPF filter at `slot` of an interface's ingress or egress hook; nullopt when the
/// slot is free or the interface has no clsact qdisc.
Result<std::optional<SlotFilter>> slot_filter(int ifindex, bool ingress, const TcSlot& slot);

class InterfaceHooks;

/// @brief How InterfaceHooks::attach treats classic TC.
struct AttachOptions {
  /// @brief The caller holds the slot's lock, so no live podpath uses the slot: a podpath
  /// program found there was left by a killed run, and is replaced. Without it, any filter
  /// in the slot is another owner's.
  bool replace_stale = false;
  /// @brief Called once the clsact qdisc is ready and before the filters are attached, so
  /// that the caller can record them first (loader/journal.hpp).
  std::function<void(const InterfaceHooks&)> before_filters;
};

/// @brief podpath's programs on one interface, ingress and egress.
class InterfaceHooks {
 public:
  /// @brief Attaches both programs. tcx mode never looks at classic TC. Classic mode creates
  /// the clsact qdisc only if absent; a filter of another owner in podpath's slot is an
  /// error naming its program (name and id), the slot and what to do.
  static Result<std::unique_ptr<InterfaceHooks>> attach(AttachMode mode, int ifindex,
                                                        const ProgramPair& progs, const TcSlot& slot,
                                                        const AttachOptions& options = {});
  ~InterfaceHooks();
  InterfaceHooks(const InterfaceHooks&) = delete;
  InterfaceHooks& operator=(const InterfaceHooks&) = delete;

  /// @brief Removes what attach() added: the links, or the filters in podpath's slot that run
  /// this attachment's programs (by id) and — only if podpath created it and nothing else is
  /// left in it — the clsact qdisc. Classic mode acts in the calling thread's namespace.
  Result<void> detach();
  /// @brief Forgets the attachment without touching the kernel (the interface is gone).
  void abandon();

  [[nodiscard]] AttachMode mode() const { return mode_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] bool created_qdisc() const { return created_qdisc_; }
  [[nodiscard]] const TcSlot& slot() const { return slot_; }
  [[nodiscard]] std::uint32_t ingress_prog_id() const { return ingress_prog_id_; }
  [[nodiscard]] std::uint32_t egress_prog_id() const { return egress_prog_id_; }
  /// @brief Stale podpath filters (of a killed run) this attach replaced.
  [[nodiscard]] int replaced_stale() const { return replaced_stale_; }

 private:
  InterfaceHooks(AttachMode mode, int ifindex, const TcSlot& slot)
      : mode_(mode), ifindex_(ifindex), slot_(slot) {}

  AttachMode mode_;
  int ifindex_;
  TcSlot slot_;
  bool created_qdisc_ = false;
  bool attached_ = false;
  std::uint32_t ingress_prog_id_ = 0;
  std::uint32_t egress_prog_id_ = 0;
  int replaced_stale_ = 0;
  Fd ingress_link_;
  Fd egress_link_;
};

/// @brief What remove_leftover_filters found and did.
struct LeftoverRemoval {
  int filters = 0;             ///< filters removed (or, dry run, that would be)
  bool qdisc_removed = false;  ///< the clsact qdisc podpath had created was removed
  int qdisc_users = 0;         ///< other filters that keep that qdisc in place
};

/// @brief Removes a killed run's filters from an interface: those at `slot` that run the
/// program with id `ingress_id` (ingress) or `egress_id` (egress), nothing else. Then, when
/// `created_qdisc` (that run created the clsact qdisc) and nothing else is left in it, the
/// qdisc. With `dry_run` only counts. Acts in the calling thread's namespace.
Result<LeftoverRemoval> remove_leftover_filters(int ifindex, const TcSlot& slot, std::uint32_t ingress_id,
                                                std::uint32_t egress_id, bool created_qdisc, bool dry_run);

/// @brief Number of filters (any owner) under the clsact qdisc of an interface, both
/// directions; 0 when there is no clsact qdisc.
Result<int> count_clsact_filters(int ifindex);

}  // namespace podpath::bpf
