#pragma once
/// @file
/// @brief Zero-configuration inventory for a plain kubenet-style node, discovered from
/// the host network namespace: the pod bridge's address is the local pod CIDR, the
/// default route names the uplink and the gateway, and host-local IPAM state
/// (/var/lib/cni/networks/<network>/<ip> files) maps pod IPs to sandbox ids.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster.hpp"
#include "net/links.hpp"
#include "net/route_table.hpp"
#include "net/routes.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief Where host-local keeps its allocations by default.
inline constexpr const char* kHostLocalDir = "/var/lib/cni/networks";
/// @brief Pod bridges tried, in order, when none is named.
inline constexpr const char* kDefaultBridges[] = {"cbr0", "cni0"};

/// @brief Overrides; every field is optional.
struct LocalDiscoveryOptions {
  std::optional<std::string> bridge;    ///< pod bridge name (--bridge); default: cbr0, then cni0
  std::optional<std::string> uplink;    ///< uplink name (--uplink); default: the default route's interface
  std::optional<std::string> hostname;  ///< node name; default: gethostname()
  std::filesystem::path ipam_dir = kHostLocalDir;
  std::string netns;  ///< namespace to read ("" = the host namespace)
};

/// @brief What the kernel says about the node: the input of discovery, injectable for tests.
struct LocalNetwork {
  std::string hostname;
  std::vector<net::Link> links;
  net::RouteTable routes;           ///< the main table
  net::NeighbourTables neighbours;  ///< ARP cache and bridge FDB (pod IP -> MAC -> veth)
};

/// @brief One host-local allocation: a file named by the IP.
struct IpamAllocation {
  model::IpAddress ip;
  std::string network;       ///< the directory: the CNI network name
  std::string container_id;  ///< the sandbox (pause container) id
  std::string ifname;        ///< interface inside the pod ("eth0"); empty in old formats
};

/// @brief The result: a one-node cluster and what was learnt on the way.
struct LocalDiscovery {
  model::Cluster cluster;
  std::vector<std::string> pod_veths;  ///< the bridge's veth ports (every pod's host side)
  std::vector<std::string> notes;      ///< what could not be found, for the log
};

/// @brief The most podpath reads of one IPAM record: a 64-character id and an interface
/// name take under 100 bytes.
inline constexpr std::size_t kMaxIpamRecordBytes = 4096;

/// @brief Reads host-local IPAM state under `dir` (one directory per network; files
/// named by IP hold "<container id>\r\n<ifname>"; last_reserved_ip.* and lock are
/// skipped). A missing directory yields no allocations; a record that is no regular file
/// (a FIFO would block the read) or larger than kMaxIpamRecordBytes is skipped.
std::vector<IpamAllocation> read_host_local_ipam(const std::filesystem::path& dir);

/// @brief Discovery from given facts (pure): the bridge (named, else cbr0 or cni0) must
/// exist and hold an IPv4 address; everything else is best effort and noted.
Result<LocalDiscovery> discover_local(const LocalNetwork& network, const std::vector<IpamAllocation>& ipam,
                                      const LocalDiscoveryOptions& options = {});

/// @brief Discovery of this machine: reads links, routes and neighbours of
/// `options.netns` with netlink and the IPAM directory, then discovers.
Result<LocalDiscovery> discover_local(const LocalDiscoveryOptions& options = {});

}  // namespace podpath::inventory
