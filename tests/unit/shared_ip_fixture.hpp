#pragma once
// Hand-made container-flow records and a pod's shared-IP input, for the shared-IP verdict
// (shared_ip_test.cpp) and its rendering (shared_ip_view_test.cpp).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "inventory/shared_ip.hpp"

using namespace podpath::inventory;
using podpath::inventory::ContainerFlow;
using podpath::model::IpAddress;

namespace {

constexpr std::uint64_t kPodNs = 4101, kNodeNs = 4102, kOtherNs = 4103;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

ContainerFlow rec(std::uint64_t cgroup, std::uint64_t netns, const char* local, std::uint16_t lport,
                  std::uint64_t tx, std::uint64_t rx = 0, const char* remote = "10.10.130.2",
                  std::uint16_t rport = 8080, std::uint8_t proto = IPPROTO_TCP) {
  ContainerFlow r;
  r.cgroup_id = cgroup;
  r.netns_cookie = netns;
  r.local = ip(local);
  r.remote = ip(remote);
  r.local_port = lport;
  r.remote_port = rport;
  r.proto = proto;
  r.tx_packets = tx;
  r.tx_bytes = tx * 100;
  r.rx_packets = rx;
  r.rx_bytes = rx * 60;
  return r;
}

SharedIpInput pod_input() {
  SharedIpInput in;
  in.pod = "default/web";
  in.pod_ip = ip("10.10.129.2");
  in.pod_netns = kPodNs;
  in.labels = {{kPodNs, "pp-pod-x2k4q"},
               {kNodeNs, "pp-node1 (node node1, host network)"},
               {kOtherNs, "pp-pod-x2k4q-x"}};
  in.containers = {{"app", "id-app", 11, kPodNs, {}, {}}, {"sidecar", "id-sidecar", 12, kPodNs, {}, {}}};
  return in;
}

}  // namespace
