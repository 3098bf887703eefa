#pragma once
/// @file
/// @brief Correlation: which probe was seen where. The datapath counts packets per
/// (observation point, flow key); every probe has a flow key of its own, so a probe's
/// records are its hops. This turns those records into each direction's path (expected
/// hops from the routes, each marked seen/not seen, with the number of probes and the
/// median latency per hop), and the drop tracker's records into findings per place.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bpf/drops.hpp"
#include "check/evidence.hpp"
#include "flows/flow_store.hpp"
#include "flows/path.hpp"
#include "model/flow.hpp"

namespace podpath::check {

/// @brief The flow keys of some probes: each request's, and the reversed key its answer
/// flows back under (in the same order).
struct ProbeKeys {
  std::vector<model::FlowKey> request;
  std::vector<model::FlowKey> reply;
};
ProbeKeys probe_keys(const std::vector<ProbeOutcome>& probes);

/// @brief A direction a NAT translated on its way (kube-proxy's DNAT to a Service backend, or
/// its reverse on the reply): each probe's key after the translation, and one probe's
/// translation with who made it (the hop after which it happened shows it, as in trace).
struct NatJoin {
  std::vector<model::FlowKey> translated;  ///< parallel to the keys: probe i's key after the translation
  model::NatRecord nat;                    ///< the first probe's translation
  flows::NatExplanation why;
};

/// @brief Every point of every flow in `flows` as a flow record (what correlate_path reads):
/// a local session's aggregator, or the agents' halves joined (check --cluster).
std::vector<model::FlowRecord> store_records(const flows::FlowStore& flows);

/// @brief The path of one direction: `keys[i]` is probe i's flow key in that direction
/// (the request's, or its reversed() for the reply); `records` may hold anything, only
/// the probes' keys are used. `from`/`to` are the direction's source and destination.
/// With `nat`, a probe's records under its translated key count for it too, and the hop
/// where the translation happened carries it (Hop::nat).
PathReport correlate_path(const std::vector<model::FlowKey>& keys,
                          const std::vector<model::FlowRecord>& records, const flows::Endpoint& from,
                          const flows::Endpoint& to, const flows::Topology& topology,
                          const NatJoin* nat = nullptr);

/// @brief Names a network namespace by cookie; PlaceKind::Unknown when it is not the cluster's.
using Placer = std::function<Place(std::uint64_t netns_cookie)>;
/// @brief Symbolises a kernel address ("nf_hook_slow+0x5c").
using Symbolizer = std::function<std::string(std::uint64_t address)>;

/// @brief Which drop records count.
struct DropFilter {
  bool cluster_only = true;         ///< ignore namespaces outside the cluster
  std::string request_destination;  ///< Place::name of the request's destination
  std::string reply_destination;    ///< Place::name of the reply's destination (the source)
};

/// @brief The drops of the probed flows, grouped by (place, device, reason, function,
/// direction), in order of first occurrence. Events whose key is neither a request key
/// nor a reply key are ignored, and so are benign ones (benign_drop) and, per `filter`,
/// those outside the cluster.
std::vector<DropFinding> correlate_drops(const std::vector<bpf::DropEvent>& events,
                                         const std::vector<model::FlowKey>& request_keys,
                                         const std::vector<model::FlowKey>& reply_keys, const Placer& place,
                                         const Symbolizer& symbolize, const DropFilter& filter);

/// @brief True for drops that are no network failure: an ICMP message refused by a local
/// socket (SOCKET_FILTER, NO_SOCKET; on kernels without reasons: freed in raw_rcv,
/// ping_rcv, icmp_rcv), as every echo reply to a raw-socket ping is; and a frame that
/// reached a host it was not addressed to (OTHERHOST: a copy a bridge flooded while it
/// did not know where the destination MAC lives) anywhere but at `destination`.
bool benign_drop(const bpf::DropEvent& event, const std::string& function, const Place& where,
                 const std::string& destination);

}  // namespace podpath::check
