#pragma once
/// @file
/// @brief `podpath check SRC DST --cluster`: the agent on SRC's node sends the probes
/// (POST /v1/check), every other agent reports its half (GET /v1/flows, /v1/drops), and
/// the halves become the same check::Evidence a single process gathers, judged by the same
/// check::diagnose and shown by the same renderers (docs/cluster.md).
///
/// The seam with lab-mode check is the evidence: probes (the agent's outcomes), each
/// direction's path (check::correlate_path over the agents' points joined by
/// cluster::merge_agents, on their routes), the drops of the probes' flows
/// (check::correlate_drops over the agents' drop records), and the kernel state behind the
/// path (check::gather_facts, from the namespaces this client can read).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check/checker.hpp"
#include "cluster/agent_client.hpp"
#include "cluster/merge.hpp"
#include "cluster/view.hpp"
#include "util/result.hpp"

namespace podpath::cluster {

/// @brief What to check: what POST /v1/check takes.
struct ClusterCheckRequest {
  std::string src;  ///< a pod (name or namespace/name)
  std::string dst;  ///< a pod, node or address
  check::Protocol proto = check::Protocol::Icmp;
  std::uint16_t port = 0;
};

/// @brief The probes of a /v1/check answer (`probes[]`), as the prober returned them.
/// Entries that do not parse are an error naming the field.
Result<std::vector<check::ProbeOutcome>> probes_from_answer(const nlohmann::json& answer);

/// @brief An agent's drop records (`/v1/drops`' or the check answer's `drops[]`) as drop
/// events for check::correlate_drops: each record's place gets a cookie of its own in
/// `places` (its Place), and its location string an address in `locations`.
struct AgentDrops {
  std::vector<bpf::DropEvent> events;
  std::map<std::uint64_t, check::Place> places;
  std::vector<std::string> locations;  ///< events[i].location indexes this
};
/// @brief Which records count: those up to `until_ns` (0: all) on the prober's clock, an
/// agent's times moved there through the clock offsets (align_time).
struct DropWindow {
  std::uint64_t until_ns = 0;
  std::int64_t agent_offset_ns = 0;
  std::int64_t prober_offset_ns = 0;
};
/// @brief Adds one agent's records. A record an earlier agent reported too (agents of one
/// kernel each trace every drop: the same flow, place and location within 1 ms) counts once.
void add_agent_drops(AgentDrops& out, const nlohmann::json& drops, const model::Cluster& cluster,
                     const DropWindow& window = {});

/// @brief Hops of a node whose agent cannot be read become HopState::Unknown with the reason
/// ("unknown: agent on node2 unreachable since 03:10:11"), never "not seen".
void mark_unknown(check::PathReport& path, const std::map<std::string, std::string>& unknown);

/// @brief Runs the check through the agents. Errors are one sentence: no agent on SRC's node,
/// its agent unreachable, the agent's refusal (a 429 names when to retry).
Result<check::CheckReport> run_cluster_check(const ClusterViewOptions& options,
                                             const ClusterCheckRequest& request);

}  // namespace podpath::cluster
