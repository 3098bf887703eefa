#include "loader/bpf_flow_source.hpp"

namespace podpath::loader {

Result<void> BpfFlowSource::remove(const std::vector<flows::PointKey>& entries) {
  std::vector<bpf::FlowId> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) ids.push_back({e.point, e.key});
  return datapath_.delete_flows(ids);
}

}  // namespace podpath::loader
