#include "inventory/local_discovery.hpp"

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <system_error>

#include "net/netns.hpp"
#include "util/system.hpp"

namespace podpath::inventory {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return c != ' ' && c != '\r' && c != '\n' && c != '\t'; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

/// The pod bridge: the named one, else the first default name that exists with an IPv4 address.
Result<const net::Link*> find_bridge(const LocalNetwork& network, const LocalDiscoveryOptions& options,
                                     const std::string& where) {
  if (options.bridge) {
    const net::Link* link = net::find_link(network.links, *options.bridge);
    if (link == nullptr) return make_error(0, "no interface named '{}' in {}", *options.bridge, where);
    if (!link->ipv4()) {
      return make_error(0, "bridge '{}' has no IPv4 address, so it does not give the pod CIDR",
                        *options.bridge);
    }
    return link;
  }
  for (const char* name : kDefaultBridges) {
    const net::Link* link = net::find_link(network.links, name);
    if (link != nullptr && link->ipv4()) return link;
  }
  return make_error(0,
                    "no pod bridge found in {}: neither cbr0 nor cni0 exists with an IPv4 address; "
                    "name it with --bridge (e.g. --bridge docker0)",
                    where);
}

/// The IPv4 default route with the lowest metric.
const net::Route* default_route(const net::RouteTable& routes) {
  const net::Route* best = nullptr;
  for (const auto& r : routes.routes()) {
    if (r.dst.is_v4() && r.is_default() && !r.dev.empty() && (best == nullptr || r.metric < best->metric)) {
      best = &r;
    }
  }
  return best;
}

/// A pod's host veth via the bridge: pod IP -> MAC (ARP cache on the bridge) -> port (FDB).
std::string veth_of(const model::IpAddress& ip, const net::Link& bridge, const LocalNetwork& network) {
  const auto& tables = network.neighbours;
  const auto neigh =
      std::find_if(tables.neighbours.begin(), tables.neighbours.end(), [&](const net::Neighbour& n) {
        return n.ip == ip && n.ifindex == bridge.ifindex && !n.mac.empty();
      });
  if (neigh == tables.neighbours.end()) return {};
  for (const auto& fdb : tables.fdb) {
    if (fdb.mac != neigh->mac || fdb.local) continue;
    const net::Link* port = net::find_link(network.links, fdb.port_ifindex);
    if (port != nullptr && port->master_ifindex == bridge.ifindex) return port->name;
  }
  return {};
}

}  // namespace

std::vector<IpamAllocation> read_host_local_ipam(const fs::path& dir) {
  std::vector<IpamAllocation> out;
  std::error_code ec;
  std::vector<fs::path> networks;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;  // one odd entry must not end the listing
    if (it->is_directory(entry_ec)) networks.push_back(it->path());
  }
  std::sort(networks.begin(), networks.end());
  for (const auto& net_dir : networks) {
    for (fs::directory_iterator it(net_dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name == "lock" || name.rfind("last_reserved_ip", 0) == 0) continue;
      const auto ip = model::IpAddress::parse(name);
      if (!ip) continue;
      // read_file refuses a FIFO or a device there, and reads at most a record's worth.
      const auto text = read_file(it->path(), kMaxIpamRecordBytes);
      if (!text) continue;
      std::istringstream lines(*text);
      std::string id, ifname;
      std::getline(lines, id);
      std::getline(lines, ifname);
      id = trim(id);
      if (id.empty()) continue;
      out.push_back({*ip, net_dir.filename().string(), id, trim(ifname)});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const IpamAllocation& a, const IpamAllocation& b) { return a.ip < b.ip; });
  return out;
}

Result<LocalDiscovery> discover_local(const LocalNetwork& network, const std::vector<IpamAllocation>& ipam,
                                      const LocalDiscoveryOptions& options) {
  const std::string where = net::netns_display(options.netns);
  LocalDiscovery out;
  model::Node node;
  node.name = options.hostname.value_or(network.hostname.empty() ? "localhost" : network.hostname);
  node.netns = options.netns;

  auto bridge = find_bridge(network, options, where);
  if (!bridge) return bridge.error();
  const net::Link& br = **bridge;
  const net::LinkAddress br_addr = *br.ipv4();
  node.interfaces.bridge = br.name;
  node.bridge_ip = br_addr.address;
  node.pod_cidr = br_addr.network();

  const net::Route* def = default_route(network.routes);
  node.interfaces.uplink = options.uplink.value_or(def != nullptr ? def->dev : "");
  if (node.interfaces.uplink.empty()) {
    out.notes.push_back("no IPv4 default route: the uplink and the gateway are unknown (use --uplink)");
  } else if (const net::Link* up = net::find_link(network.links, node.interfaces.uplink)) {
    if (const auto addr = up->ipv4()) {
      node.underlay_ip = addr->address;
      out.cluster.underlay = addr->network();
    } else {
      out.notes.push_back("uplink " + up->name + " has no IPv4 address: the node network is unknown");
    }
  } else {
    return make_error(0, "no interface named '{}' in {}", node.interfaces.uplink, where);
  }
  if (def != nullptr && def->gateway && def->dev == node.interfaces.uplink) {
    model::Gateway gw;
    gw.name = "gateway";
    gw.ip = *def->gateway;
    gw.interface = node.interfaces.uplink;
    out.cluster.gateway = std::move(gw);
  }
  if (net::find_link(network.links, "docker0") != nullptr && br.name != "docker0") {
    node.interfaces.docker = "docker0";
  }

  for (const net::Link* port : net::bridge_ports(network.links, br.ifindex)) {
    if (port->is_veth()) out.pod_veths.push_back(port->name);
  }

  std::size_t outside = 0;
  for (const auto& a : ipam) {
    if (!node.pod_cidr.contains(a.ip)) {
      ++outside;
      continue;
    }
    model::Pod pod;
    pod.name = "sandbox-" + a.container_id.substr(0, 12);
    pod.node = node.name;
    pod.ip = a.ip;
    pod.sandbox_id = a.container_id;
    pod.veth = veth_of(a.ip, br, network);
    out.cluster.pods.push_back(std::move(pod));
  }
  if (outside > 0) {
    out.notes.push_back(std::to_string(outside) + " IPAM allocation(s) outside " + node.pod_cidr.to_string() +
                        " (another CNI network) were skipped");
  }
  if (ipam.empty()) {
    out.notes.push_back("no host-local IPAM state under " + options.ipam_dir.string() +
                        ": pods are known by their veths only");
  }
  out.cluster.nodes.push_back(std::move(node));
  return out;
}

Result<LocalDiscovery> discover_local(const LocalDiscoveryOptions& options) {
  LocalNetwork network;
  if (!options.hostname) {
    if (options.netns.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof(host) - 1) == 0) network.hostname = host;
    } else {
      network.hostname = options.netns;
    }
  }
  auto links = net::list_links(options.netns);
  if (!links) return links.error();
  network.links = std::move(*links);
  auto routes = net::read_routes(options.netns, net::kTableMain);
  if (!routes) return routes.error();
  network.routes = std::move(*routes);
  auto neighbours = net::read_neighbours(options.netns);
  if (neighbours) network.neighbours = std::move(*neighbours);
  auto found = discover_local(network, read_host_local_ipam(options.ipam_dir), options);
  if (found && !neighbours)
    found->notes.push_back("neighbours unreadable: " + neighbours.error().to_string());
  return found;
}

}  // namespace podpath::inventory
