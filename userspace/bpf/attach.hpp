#pragma once
/// @file
/// @brief Attaching the TC programs to one interface, both directions: tcx links where the
/// kernel has them (6.6+), classic clsact filters otherwise.
///
/// Every function here acts on the network namespace of the calling thread: call them
/// from a thread that has entered the interface's namespace.

#include <cstdint>
#include <memory>
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

/// @brief Program names podpath loads; a filter running one of them is podpath's own.
bool is_podpath_program_name(const std::string& name);

/// @brief podpath's programs on one interface, ingress and egress.
class InterfaceHooks {
 public:
  /// @brief Attaches both programs. Classic mode creates the clsact qdisc only if absent;
  /// a foreign filter in podpath's slot is an error naming it. With `remove_stale` (the
  /// caller holds the slot lock, so no live podpath uses the slot) podpath filters left
  /// in the slot by a killed run are removed first, in either mode.
  static Result<std::unique_ptr<InterfaceHooks>> attach(AttachMode mode, int ifindex,
                                                        const ProgramPair& progs, const TcSlot& slot,
                                                        bool remove_stale = true);
  ~InterfaceHooks();
  InterfaceHooks(const InterfaceHooks&) = delete;
  InterfaceHooks& operator=(const InterfaceHooks&) = delete;

  /// @brief Removes what attach() added: the links, or podpath's two filters and — only if
  /// podpath created it and nothing else is left in it — the clsact qdisc.
  Result<void> detach();
  /// @brief Forgets the attachment without touching the kernel (the interface is gone).
  void abandon();

  [[nodiscard]] AttachMode mode() const { return mode_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] bool created_qdisc() const { return created_qdisc_; }

 private:
  InterfaceHooks(AttachMode mode, int ifindex, const TcSlot& slot)
      : mode_(mode), ifindex_(ifindex), slot_(slot) {}

  AttachMode mode_;
  int ifindex_;
  TcSlot slot_;
  bool created_qdisc_ = false;
  bool attached_ = false;
  Fd ingress_link_;
  Fd egress_link_;
};

/// @brief Removes stale podpath filters (from a killed run) at `slot` on an interface;
/// returns how many were removed. Foreign filters are left alone.
Result<int> remove_stale_filters(int ifindex, const TcSlot& slot);

/// @brief Number of filters (any owner) under the clsact qdisc of an interface, both
/// directions; 0 when there is no clsact qdisc.
Result<int> count_clsact_filters(int ifindex);

}  // namespace podpath::bpf
