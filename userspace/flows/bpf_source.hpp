#pragma once
/// @file
/// @brief The FlowSource over the BPF flows map.

#include "bpf/datapath.hpp"
#include "flows/aggregator.hpp"

namespace podpath::flows {

/// @brief Reads and expires flow entries in the datapath's pp_flows map.
class BpfFlowSource final : public FlowSource {
 public:
  explicit BpfFlowSource(bpf::Datapath& datapath) : datapath_(datapath) {}
  Result<std::vector<model::FlowRecord>> read() override { return datapath_.read_flows(); }
  Result<void> remove(const std::vector<PointKey>& entries) override;

 private:
  bpf::Datapath& datapath_;
};

}  // namespace podpath::flows
