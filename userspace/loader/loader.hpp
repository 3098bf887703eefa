#pragma once
/// @file
/// @brief The loader: loads the datapath, attaches it to the pod bridge, every pod veth
/// enslaved to it and the uplink in one or several network namespaces, follows veths
/// that come and go (netlink link notifications), and detaches everything it attached
/// — and nothing else — when it stops.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/attach.hpp"
#include "bpf/datapath.hpp"
#include "bpf/features.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "loader/slot_lock.hpp"
#include "model/cluster.hpp"
#include "net/link_monitor.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief What to watch in one network namespace (one node).
struct NodeTarget {
  std::string node;    ///< node name
  std::string netns;   ///< namespace name or path; "" = podpath's own (a real node's host namespace)
  std::string bridge;  ///< pod bridge; "" = detect (cbr0, then cni0)
  std::string uplink;  ///< uplink; "" = the interface of the default route
  std::vector<std::string> extra;  ///< glob patterns of further interfaces to watch (--iface)
};

/// @brief Loader tunables.
struct LoaderOptions {
  std::optional<bpf::AttachMode> attach_mode;  ///< default: tcx where the kernel has it, else clsact
  std::optional<bpf::NetnsIdMode> netns_mode;  ///< default: what the kernel supports
  bpf::TcSlot slot;                            ///< classic TC priority/handle
  bpf::DatapathOptions datapath;               ///< map sizes etc. (netns_mode is overridden)
  /// @brief Becomes true (a signal) to interrupt attaching: start() then removes what it
  /// attached and fails. Must outlive the loader.
  const std::atomic<bool>* cancel = nullptr;
  /// @brief Namespaces attached in parallel (each by one thread); 0 = default.
  unsigned attach_threads = 0;
};

/// @brief One interface podpath attached to.
struct AttachedInterface {
  std::string node;
  std::string netns;
  std::uint64_t netns_cookie = 0;
  std::uint32_t ifindex = 0;
  std::string name;
  model::InterfaceRole role = model::InterfaceRole::Other;
  std::string pod;  ///< pod display name, for pod veths whose pod is known
};

/// @brief Owns the datapath and every attachment. Not thread-safe: call it from one thread
/// (it uses threads of its own to attach in several namespaces at once).
class Loader {
 public:
  /// @brief Probes the kernel, loads the datapath, attaches in every target namespace and
  /// starts watching their links. `cluster` names the pods behind veths (may be updated
  /// later with set_cluster). Fails with one sentence naming the cause and what to do.
  static Result<std::unique_ptr<Loader>> start(std::vector<NodeTarget> targets, const LoaderOptions& options,
                                               const model::Cluster& cluster);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// @brief Detaches everything podpath attached (idempotent).
  Result<void> stop();

  /// @brief Nodes whose network namespace is gone: its name leads nowhere now, or to another
  /// namespace (the lab was recreated). Their attachments went with the namespace.
  [[nodiscard]] std::vector<std::string> gone_nodes() const;
  /// @brief Lets go of a node whose namespace is gone: removes what podpath attached there
  /// and stops watching it, so that podpath no longer holds the namespace alive.
  void release(const std::string& node);
  /// @brief Attaches node `target.node` anew where its namespace name leads now: what was
  /// attached in the old namespace is removed, its links are watched instead, and its
  /// interfaces are attached as at start. Returns the number of interfaces attached.
  Result<std::size_t> reattach(const NodeTarget& target);

  /// @brief Handles link notifications that arrived (attaches new pod veths, forgets
  /// removed interfaces), waiting up to `timeout`. Returns the number of link events.
  Result<int> poll_links(std::chrono::milliseconds timeout);
  /// @brief File descriptors that become readable when poll_links has work.
  [[nodiscard]] std::vector<int> link_fds() const;

  /// @brief Replaces the cluster used to name pods (e.g. the lab inventory changed).
  void set_cluster(const model::Cluster& cluster);
  /// @brief Loads the CIDR table into the datapath's classifier. Pod CIDRs of the nodes
  /// in `counted_at_source` are counted into the matrix where packets leave their pods;
  /// traffic from other pod CIDRs is counted where it enters over an uplink.
  Result<void> set_cidrs(const inventory::CidrTable& table,
                         const std::vector<std::string>& counted_at_source);

  [[nodiscard]] bpf::Datapath& datapath() { return *datapath_; }
  [[nodiscard]] const bpf::Datapath& datapath() const { return *datapath_; }
  [[nodiscard]] bpf::AttachMode attach_mode() const { return mode_; }
  [[nodiscard]] const bpf::Features& features() const { return features_; }
  [[nodiscard]] const std::vector<NodeTarget>& targets() const { return targets_; }
  /// @brief The target of a node (nullptr if not watched).
  [[nodiscard]] const NodeTarget* target(const std::string& node) const;
  /// @brief Every attached interface, by node then name.
  [[nodiscard]] std::vector<AttachedInterface> interfaces() const;
  /// @brief The cookie of a target's namespace.
  [[nodiscard]] std::uint64_t netns_cookie(const std::string& node) const;
  /// @brief The watched interfaces as the path composer wants them.
  [[nodiscard]] std::map<flows::InterfaceRef, flows::ObservedInterface> observed_interfaces() const;
  /// @brief "tcx, 9 interfaces on 2 nodes (kern-ctx netns ids)".
  [[nodiscard]] std::string describe() const;

 private:
  class OwnedHooks;
  struct Attachment {
    AttachedInterface info;
    std::unique_ptr<OwnedHooks> hooks;
  };
  struct TargetState {
    NodeTarget target;
    std::uint64_t cookie = 0;
    std::shared_ptr<const Fd> netns_fd;  // the namespace attached in, reached even after its name goes
    std::uint64_t netns_inode = 0;       // its identity (net::netns_inode)
    std::vector<std::string> bridge_candidates;
    std::string uplink;                // resolved uplink name ("" if none)
    std::uint32_t bridge_ifindex = 0;  // 0 while no bridge exists
  };
  /// An interface to attach to.
  /// A namespace's program pairs: for Ethernet devices, and for L3 devices (tun, WireGuard,
  /// ipip) whose packets start at the IP header.
  struct NamespacePrograms {
    bpf::ProgramPair ethernet;
    bpf::ProgramPair l3;
    [[nodiscard]] const bpf::ProgramPair& for_layer(bpf::LinkLayer layer) const {
      return layer == bpf::LinkLayer::None ? l3 : ethernet;
    }
  };
  struct Planned {
    net::Link link;
    model::InterfaceRole role = model::InterfaceRole::Other;
  };
  /// What one namespace's attach produced, finished on the loader's thread.
  struct Batch;

  Loader() = default;
  [[nodiscard]] bool cancelled() const { return options_.cancel != nullptr && options_.cancel->load(); }
  Result<void> open_target(TargetState& state);
  /// Attaches in every state in `states` (in parallel), then records the attachments.
  Result<std::size_t> attach_targets(const std::vector<TargetState*>& states);
  /// In the state's namespace: lists its links when `given` is empty, attaches to each
  /// interface podpath watches (or to those given).
  Batch attach_batch(TargetState& state, const NamespacePrograms& progs, std::vector<Planned> given);
  Result<NamespacePrograms> programs_of(std::uint64_t cookie);
  Result<std::size_t> finish_batch(TargetState& state, Batch& batch);
  void on_link_event(const net::LinkEvent& event);
  /// The role `link` has for `state`, or nullopt when podpath does not watch it.
  std::optional<model::InterfaceRole> role_of(const TargetState& state, const net::Link& link) const;
  void forget(TargetState& state, std::uint32_t ifindex, bool interface_gone);
  /// Detaches every attachment of `state` (all of them when null), one namespace hop each.
  std::vector<std::string> detach_all(const TargetState* state);
  std::string pod_for_veth(const std::string& node, const std::string& veth) const;
  TargetState* state_for_netns(const std::string& netns);
  TargetState* state_for_node(const std::string& node);

  bpf::Features features_;
  bpf::AttachMode mode_ = bpf::AttachMode::Clsact;
  LoaderOptions options_;
  std::vector<NodeTarget> targets_;
  std::vector<TargetState> states_;
  model::Cluster cluster_;
  std::unique_ptr<bpf::Datapath> datapath_;
  std::unique_ptr<net::LinkMonitor> monitor_;
  std::map<std::pair<std::uint64_t, std::uint32_t>, Attachment> attachments_;  // (cookie, ifindex)
  SlotLock slot_lock_;  // clsact mode: held while podpath owns its TC priority (loader/slot_lock.hpp)
  bool stopped_ = false;
};

/// @brief Targets for every node of a cluster (lab: each node's namespace; a discovered
/// node: the host namespace), with the user's overrides applied.
std::vector<NodeTarget> targets_for(const model::Cluster& cluster, const std::string& bridge_override,
                                    const std::string& uplink_override,
                                    const std::vector<std::string>& extra);

}  // namespace podpath::loader
