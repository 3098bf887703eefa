#pragma once
/// @file
/// @brief The CIDR matrix and the datapath's health counters, as text and JSON.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/counters.hpp"
#include "bpf/datapath.hpp"
#include "inventory/cidrs.hpp"

namespace podpath::output {

/// @brief One matrix row with its CIDRs resolved.
struct MatrixRow {
  const inventory::CidrEntry* src = nullptr;  ///< nullptr: "other"
  const inventory::CidrEntry* dst = nullptr;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

/// @brief Resolves ids through the table and orders rows by packets, busiest first.
std::vector<MatrixRow> matrix_rows(const std::vector<bpf::MatrixCell>& cells,
                                   const inventory::CidrTable& table);
/// @brief "SOURCE CIDR → DESTINATION CIDR  PACKETS  BYTES" table, each CIDR with its label.
std::string render_matrix(const std::vector<MatrixRow>& rows, bool color);
/// @brief [{"src":{"cidr","label","kind","node"},"dst":{…},"packets","bytes"}].
nlohmann::json matrix_to_json(const std::vector<MatrixRow>& rows);

/// @brief What the datapath lost: new-flow events (ring buffer full) and flows its map
/// refused (full, busy, another error, a lost race). Not zero means the user should look.
std::uint64_t datapath_losses(const bpf::FlowCounters& counters);
/// @brief One line: "health: 0 events lost, 0 flow-map full, 0 busy, 0 parse errors, 12 new flows";
/// with `evicted` (flows the aggregator evicted under map pressure, since the start) when
/// not 0.
std::string render_health(const bpf::FlowCounters& counters, bool color, std::uint64_t evicted = 0);

/// @brief Every counter by its stable name: {"packets": 12, "parse_ipv4_truncated": 0, ...}.
template <typename Counter> nlohmann::json counters_to_json(const bpf::CounterSet<Counter>& counters) {
  nlohmann::json out = nlohmann::json::object();
  for (const Counter c : bpf::CounterSet<Counter>::all()) out[bpf::counter_name(c)] = counters[c];
  return out;
}
/// @brief The datapath's health counters by name (the "health" object of trace and matrix).
inline nlohmann::json health_to_json(const bpf::FlowCounters& counters) { return counters_to_json(counters); }

}  // namespace podpath::output
