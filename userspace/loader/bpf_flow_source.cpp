#include "loader/bpf_flow_source.hpp"

namespace podpath::loader {

namespace {

// How far before the previous read's start a changed-entries read looks. An entry's last_seen
// is the programs' clock when its packet arrived: CLOCK_MONOTONIC_COARSE lags the clock read
// here by up to a tick (10 ms at HZ=100), and the packet's counters are added a few
// microseconds after that clock was read, possibly after the previous read passed the entry.
// Entries seen again within the margin are compared and found idle: cheap.
constexpr std::uint64_t kChangeMarginNs = 100'000'000;

// With the map iterator, a read costs a walk of every entry plus a copy-out of each changed
// one. Here a refresh of 1 M entries that all changed took 589-678 ms through the iterator
// against 446-482 ms through batch lookups of every entry, while the walk alone (nothing
// changed) takes 120 ms (docs/datapath.md): the iterator stops paying at roughly a third of
// the entries changed. So after a read where more than a third changed, the next one uses
// batch lookups, and the one after a quieter read the iterator again; full reads always use
// batch lookups. Either way hands over the same entries.
bool busy(std::size_t changed, std::uint64_t held) { return changed * 3 > held; }

}  // namespace

Result<void> BpfFlowSource::read(const flows::RecordSink& sink) {
  const std::uint64_t start = bpf::Datapath::flow_clock_ns();
  // A new epoch and a drain first, as for a changed read: the keys drained now are looked up
  // again by the next changed read (its carry), which then misses nothing counted after this
  // read passed an entry.
  if (auto d = datapath_.drain_change_log(); !d) return d.error();
  if (auto r = datapath_.read_flows(sink, 0, true); !r) return r.error();
  last_read_ns_ = start;
  last_path_ = ReadPath::Full;
  return {};
}

Result<flows::ChangedRead> BpfFlowSource::read_changed(const flows::RecordSink& sink) {
  if (last_read_ns_ == 0) {  // nothing read yet: everything is a change
    if (auto r = read(sink); !r) return r.error();
    return flows::ChangedRead{};
  }
  const std::uint64_t start = bpf::Datapath::flow_clock_ns();
  auto drain = datapath_.drain_change_log();
  if (!drain) return drain.error();
  if (drain->usable) {
    auto handed = datapath_.read_logged(sink);
    if (!handed) return handed.error();
    last_read_ns_ = start;
    last_path_ = ReadPath::Log;
    batch_next_ = false;
    return flows::ChangedRead{false, static_cast<std::size_t>(drain->held)};
  }
  // Walk: no log (LRU), records lost (the log-full counter grew), or too many keys to pay.
  const std::uint64_t since = last_read_ns_ > kChangeMarginNs ? last_read_ns_ - kChangeMarginNs : 1;
  std::size_t handed = 0;
  auto held = datapath_.read_flows(
      [&](std::span<const model::FlowRecord> batch) {
        handed += batch.size();
        sink(batch);
      },
      since, batch_next_);
  if (!held) return held.error();
  last_read_ns_ = start;
  last_path_ = batch_next_ || !datapath_.reads_changed_in_kernel() ? ReadPath::Batch : ReadPath::Iterator;
  batch_next_ = datapath_.reads_changed_in_kernel() && busy(handed, *held);
  return flows::ChangedRead{false, static_cast<std::size_t>(*held)};
}

Result<void> BpfFlowSource::remove(const std::vector<flows::PointKey>& entries) {
  std::vector<bpf::FlowId> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) ids.push_back({e.point, e.key});
  return datapath_.delete_flows(ids);
}

}  // namespace podpath::loader
