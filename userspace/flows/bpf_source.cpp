#include "flows/bpf_source.hpp"

namespace podpath::flows {

Result<void> BpfFlowSource::remove(const std::vector<PointKey>& entries) {
  std::vector<bpf::FlowId> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) ids.push_back({e.point, e.key});
  return datapath_.delete_flows(ids);
}

}  // namespace podpath::flows
