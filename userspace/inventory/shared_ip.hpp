#pragma once
/// @file
/// @brief The shared-IP check: did every container of a pod that sent traffic use the pod
/// IP from the pod's network namespace? Pure logic over container-flow records (what
/// `podpath shared-ip` measures), so it is unit-tested without a kernel.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "inventory/container_flow.hpp"
#include "model/address.hpp"

namespace podpath::inventory {

/// @brief Names of network namespaces by cookie ("pp-pod-x2k4q (the pod's)", ...).
using NetnsLabels = std::map<std::uint64_t, std::string>;

/// @brief The label of a namespace: "unknown" for cookie 0, "netns cookie N" when unnamed.
std::string netns_label(const NetnsLabels& labels, std::uint64_t cookie);

/// @brief One container and what its sockets did.
struct ContainerTraffic {
  std::string name;
  std::string id;
  std::uint64_t cgroup_id = 0;
  std::uint64_t process_netns = 0;  ///< namespace of its main process; 0 = unknown
  std::vector<ContainerFlow> records;
  std::string probe_error;  ///< why `--probe` could not make it send; empty = ran or not asked
};

/// @brief Everything the check needs about one pod.
struct SharedIpInput {
  std::string pod;  ///< "namespace/name"
  model::IpAddress pod_ip;
  std::uint64_t pod_netns = 0;  ///< the pod's namespace; 0 = unknown (judge by address only)
  std::vector<ContainerTraffic> containers;
  NetnsLabels labels;
};

/// @brief How one (namespace, local address) a container used compares with the pod's.
enum class UseKind {
  PodIp,           ///< the pod IP, in the pod's namespace (or the namespace is unknown)
  Loopback,        ///< 127.0.0.0/8, ::1 or link-local, inside the pod's namespace: fine
  OtherAddress,    ///< another address in the pod's namespace (or the namespace is unknown)
  OtherNamespace,  ///< a namespace that is not the pod's
};

/// @brief Traffic of one container from one local address in one namespace, summed.
struct AddressUse {
  std::uint64_t netns_cookie = 0;
  model::IpAddress local;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint32_t flows = 0;  ///< distinct (protocol, ports, remote) entries
  UseKind kind = UseKind::PodIp;

  [[nodiscard]] bool wrong() const {
    return kind == UseKind::OtherAddress || kind == UseKind::OtherNamespace;
  }
};

enum class ContainerStatus { Ok, Wrong, NoTraffic };
enum class Verdict { Pass, Fail, NoTraffic };

struct ContainerResult {
  std::string name;
  std::string id;
  std::uint64_t cgroup_id = 0;
  std::uint64_t process_netns = 0;
  std::vector<AddressUse> uses;  ///< wrong ones first, then by packets
  ContainerStatus status = ContainerStatus::NoTraffic;
  std::string reason;  ///< Wrong: what it used instead; NoTraffic: why the probe could not run, if so
};

struct SharedIpResult {
  std::string pod;
  model::IpAddress pod_ip;
  std::uint64_t pod_netns = 0;
  std::vector<ContainerResult> containers;
  Verdict verdict = Verdict::NoTraffic;
  std::string summary;  ///< one sentence: why PASS/FAIL, naming containers
  NetnsLabels labels;
};

/// @brief PASS when every container that sent or received traffic used the pod IP (or
/// loopback) from the pod's namespace and at least one did; FAIL naming each container that
/// used another address or namespace; NoTraffic when no container did anything.
SharedIpResult check_shared_ip(const SharedIpInput& input);

/// @brief Several pods: Fail if any failed, else Pass if any passed, else NoTraffic.
Verdict overall_verdict(const std::vector<SharedIpResult>& results);

const char* to_string(Verdict verdict);         ///< "PASS", "FAIL", "NO TRAFFIC"
const char* to_string(ContainerStatus status);  ///< "ok", "WRONG", "no traffic seen"
const char* to_string(UseKind kind);            ///< "pod-ip", "loopback", "other-address", "other-namespace"

}  // namespace podpath::inventory
