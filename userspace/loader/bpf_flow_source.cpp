#include "loader/bpf_flow_source.hpp"

namespace podpath::loader {

namespace {

// How far before the previous read's start a changed-entries read looks. An entry's last_seen
// is the programs' clock when its packet arrived: CLOCK_MONOTONIC_COARSE lags the clock read
// here by up to a tick (10 ms at HZ=100), and the packet's counters are added a few
// microseconds after that clock was read, possibly after the previous read passed the entry.
// Entries seen again within the margin are compared and found idle: cheap.
constexpr std::uint64_t kChangeMarginNs = 100'000'000;

}  // namespace

Result<void> BpfFlowSource::read(const flows::RecordSink& sink) {
  const std::uint64_t start = bpf::Datapath::flow_clock_ns();
  if (auto r = datapath_.read_flows(sink); !r) return r;
  last_read_ns_ = start;
  return {};
}

Result<flows::ChangedRead> BpfFlowSource::read_changed(const flows::RecordSink& sink) {
  if (last_read_ns_ == 0) {  // nothing read yet: everything is a change
    if (auto r = read(sink); !r) return r.error();
    return flows::ChangedRead{};
  }
  const std::uint64_t start = bpf::Datapath::flow_clock_ns();
  const std::uint64_t since = last_read_ns_ > kChangeMarginNs ? last_read_ns_ - kChangeMarginNs : 1;
  auto held = datapath_.read_flows(sink, since);
  if (!held) return held.error();
  last_read_ns_ = start;
  return flows::ChangedRead{false, static_cast<std::size_t>(*held)};
}

Result<void> BpfFlowSource::remove(const std::vector<flows::PointKey>& entries) {
  std::vector<bpf::FlowId> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) ids.push_back({e.point, e.key});
  return datapath_.delete_flows(ids);
}

}  // namespace podpath::loader
