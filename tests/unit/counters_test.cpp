// The BPF programs' health counters by name: every counter named once, sums by kind.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "bpf/counters.hpp"

using podpath::bpf::CgroupCounter;
using podpath::bpf::CgroupCounters;
using podpath::bpf::CounterSet;
using podpath::bpf::DropCounter;
using podpath::bpf::DropCounters;
using podpath::bpf::FlowCounter;
using podpath::bpf::FlowCounters;

namespace {

template <typename Counter> std::set<std::string> names() {
  std::set<std::string> out;
  for (const Counter c : CounterSet<Counter>::all()) {
    const std::string name = podpath::bpf::counter_name(c);
    EXPECT_NE(name, "unknown") << static_cast<int>(c);
    EXPECT_FALSE(name.empty());
    out.insert(name);
  }
  return out;
}

}  // namespace

TEST(Counters, EveryCounterHasItsOwnStableName) {
  EXPECT_EQ(names<FlowCounter>().size(), FlowCounters::kSize);
  EXPECT_EQ(names<CgroupCounter>().size(), CgroupCounters::kSize);
  EXPECT_EQ(names<DropCounter>().size(), DropCounters::kSize);
  // Names are JSON keys and `debug dump` lines: they never change.
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::EventsLost), "events_lost_ringbuf_full");
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::HeadersPulled), "headers_pulled");
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::GsoSkbs), "gso_skbs");
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::FlowRecycled), "flow_recycled");
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::ChangeLogFull), "change_log_full");
  EXPECT_STREQ(podpath::bpf::counter_name(CgroupCounter::GsoSkbs), "gso_skbs");
  EXPECT_STREQ(podpath::bpf::counter_name(DropCounter::NotDrop), "not_drops");
  EXPECT_STREQ(podpath::bpf::counter_name(FlowCounter::Count), "unknown");
}

TEST(Counters, AllListsThemInTheKernelsOrder) {
  const auto all = FlowCounters::all();
  ASSERT_EQ(all.size(), FlowCounters::kSize);
  EXPECT_EQ(all.front(), FlowCounter::Packets);
  EXPECT_EQ(all.back(), FlowCounter::ChangeLogFull);
  std::array<std::uint64_t, FlowCounters::kSize> raw{};
  raw[static_cast<std::size_t>(FlowCounter::NewFlows)] = 7;
  const FlowCounters c(raw);
  EXPECT_EQ(c[FlowCounter::NewFlows], 7u);
  EXPECT_EQ(c[FlowCounter::Packets], 0u);
}

TEST(Counters, ParseErrorsSumEveryKindAndNothingElse) {
  FlowCounters c;
  for (const FlowCounter k : FlowCounters::all()) c[k] = 1;
  // EthTruncated .. TcpBadOffset: ten kinds.
  EXPECT_EQ(podpath::bpf::parse_errors(c), 10u);
  c[FlowCounter::L4Truncated] = 5;
  EXPECT_EQ(podpath::bpf::parse_errors(c), 14u);
}

TEST(Counters, InsertFailuresAreEveryEntryTheMapRefused) {
  CgroupCounters c;
  c[CgroupCounter::InsertFull] = 1;
  c[CgroupCounter::InsertBusy] = 2;
  c[CgroupCounter::InsertOther] = 4;
  c[CgroupCounter::InsertRace] = 8;
  c[CgroupCounter::NewEntries] = 100;
  c[CgroupCounter::ParseErrors] = 100;
  EXPECT_EQ(podpath::bpf::insert_failures(c), 15u);
}
