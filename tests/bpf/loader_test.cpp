// BPF tier, real attachments: the loader in a namespace the test creates (three veth pairs,
// nothing leaves it). Who owns what (issue 15): an error after attaching leaves nothing
// behind, a second loader never removes the first one's filters, a foreign filter in
// podpath's slot is named, a signal interrupts attaching.
#include <gtest/gtest.h>
#include <net/if.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "../common/require_root.hpp"
#include "bpf/attach.hpp"
#include "bpf/libbpf_log.hpp"
#include "loader/loader.hpp"
#include "net/netns.hpp"

using podpath::Result;
using podpath::bpf::AttachMode;
using podpath::loader::Loader;
using podpath::loader::LoaderOptions;
using podpath::loader::NodeTarget;

namespace {

constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS (Linux 6.6 UAPI)
constexpr int kTcxEgress = 47;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

/// A priority no real run uses while the tests run (they hold the slot locks of /run/podpath).
std::uint16_t test_priority(int n) { return static_cast<std::uint16_t>(30000 + (::getpid() % 1000) * 4 + n); }

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    podpath::bpf::route_libbpf_log_to_spdlog();  // as podpath does: expected answers stay at debug
    ns_ = "pptest-" + std::to_string(::getpid()) + "-loader";
    ASSERT_EQ(sh("ip netns add " + ns_), 0);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(sh(fmt("ip -n {} link add v{} type veth peer name p{}", ns_, i, i)), 0);
      ASSERT_EQ(sh(fmt("ip -n {} link set v{} up", ns_, i)), 0);
      ASSERT_EQ(sh(fmt("ip -n {} link set p{} up", ns_, i)), 0);
    }
  }
  void TearDown() override {
    if (!ns_.empty()) sh("ip netns del " + ns_);
  }

  template <typename... A> static std::string fmt(const char* f, A&&... a) {
    return ::fmt::format(::fmt::runtime(f), std::forward<A>(a)...);
  }

  [[nodiscard]] std::vector<NodeTarget> targets() const {
    NodeTarget t;
    t.node = "testnode";
    t.netns = ns_;
    t.uplink = "v0";
    t.extra = {"v[12]"};
    return {t};
  }

  static LoaderOptions options(AttachMode mode, int slot = 0) {
    LoaderOptions o;
    o.attach_mode = mode;
    o.slot.priority = test_priority(slot);
    return o;
  }

  /// In the test namespace: the BPF filters at `priority` on an interface (both hooks); tc
  /// prints a chain line and a line per filter, which alone names its handle.
  [[nodiscard]] int classic_filters(const std::string& dev, std::uint16_t priority) const {
    int n = 0;
    for (const char* hook : {"ingress", "egress"}) {
      const std::string cmd = fmt("ip netns exec {} tc filter show dev {} {} prio {} | grep -c ' handle '",
                                  ns_, dev, hook, priority);
      FILE* p = ::popen(cmd.c_str(), "r");
      int c = 0;
      if (p != nullptr) {
        if (std::fscanf(p, "%d", &c) != 1) c = 0;
        ::pclose(p);
      }
      n += c;
    }
    return n;
  }
  [[nodiscard]] bool has_clsact(const std::string& dev) const {
    return sh(fmt("ip netns exec {} tc qdisc show dev {} | grep -q clsact", ns_, dev)) == 0;
  }
  /// In the test namespace: programs on an interface's tcx hooks.
  [[nodiscard]] int tcx_programs(const std::string& dev) const {
    auto n = podpath::net::in_netns(ns_, [&]() -> Result<int> {
      const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
      int total = 0;
      for (int type : {kTcxIngress, kTcxEgress}) {
        __u32 ids[16];
        __u32 count = 16;
        if (bpf_prog_query(ifindex, static_cast<bpf_attach_type>(type), 0, nullptr, ids, &count) == 0)
          total += static_cast<int>(count);
      }
      return total;
    });
    return n ? *n : -1;
  }

  std::string ns_;
};

/// A classic filter of another owner, named `foreign_tc`, in slot `priority` of `dev`'s
/// ingress hook: returns its program id (the fd stays open for the test's life).
std::uint32_t add_foreign_filter(const std::string& ns, const std::string& dev, std::uint16_t priority) {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1},  // r0 = TC_ACT_UNSPEC
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "foreign_tc", "GPL", insns, 2, nullptr);
  if (fd < 0) return 0;
  auto attached = podpath::net::in_netns(ns, [&]() -> Result<bool> {
    const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    bpf_tc_hook_create(&hook);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = podpath::bpf::TcSlot{}.handle,
                .priority = priority);
    return bpf_tc_attach(&hook, &opts) == 0;
  });
  return attached && *attached ? podpath::bpf::program_id(fd) : 0;
}

}  // namespace

TEST_F(LoaderTest, AttachesAndDetachesEverythingInBothModes) {
  for (auto mode : {AttachMode::Tcx, AttachMode::Clsact}) {
    SCOPED_TRACE(podpath::bpf::to_string(mode));
    auto o = options(mode);
    auto l = Loader::start(targets(), o, {});
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_EQ((*l)->interfaces().size(), 3u);
    if (mode == AttachMode::Clsact) {
      EXPECT_EQ(classic_filters("v1", o.slot.priority), 2);
    } else {
      EXPECT_EQ(tcx_programs("v1"), 2);
    }
    ASSERT_TRUE((*l)->stop());
    EXPECT_EQ(classic_filters("v1", o.slot.priority), 0);
    EXPECT_FALSE(has_clsact("v1")) << "the qdisc podpath created goes with its filters";
    EXPECT_EQ(tcx_programs("v1"), 0);
  }
}

TEST_F(LoaderTest, AnErrorAfterAttachingLeavesNothingAttached) {
  // Item 3: the interface map holds two interfaces, the third cannot be recorded; the hooks
  // attached to it (and to the others) must not stay behind.
  for (auto mode : {AttachMode::Tcx, AttachMode::Clsact}) {
    SCOPED_TRACE(podpath::bpf::to_string(mode));
    auto o = options(mode);
    o.datapath.max_ifaces = 2;
    auto l = Loader::start(targets(), o, {});
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().message.find("interface map is full"), std::string::npos) << l.error().message;
    for (const char* dev : {"v0", "v1", "v2"}) {
      EXPECT_EQ(classic_filters(dev, o.slot.priority), 0) << dev;
      EXPECT_FALSE(has_clsact(dev)) << dev;
      EXPECT_EQ(tcx_programs(dev), 0) << dev;
    }
  }
}

TEST_F(LoaderTest, ASecondLoaderNeverRemovesTheFirstOnesFilters) {
  // Item 2: whatever the second one's mode, the first one's filters stay, and so do its counts.
  auto first_options = options(AttachMode::Clsact, 0);
  auto first = Loader::start(targets(), first_options, {});
  ASSERT_TRUE(first) << first.error().to_string();
  const auto p = first_options.slot.priority;
  ASSERT_EQ(classic_filters("v1", p), 2);
  {
    auto tcx = Loader::start(targets(), options(AttachMode::Tcx, 0), {});  // same priority, tcx
    ASSERT_TRUE(tcx) << tcx.error().to_string();
    EXPECT_EQ(classic_filters("v1", p), 2) << "a tcx run removed a live clsact run's filters";
    auto other = Loader::start(targets(), options(AttachMode::Clsact, 1), {});  // another priority
    ASSERT_TRUE(other) << other.error().to_string();
    EXPECT_EQ(classic_filters("v1", p), 2);
    EXPECT_EQ(classic_filters("v1", test_priority(1)), 2);
    auto same = Loader::start(targets(), options(AttachMode::Clsact, 0), {});
    ASSERT_FALSE(same) << "two clsact runs on one priority";
    EXPECT_NE(same.error().message.find("another podpath (pid"), std::string::npos) << same.error().message;
    EXPECT_EQ(classic_filters("v1", p), 2);
  }  // the second and third stop
  EXPECT_EQ(classic_filters("v1", p), 2) << "stopping another run removed the first one's filters";
  EXPECT_EQ(classic_filters("v1", test_priority(1)), 0);
  EXPECT_TRUE(has_clsact("v1")) << "the first run's filters still use the qdisc";
  ASSERT_TRUE((*first)->stop());
  EXPECT_EQ(classic_filters("v1", p), 0);
  EXPECT_FALSE(has_clsact("v1"));
}

TEST_F(LoaderTest, AForeignFilterInPodpathsSlotIsNamed) {
  // Item 18: the message names the program (name and id), the slot, the interface, the
  // node and what to do; nothing podpath attached before it stays.
  auto o = options(AttachMode::Clsact);
  const auto id = add_foreign_filter(ns_, "v1", o.slot.priority);
  ASSERT_NE(id, 0u);
  auto l = Loader::start(targets(), o, {});
  ASSERT_FALSE(l);
  const auto& m = l.error().message;
  for (const std::string& needle :
       {std::string("node testnode"), std::string("v1"), std::string("'foreign_tc'"),
        "(id " + std::to_string(id) + ")", "priority " + std::to_string(o.slot.priority),
        std::string("not podpath's"), std::string("--tc-priority")}) {
    EXPECT_NE(m.find(needle), std::string::npos) << needle << " in: " << m;
  }
  EXPECT_EQ(classic_filters("v0", o.slot.priority), 0);
  EXPECT_EQ(classic_filters("v1", o.slot.priority), 1) << "the foreign filter stays";
}

TEST_F(LoaderTest, ASignalBeforeAttachingStopsWithNothingAttached) {
  for (auto mode : {AttachMode::Tcx, AttachMode::Clsact}) {
    std::atomic<bool> stop{true};
    auto o = options(mode);
    o.cancel = &stop;
    auto l = Loader::start(targets(), o, {});
    ASSERT_FALSE(l);
    EXPECT_NE(l.error().message.find("stopped by a signal while attaching"), std::string::npos);
    EXPECT_EQ(classic_filters("v0", o.slot.priority), 0);
    EXPECT_EQ(tcx_programs("v0"), 0);
  }
}

TEST_F(LoaderTest, ANamespaceRecreatedUnderItsNameIsGoneAndReattached) {
  // Item 15's kernel half: the name leads to a new namespace; podpath notices and attaches there.
  auto l = Loader::start(targets(), options(AttachMode::Tcx), {});
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_TRUE((*l)->gone_nodes().empty());
  const auto old_cookie = (*l)->netns_cookie("testnode");
  ASSERT_EQ(sh("ip netns del " + ns_), 0);
  EXPECT_EQ((*l)->gone_nodes(), std::vector<std::string>{"testnode"});
  // As the session does: let go of the old namespace at once. The kernel then frees it, and
  // the new one may get its inode number.
  (*l)->release("testnode");
  EXPECT_TRUE((*l)->interfaces().empty());
  ASSERT_EQ(sh("ip netns add " + ns_), 0);
  ASSERT_EQ(sh(fmt("ip -n {} link add v0 type veth peer name p0", ns_)), 0);
  EXPECT_EQ((*l)->gone_nodes(), std::vector<std::string>{"testnode"}) << "a new namespace under the old name";
  auto n = (*l)->reattach(targets().front());
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, 1u);
  EXPECT_NE((*l)->netns_cookie("testnode"), old_cookie);
  EXPECT_TRUE((*l)->gone_nodes().empty());
  EXPECT_EQ(tcx_programs("v0"), 2);
}
