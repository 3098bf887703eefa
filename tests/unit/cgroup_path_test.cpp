// Cgroup path -> pod UID and container id, for every layout the kubelet and the runtimes
// produce (fixtures copied from real nodes' /proc/PID/cgroup, ids shortened where noted).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "inventory/cgroup_path.hpp"

using namespace podpath::inventory;

namespace {

constexpr const char* kUid = "2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10";
constexpr const char* kUidUnderscores = "2f0c7d0e_6c1b_4f3e_9a55_0b7d2c1e9f10";
constexpr const char* kId = "4e3b7c0f5a9d2e1b8c6f0a3d5e7b9c1f2a4d6e8b0c2f4a6d8e0b2c4f6a8d0e2b";

struct Case {
  std::string path;
  CgroupDriver driver;
  PodQos qos;
  ContainerRuntime runtime;
  bool container;  // false: the pod-level cgroup
};

std::string s(const std::string& a) { return a; }

KubepodsCgroup parse_ok(const std::string& path) {
  auto r = parse_kubepods_cgroup(path);
  EXPECT_TRUE(r) << path << ": " << (r ? "" : r.error().message);
  return r ? *r : KubepodsCgroup{};
}

std::string parse_error(const std::string& path) {
  auto r = parse_kubepods_cgroup(path);
  EXPECT_FALSE(r) << path << " parsed, but should not";
  return r ? "" : r.error().message;
}

}  // namespace

TEST(CgroupPath, EveryDriverRuntimeAndQosClass) {
  const std::string u = kUid, uu = kUidUnderscores, id = kId;
  const std::vector<Case> cases = {
      // cgroupfs driver: containerd and Docker name the cgroup by the bare id, CRI-O by crio-<id>.
      {"/kubepods/pod" + u + "/" + id, CgroupDriver::Cgroupfs, PodQos::Guaranteed, ContainerRuntime::Unknown,
       true},
      {"/kubepods/burstable/pod" + u + "/" + id, CgroupDriver::Cgroupfs, PodQos::Burstable,
       ContainerRuntime::Unknown, true},
      {"/kubepods/besteffort/pod" + u + "/" + id, CgroupDriver::Cgroupfs, PodQos::BestEffort,
       ContainerRuntime::Unknown, true},
      {"/kubepods/burstable/pod" + u + "/crio-" + id, CgroupDriver::Cgroupfs, PodQos::Burstable,
       ContainerRuntime::Crio, true},
      {"/kubepods/besteffort/pod" + u, CgroupDriver::Cgroupfs, PodQos::BestEffort, ContainerRuntime::Unknown,
       false},
      // systemd driver: containerd, CRI-O, Docker (cri-dockerd).
      {"/kubepods.slice/kubepods-pod" + uu + ".slice/cri-containerd-" + id + ".scope", CgroupDriver::Systemd,
       PodQos::Guaranteed, ContainerRuntime::Containerd, true},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uu + ".slice/cri-containerd-" +
           id + ".scope",
       CgroupDriver::Systemd, PodQos::Burstable, ContainerRuntime::Containerd, true},
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uu + ".slice/crio-" + id +
           ".scope",
       CgroupDriver::Systemd, PodQos::BestEffort, ContainerRuntime::Crio, true},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uu + ".slice/docker-" + id +
           ".scope",
       CgroupDriver::Systemd, PodQos::Burstable, ContainerRuntime::Docker, true},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uu + ".slice",
       CgroupDriver::Systemd, PodQos::Burstable, ContainerRuntime::Unknown, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    const auto p = parse_ok(c.path);
    EXPECT_EQ(p.driver, c.driver);
    EXPECT_EQ(p.qos, c.qos);
    EXPECT_EQ(p.pod_uid, u) << "systemd's underscores become dashes again";
    EXPECT_EQ(p.runtime, c.runtime);
    EXPECT_EQ(p.is_container(), c.container);
    EXPECT_EQ(p.container_id, c.container ? id : "");
    EXPECT_FALSE(p.runtime_monitor);
    EXPECT_EQ(p.prefix, "");
    EXPECT_EQ(p.subpath, "");
  }
}

TEST(CgroupPath, AbsolutePathsUnderAMountAndPrefixes) {
  // The lab: <cgroup2 mount>/podpath-lab.<name>/kubepods/besteffort/pod<uid>/<id>.
  const auto lab =
      parse_ok(s("/sys/fs/cgroup/unified/podpath-lab.pp/kubepods/besteffort/pod") + kUid + "/" + kId);
  EXPECT_EQ(lab.prefix, "/sys/fs/cgroup/unified/podpath-lab.pp");
  EXPECT_EQ(lab.qos, PodQos::BestEffort);
  EXPECT_EQ(lab.container_id, kId);
  // kind: a kubelet inside a container, systemd driver with a "kubelet-" prefix.
  const auto kind = parse_ok(s("/system.slice/docker-") + kId +
                             ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                             "kubelet-kubepods-besteffort-pod" +
                             kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(kind.driver, CgroupDriver::Systemd);
  EXPECT_EQ(kind.qos, PodQos::BestEffort);
  EXPECT_EQ(kind.pod_uid, kUid);
  EXPECT_EQ(kind.runtime, ContainerRuntime::Containerd);
  EXPECT_EQ(kind.prefix, s("/system.slice/docker-") + kId + ".scope/kubelet.slice");
}

TEST(CgroupPath, NestedCgroupsInsideAContainerBelongToIt) {
  const auto p = parse_ok(s("/kubepods.slice/kubepods-pod") + kUidUnderscores + ".slice/crio-" + kId +
                          ".scope/container/init.scope");
  EXPECT_EQ(p.container_id, kId);
  EXPECT_EQ(p.subpath, "/container/init.scope");
}

TEST(CgroupPath, CrioMonitorIsRecognisedAsNotTheContainer) {
  const auto p = parse_ok(s("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod") +
                          kUidUnderscores + ".slice/crio-conmon-" + kId + ".scope");
  EXPECT_TRUE(p.runtime_monitor);
  EXPECT_EQ(p.runtime, ContainerRuntime::Crio);
  EXPECT_EQ(p.container_id, kId);
}

TEST(CgroupPath, StaticPodUidWithoutDashes) {
  const auto p = parse_ok(s("/kubepods/burstable/pod") + "d41d8cd98f00b204e9800998ecf8427e/" + kId);
  EXPECT_EQ(p.pod_uid, "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(CgroupPath, MalformedPathsSayWhy) {
  const std::string u = kUid, uu = kUidUnderscores, id = kId;
  EXPECT_NE(parse_error("/system.slice/containerd.service").find("not under a kubepods cgroup"),
            std::string::npos);
  EXPECT_NE(parse_error("/").find("not under a kubepods cgroup"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods").find("kubepods cgroup itself"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable").find("QoS class"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods.slice/kubepods-besteffort.slice").find("QoS class"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable/" + id).find("not a pod cgroup"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable/podnot-a-uid/" + id).find("no pod UID"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable/pod" + u + "x/" + id).find("no pod UID"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable/pod" + u + "/xyz").find("container id"), std::string::npos);
  EXPECT_NE(parse_error("/kubepods/burstable/pod" + u + "/ABCDEF0123456789").find("container id"),
            std::string::npos);  // ids are lowercase
  EXPECT_NE(parse_error("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uu +
                        ".slice/cri-containerd-" + id)
                .find("not a container scope"),
            std::string::npos);
  EXPECT_NE(parse_error("/kubepods.slice/kubepods-pod" + uu + ".slice/runc-" + id + ".scope")
                .find("no known runtime"),
            std::string::npos);
  EXPECT_NE(parse_error("/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" + uu + ".slice")
                .find("not a pod slice"),
            std::string::npos);  // the QoS in the pod slice must match its parent's
  EXPECT_NE(parse_error("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uu +
                        ".slice/crio-" + id.substr(0, 8) + ".scope")
                .find("container id"),
            std::string::npos);
  EXPECT_NE(parse_error("/mykubepods/burstable/pod" + u + "/" + id).find("not under a kubepods"),
            std::string::npos);
}

TEST(CgroupPath, ShortId) { EXPECT_EQ(short_container_id(kId), "4e3b7c0f5a9d"); }

TEST(CgroupPath, DiscoveryWalksATreeAndReportsInodes) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("podpath-cgtest." + std::to_string(getpid()));
  const fs::path pod = root / "kubepods" / "burstable" / (s("pod") + kUid);
  fs::create_directories(pod / kId);
  fs::create_directories(root / "system.slice" / "foo.service");
  std::ofstream(pod / "cgroup.procs") << "";
  const auto found = discover_kubepods_cgroups(root);
  fs::remove_all(root);
  ASSERT_EQ(found.size(), 2u);  // the pod and its container
  const auto& c = found[0].parsed.is_container() ? found[0] : found[1];
  EXPECT_EQ(c.parsed.container_id, kId);
  EXPECT_EQ(c.path, pod / kId);
  EXPECT_NE(c.cgroup_id, 0u);
}

TEST(CgroupPath, AttachPointPrefersKubepods) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("podpath-cgattach." + std::to_string(getpid()));
  fs::create_directories(root);
  EXPECT_EQ(kubepods_attach_point(root), root);
  fs::create_directories(root / "kubepods.slice");
  EXPECT_EQ(kubepods_attach_point(root), root / "kubepods.slice");
  fs::remove_all(root);
}
