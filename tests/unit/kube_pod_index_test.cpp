// The pod index: what claims an address, tombstones, IP reuse by time, ambiguity, nodes.
#include <gtest/gtest.h>

#include "kube/pod_index.hpp"

using podpath::kube::Change;
using podpath::kube::ChangeType;
using podpath::kube::Container;
using podpath::kube::Node;
using podpath::kube::NodeIndex;
using podpath::kube::Pod;
using podpath::kube::PodIndex;
using podpath::kube::PodLookup;
using podpath::kube::Resource;
using podpath::kube::Time;
using podpath::model::IpAddress;
using std::chrono::seconds;

namespace {

const Time kT0 = Time{} + std::chrono::hours(24 * 365 * 56);

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Pod pod(const std::string& uid, const std::string& name, const char* addr, Time created) {
  Pod p;
  p.uid = uid;
  p.ns = "default";
  p.name = name;
  p.node = "node1";
  p.phase = "Running";
  p.created = created;
  p.ips = {ip(addr)};
  return p;
}

Change change(ChangeType type, const Pod& p) {
  Change c;
  c.resource = Resource::Pods;
  c.type = type;
  c.object = p;
  return c;
}

std::string who(const PodLookup& l) {
  switch (l.kind) {
  case PodLookup::Kind::None:
    return "none";
  case PodLookup::Kind::Pod:
    return l.pod->name + (l.tombstone ? " (tombstone)" : "");
  case PodLookup::Kind::Ambiguous: {
    std::string out = "ambiguous:";
    for (const auto* p : l.claims) out += " " + p->name;
    return out;
  }
  }
  return "?";
}

}  // namespace

TEST(KubePodIndex, HostNetworkAndFinishedPodsClaimNoAddress) {
  PodIndex index;
  Pod agent = pod("u-agent", "podpath-agent", "10.0.0.2", kT0);
  agent.host_network = true;
  Pod job = pod("u-job", "job-x", "10.10.129.7", kT0);
  job.phase = "Succeeded";
  Pod failed = pod("u-failed", "crash", "10.10.129.8", kT0);
  failed.phase = "Failed";
  const Pod web = pod("u-web", "web", "10.10.129.2", kT0);
  for (const auto& p : {agent, job, failed, web}) index.apply(change(ChangeType::Added, p), kT0);
  const Time later = kT0 + seconds(5);
  EXPECT_EQ(who(index.lookup(ip("10.0.0.2"), later, later)), "none");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.7"), later, later)), "none");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.8"), later, later)), "none");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), later, later)), "web");
  EXPECT_EQ(index.live_pods().size(), 4u) << "they are still pods, with names and containers";
}

TEST(KubePodIndex, ADeletedPodIsATombstoneForTheGracePeriod) {
  PodIndex index(seconds(60));
  const Pod web = pod("u-web", "web", "10.10.129.2", kT0);
  index.apply(change(ChangeType::Added, web), kT0);
  const Time deleted = kT0 + seconds(100);
  index.apply(change(ChangeType::Deleted, web), deleted);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(10), deleted + seconds(59))),
            "web (tombstone)");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(10), deleted + seconds(60))), "none");
  EXPECT_NE(index.find_uid("u-web"), nullptr);
  EXPECT_TRUE(index.live_pods().empty());
  index.expire(deleted + seconds(59));
  EXPECT_EQ(index.size(), 1u);
  index.expire(deleted + seconds(60));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.find_uid("u-web"), nullptr);
}

TEST(KubePodIndex, AReusedAddressResolvesByWhenTheFlowWasFirstSeen) {
  PodIndex index(seconds(60));
  const Pod old_pod = pod("u-old", "web-old", "10.10.129.2", kT0);
  index.apply(change(ChangeType::Added, old_pod), kT0);
  index.apply(change(ChangeType::Deleted, old_pod), kT0 + seconds(30));
  const Pod new_pod = pod("u-new", "web-new", "10.10.129.2", kT0 + seconds(40));
  index.apply(change(ChangeType::Added, new_pod), kT0 + seconds(41));
  const Time now = kT0 + seconds(50);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(5), now)), "web-old (tombstone)");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(39), now)), "web-old (tombstone)");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(40), now)), "web-new");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(45), now)), "web-new");
  // Older than both: the oldest.
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 - seconds(5), now)), "web-old (tombstone)");
  // After the grace period only the new pod is left, whatever the flow's time.
  const Time late = kT0 + seconds(30 + 60);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.2"), kT0 + seconds(5), late)), "web-new");
}

TEST(KubePodIndex, AFinishedPodIsATombstoneAndItsAddressCanBeReused) {
  PodIndex index(seconds(60));
  Pod job = pod("u-job", "job", "10.10.129.5", kT0);
  index.apply(change(ChangeType::Added, job), kT0);
  job.phase = "Succeeded";
  index.apply(change(ChangeType::Modified, job), kT0 + seconds(20));
  const Pod next = pod("u-next", "next", "10.10.129.5", kT0 + seconds(25));
  index.apply(change(ChangeType::Added, next), kT0 + seconds(26));
  const Time now = kT0 + seconds(30);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.5"), kT0 + seconds(10), now)), "job (tombstone)");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.5"), kT0 + seconds(26), now)), "next");
  index.expire(kT0 + seconds(80));
  EXPECT_EQ(who(index.lookup(ip("10.10.129.5"), kT0 + seconds(10), kT0 + seconds(80))), "next");
  EXPECT_NE(index.find_uid("u-job"), nullptr) << "a finished pod that is not deleted stays a pod";
}

TEST(KubePodIndex, TwoLivePodsOnOneAddressAreAmbiguous) {
  PodIndex index;
  index.apply(change(ChangeType::Added, pod("u-1", "b-pod", "10.10.129.9", kT0)), kT0);
  index.apply(change(ChangeType::Added, pod("u-2", "a-pod", "10.10.129.9", kT0 + seconds(3))), kT0);
  const Time now = kT0 + seconds(10);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.9"), now, now)), "ambiguous: a-pod b-pod");
  EXPECT_EQ(who(index.lookup(ip("10.10.129.9"), kT0, now)), "ambiguous: a-pod b-pod")
      << "time does not break it";
}

TEST(KubePodIndex, EveryPodIpIsIndexedAndUpdatesMoveThem) {
  PodIndex index;
  Pod dual = pod("u-dual", "dual", "10.10.129.3", kT0);
  dual.ips.push_back(ip("fd00:10:129::3"));
  index.apply(change(ChangeType::Added, dual), kT0);
  EXPECT_EQ(who(index.lookup(ip("fd00:10:129::3"), kT0, kT0)), "dual");
  Pod pending = pod("u-p", "pending", "10.10.129.4", kT0);
  pending.ips.clear();
  pending.phase = "Pending";
  index.apply(change(ChangeType::Added, pending), kT0);
  pending.ips = {ip("10.10.129.4")};
  pending.phase = "Running";
  index.apply(change(ChangeType::Modified, pending), kT0);
  EXPECT_EQ(who(index.lookup(ip("10.10.129.4"), kT0, kT0)), "pending");
}

TEST(KubePodIndex, ContainersAreFoundByRuntimeId) {
  PodIndex index;
  Pod web = pod("u-web", "web", "10.10.129.2", kT0);
  web.containers = {Container{"app", "bb01", "containerd", true, false, 0},
                    Container{"sidecar", "bb02", "cri-o", true, false, 1}};
  index.apply(change(ChangeType::Added, web), kT0);
  const auto ref = index.find_container("bb02");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->pod->name, "web");
  EXPECT_EQ(ref->container->name, "sidecar");
  EXPECT_EQ(ref->container->runtime, "cri-o");
  web.containers[1].id = "bb03";  // restarted
  index.apply(change(ChangeType::Modified, web), kT0);
  EXPECT_FALSE(index.find_container("bb02"));
  EXPECT_TRUE(index.find_container("bb03"));
  index.apply(change(ChangeType::Deleted, web), kT0);
  EXPECT_TRUE(index.find_container("bb03")) << "a tombstone keeps its containers";
  index.expire(kT0 + seconds(60));
  EXPECT_FALSE(index.find_container("bb03"));
}

TEST(KubePodIndex, NodesByName) {
  NodeIndex nodes;
  Node n2;
  n2.name = "node2";
  Node n1;
  n1.name = "node1";
  for (const auto& n : {n2, n1}) {
    Change c;
    c.resource = Resource::Nodes;
    c.type = ChangeType::Added;
    c.object = n;
    nodes.apply(c);
  }
  ASSERT_EQ(nodes.all().size(), 2u);
  EXPECT_EQ(nodes.all().front()->name, "node1");
  Change del;
  del.resource = Resource::Nodes;
  del.type = ChangeType::Deleted;
  del.object = n2;
  nodes.apply(del);
  EXPECT_EQ(nodes.find("node2"), nullptr);
  EXPECT_NE(nodes.find("node1"), nullptr);
}
