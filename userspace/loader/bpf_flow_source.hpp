#pragma once
/// @file
/// @brief The flow aggregator's source in a live session: the datapath's flows map.

#include "bpf/datapath.hpp"
#include "flows/aggregator.hpp"

namespace podpath::loader {

/// @brief Reads and expires flow entries in the datapath's flows map.
class BpfFlowSource final : public flows::FlowSource {
 public:
  explicit BpfFlowSource(bpf::Datapath& datapath) : datapath_(datapath) {}
  Result<std::vector<model::FlowRecord>> read() override { return datapath_.read_flows(); }
  Result<void> remove(const std::vector<flows::PointKey>& entries) override;
  Result<std::vector<model::NatRecord>> read_nat() override { return datapath_.read_nat(); }
  Result<void> remove_nat(const std::vector<model::NatRecord>& records) override {
    return datapath_.delete_nat(records);
  }

 private:
  bpf::Datapath& datapath_;
};

}  // namespace podpath::loader
