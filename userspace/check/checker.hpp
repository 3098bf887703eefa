#pragma once
/// @file
/// @brief `podpath check` end to end: a live session (the datapath on every node) plus the
/// drop tracker; probes sent from inside the source pod, followed hop by hop, explained
/// with drops and kernel state (active mode), or the traffic already flowing judged the
/// same way (passive mode).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/drops.hpp"
#include "check/evidence.hpp"
#include "check/passive.hpp"
#include "check/probe.hpp"
#include "check/service_target.hpp"
#include "check/service_verdict.hpp"
#include "loader/session.hpp"
#include "model/cluster.hpp"
#include "util/kallsyms.hpp"
#include "util/result.hpp"

namespace podpath::check {

/// @brief One end of a check, resolved.
struct Target {
  flows::Endpoint endpoint;
  std::string netns;  ///< where probes are sent from (source only); "" if unknown
};

/// @brief Resolves "name", "namespace/name" or an IP against the cluster. A source must be
/// a pod (or node) whose network namespace is known. Errors are one sentence.
Result<Target> resolve_target(const model::Cluster& cluster, const flows::EndpointResolver& resolver,
                              const std::string& text, bool source);

/// @brief Whether probes from `src` to `dst` can mean anything: the same family, different
/// addresses, and a unicast destination. A loopback, unspecified, multicast or broadcast
/// destination gets one sentence saying why podpath cannot check it (no verdict).
Result<void> check_probe_addresses(const model::IpAddress& src, const model::IpAddress& dst);

/// @brief What the command line says about DST's port and protocol (--port, and --proto when given).
struct DestinationHints {
  std::uint16_t port = 0;
  std::optional<Protocol> proto;
};

/// @brief Resolves every endpoint against the cluster `options` load (the first one as a
/// source when `first_is_source`), without attaching anything: a bad name is one sentence
/// before the datapath loads. Two endpoints with a source are held to check_probe_addresses.
/// A DST that is a Service (resolve_service, with `hints`) is returned, settled; nullopt for
/// a pod, node or address.
Result<std::optional<ServiceTarget>> resolve_endpoints(const loader::SessionOptions& options,
                                                       const std::vector<std::string>& endpoints,
                                                       bool first_is_source,
                                                       const DestinationHints& hints = {});

/// @brief What to probe.
struct CheckRequest {
  std::string src;
  std::string dst;
  Protocol proto = Protocol::Icmp;
  std::uint16_t port = 0;
  int count = 3;
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds timeout{2000};
  std::uint16_t size = 0;  ///< 0 = default
  bool mtu_probe = true;   ///< after a success, one DF echo as large as the source's MTU
};

/// @brief The result of one check.
struct CheckReport {
  Evidence evidence;
  Verdict verdict;
  std::string cluster;  ///< where the inventory came from
  std::string attach;   ///< how podpath attached
  std::string drops;    ///< how drops were tracked
  std::uint64_t duration_ms = 0;
};

/// @brief Connections to a Service (`podpath check POD SERVICE`).
struct ServiceCheckRequest {
  std::string src;
  ServiceTarget target;  ///< settled by resolve_service()
  int connections = 6;
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds timeout{2000};
};

/// @brief The result of a check to a Service.
struct ServiceReport {
  ServiceEvidence evidence;
  ServiceVerdict verdict;
  std::string cluster;
  std::string attach;
  std::string drops;
  std::uint64_t duration_ms = 0;
};

/// @brief What passive mode watches.
struct PassiveRequest {
  std::string src;  ///< "" = every pod
  std::string dst;  ///< "" = any peer
  std::chrono::milliseconds duration{10000};
};

/// @brief The result of passive mode.
struct PassiveReport {
  std::vector<CheckReport> problems;  ///< one per conversation (or dropped flow) with trouble
  std::size_t conversations = 0;      ///< conversations looked at
  std::uint64_t drops_seen = 0;       ///< drop records in the cluster's namespaces
  std::string cluster;
  std::string attach;
  std::string drops;
  std::uint64_t duration_ms = 0;
};

/// @brief A session with drop tracking.
class Checker {
 public:
  /// @brief Starts drop tracking for the session's CIDRs. Drop tracking that cannot start
  /// is a warning (the check runs without kernel drop reasons), not an error.
  static Result<std::unique_ptr<Checker>> start(loader::Session& session, const bpf::DropOptions& options);
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  /// @brief Probes SRC -> DST and judges.
  Result<CheckReport> run(const CheckRequest& request);
  /// @brief Sends the connections to the Service's ClusterIP from inside SRC, finds the
  /// backend kube-proxy's DNAT picked for each (the datapath's NAT records), and judges every
  /// backend on its connections, then the Service (check/service_verdict.hpp).
  Result<ServiceReport> run_service(const ServiceCheckRequest& request);
  /// @brief Watches traffic for the duration (or until `stop`), then judges every
  /// conversation between the selected pods.
  Result<PassiveReport> observe(const PassiveRequest& request, const std::atomic<bool>& stop);

  /// @brief The network namespace with this cookie, named.
  [[nodiscard]] Place place(std::uint64_t netns_cookie) const;

 private:
  explicit Checker(loader::Session& session) : session_(session) {}
  void index_places();
  Result<void> poll_drops(int timeout_ms);
  std::string symbolize(std::uint64_t address);
  std::vector<DropFinding> findings(const std::vector<model::FlowKey>& request,
                                    const std::vector<model::FlowKey>& reply, const flows::Endpoint& src,
                                    const flows::Endpoint& dst);
  /// @brief The Place::name a packet to `e` ends up in.
  [[nodiscard]] static std::string place_name_of(const flows::Endpoint& e);
  std::optional<MtuProbe> probe_mtu(const CheckRequest& request, const Target& src, const Target& dst);
  CheckReport report_for(Evidence evidence) const;
  /// @brief The evidence of some probes from `src` to `dst`: paths, drops and facts. With
  /// `nat` (parallel to the probes: each one's translation), each direction is joined across it.
  Evidence probe_evidence(Protocol proto, std::uint16_t port, std::vector<ProbeOutcome> probes,
                          const flows::Endpoint& src, const flows::Endpoint& dst,
                          const std::vector<model::NatRecord>& nat,
                          const std::vector<model::FlowRecord>& records, const model::Cluster& cluster);
  /// @brief Sends the probes with drop records of their own (earlier ones are dropped), then
  /// waits for stragglers (late answers, drop records). `from` names the source in an error.
  Result<std::vector<ProbeOutcome>> probe_and_settle(const ProbeSpec& spec, const std::string& from);
  /// @brief The flow records run() and observe() correlate: the session refreshed (routes as
  /// they are now), then every point of every flow the aggregator holds.
  Result<std::vector<model::FlowRecord>> flow_records();
  // Passive mode, phase by phase: what to look at, the watch window, the drops of the
  // selected flows, and the judgement of one conversation.
  [[nodiscard]] Result<FlowSelection> selection(const PassiveRequest& request) const;
  Result<void> watch_until(std::chrono::steady_clock::time_point until, const std::atomic<bool>& stop);
  std::set<model::FlowKey> dropped_flows(const FlowSelection& selection, std::uint64_t& drops_seen);
  CheckReport judge_observed(const model::FlowKey& fwd, const flows::Flow* forward,
                             const flows::Flow* reverse, const std::vector<model::FlowRecord>& records);

  loader::Session& session_;
  std::unique_ptr<bpf::DropTracker> tracker_;
  std::string drops_mode_;
  std::vector<bpf::DropEvent> events_;
  std::map<std::uint64_t, Place> places_;
  std::optional<Kallsyms> kallsyms_;
  bool kallsyms_tried_ = false;
};

}  // namespace podpath::check
