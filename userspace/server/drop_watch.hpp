#pragma once
/// @file
/// @brief Kernel drops for a process that watches nodes through a live session: the agent
/// (its own node) and `trace --web` (every node it watches). One piece of code for both:
/// it starts the drop program for the session's CIDRs, names the kernel locations
/// (/proc/kallsyms), learns which network namespace is which node or pod, keeps the drops
/// that arrive before the session's interfaces are known until the next refresh, and places
/// them in a DropLog (GET /v1/drops).
///
/// Construct it while the process may still enter other namespaces and read kernel
/// addresses (CAP_SYS_ADMIN, CAP_SYSLOG): the agent drops those capabilities after attaching.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/drops.hpp"
#include "loader/session.hpp"
#include "server/drop_log.hpp"
#include "util/kallsyms.hpp"

namespace podpath::server {

/// @brief Drops kept for /v1/drops.
inline constexpr std::size_t kDropsKept = 1024;

class DropWatch {
 public:
  /// @brief Called for every drop kept, with its reason ("NETFILTER_DROP"; "unknown" without
  /// one) and where it happened (DropPlacement::role): the metrics' hook.
  using OnKept = std::function<void(const std::string& reason, const std::string& role)>;

  /// @brief Starts tracking for the CIDRs of `session`. `nodes`: the nodes whose drops are
  /// kept; the namespaces of the cluster's other nodes are recognised and left out. `log_node`
  /// names the node of a drop in a namespace podpath cannot name (an agent's own; "" when
  /// several nodes are watched). When the kernel cannot track drops, mode() says why and
  /// nothing is kept.
  DropWatch(const loader::Session& session, std::vector<std::string> nodes, std::string log_node,
            OnKept on_kept = {});
  ~DropWatch();
  DropWatch(const DropWatch&) = delete;
  DropWatch& operator=(const DropWatch&) = delete;

  /// @brief Takes the events waiting in the ring buffer (kept until the next refresh). Call it
  /// a few times a second: the kernel wakes no reader until a quarter of the ring is full.
  void poll();
  /// @brief After session.refresh(): names new pods' namespaces, learns the interfaces, and
  /// places the drops taken since the last refresh.
  void refresh(const loader::Session& session);

  /// @brief The kept drops, newest first, serialised (the body of /v1/drops' "drops").
  [[nodiscard]] std::shared_ptr<const std::vector<std::string>> entries() { return log_.entries(); }
  /// @brief Drops placed since the start.
  [[nodiscard]] std::uint64_t total() const { return log_.total(); }
  /// @brief The program's counters, when it runs.
  [[nodiscard]] std::optional<bpf::DropCounters> counters() const;
  /// @brief "reasons (tp_btf/kfree_skb)", or "not tracked: WHY".
  [[nodiscard]] const std::string& mode() const { return mode_; }

 private:
  void index_places(const loader::Session& session);
  void place(const bpf::DropEvent& e, const loader::Session& session);

  std::vector<std::string> nodes_;
  OnKept on_kept_;
  DropLog log_;
  std::unique_ptr<bpf::DropTracker> tracker_;
  std::optional<Kallsyms> kallsyms_;
  std::vector<bpf::DropEvent> pending_;
  std::string mode_;
  std::size_t places_pods_ = 0;
};

}  // namespace podpath::server
