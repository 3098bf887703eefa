#pragma once
/// @file
/// @brief The agent's Prometheus metrics (docs/metrics.md), kept in a prometheus-cpp
/// registry and served in the text exposition format by its serializer.
///
/// Labels are bounded: the node, an interface role, a pod only for its own veth, a
/// direction, a CIDR of the node's CIDR table, a kernel drop reason. No label carries a
/// remote pod, a port or a flow, and a pod's series are removed when its veth goes.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bpf/counters.hpp"
#include "bpf/datapath.hpp"
#include "flows/aggregator.hpp"
#include "inventory/cidrs.hpp"
#include "loader/loader.hpp"
#include "server/snapshot_hub.hpp"

namespace podpath::server {

/// @brief What one refresh gives the metrics.
struct MetricsInputs {
  const flows::FlowStore& flows;
  const std::vector<loader::AttachedInterface>& interfaces;
  const std::vector<bpf::MatrixCell>& matrix;
  const inventory::CidrTable& cidrs;
  const bpf::FlowCounters& counters;
  const bpf::DropCounters* drop_counters = nullptr;  ///< when drops are tracked
  StreamStats streams;
  double refresh_seconds = 0;
};

class AgentMetrics {
 public:
  AgentMetrics(const std::string& node, const std::string& version);
  ~AgentMetrics();
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  /// @brief Main thread, after each refresh: adds what was counted since the previous one
  /// and removes the series of pods whose veth is gone.
  void update(const MetricsInputs& in);
  /// @brief One kernel drop: `reason` ("NETFILTER_DROP"), `role` of the place (docs/metrics.md).
  void count_drop(const std::string& reason, const std::string& role);
  /// @brief A SIGHUP reload, successful or not.
  void count_reload(bool ok);
  /// @brief The text exposition format (any thread).
  [[nodiscard]] std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace podpath::server
