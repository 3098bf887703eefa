#include "inventory/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>

#include "util/text.hpp"

namespace podpath::inventory {
namespace {

/// Thrown inside the checks only; becomes the one Error of validate_cluster.
struct Violation {
  std::string message;
};

[[noreturn]] void reject(const std::string& field, const std::string& why) {
  throw Violation{field + " " + why};
}

bool is_portable_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

bool is_portable_name(std::string_view name, std::size_t max) {
  return !name.empty() && name.size() <= max && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), is_portable_char);
}

/// "'x'" with anything unprintable escaped: the message itself must be safe to show.
std::string shown(std::string_view s) { return "'" + printable(s) + "'"; }

void check_object_name(std::string_view name, const std::string& field) {
  if (name.empty()) reject(field, "is empty");
  if (!is_object_name(name)) {
    reject(field, fmt::format("{} is not a valid name: 1-{} characters of printable UTF-8, no control "
                              "characters and no '/'",
                              shown(name), kMaxObjectName));
  }
}

void check_interface(std::string_view name, const std::string& field, bool required) {
  if (name.empty() && !required) return;
  if (!is_interface_name(name)) {
    reject(field,
           fmt::format("{} is not an interface name: 1-{} characters of A-Z, a-z, 0-9, '_', '-' and '.'",
                       shown(name), kMaxInterfaceName));
  }
}

void check_netns(std::string_view netns, const std::string& field, bool required) {
  if (netns.empty()) {
    if (!required) return;
    reject(field, "is empty: that would be podpath's own network namespace (the host's); name the "
                  "namespace as in 'ip netns list'");
  }
  if (netns.rfind("/proc/", 0) == 0) {
    reject(field, fmt::format("{} is a /proc path: name the namespace as in 'ip netns list' (a process's "
                              "namespace changes when its PID is reused, and /proc/self is podpath's own)",
                              shown(netns)));
  }
  if (!is_netns_reference(netns)) {
    reject(field, fmt::format("{} is not a network namespace name ('ip netns list': A-Z, a-z, 0-9, '_', '-', "
                              "'.') nor /run/netns/NAME",
                              shown(netns)));
  }
}

void check_path(std::string_view path, const std::string& field) {
  if (path.empty()) return;
  const bool dotdot = ("/" + std::string(path) + "/").find("/../") != std::string::npos;
  if (path.front() != '/' || dotdot || printable(path) != path) {
    reject(field, fmt::format("{} must be an absolute path without '..' or control characters", shown(path)));
  }
}

/// Remembers who used a value first; a second user is a duplicate.
class Unique {
 public:
  explicit Unique(const char* what) : what_(what) {}
  void add(const std::string& value, const std::string& field) {
    const auto [it, inserted] = first_.emplace(value, field);
    if (!inserted) reject(field, fmt::format("repeats {} {} of {}", what_, shown(value), it->second));
  }

 private:
  const char* what_;
  std::map<std::string, std::string> first_;
};

std::string at(const char* array, std::size_t i) { return fmt::format(".{}[{}]", array, i); }

void check_cluster(const model::Cluster& c) {
  if (!c.lab.empty() && !is_portable_name(c.lab, kMaxObjectName)) {
    reject(".lab", fmt::format("{} is not a lab name", shown(c.lab)));
  }
  check_path(c.cgroup_root, ".cgroup_root");
  check_path(c.data_dir, ".data_dir");
  Unique node_names("the name");
  Unique addresses("the address");  // every node, bridge, gateway and pod address is one thing
  Unique namespaces("the network namespace");
  if (c.gateway) {
    check_object_name(c.gateway->name, ".gateway.name");
    check_netns(c.gateway->netns, ".gateway.netns", true);
    check_interface(c.gateway->interface, ".gateway.interface", false);
    addresses.add(c.gateway->ip.to_string(), ".gateway.ip");
    namespaces.add(c.gateway->netns, ".gateway.netns");
  }
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    const auto& n = c.nodes[i];
    const std::string f = at("nodes", i);
    check_object_name(n.name, f + ".name");
    node_names.add(n.name, f + ".name");
    check_netns(n.netns, f + ".netns", true);
    namespaces.add(n.netns, f + ".netns");
    check_interface(n.interfaces.uplink, f + ".interfaces.uplink", true);
    check_interface(n.interfaces.bridge, f + ".interfaces.bridge", true);
    check_interface(n.interfaces.docker, f + ".interfaces.docker", false);
    addresses.add(n.underlay_ip.to_string(), f + ".underlay_ip");
    addresses.add(n.bridge_ip.to_string(), f + ".bridge_ip");
  }
  Unique pod_names("the pod");
  std::map<std::string, Unique> veths;  // per node
  for (std::size_t i = 0; i < c.pods.size(); ++i) {
    const auto& p = c.pods[i];
    const std::string f = at("pods", i);
    check_object_name(p.ns, f + ".namespace");
    check_object_name(p.name, f + ".name");
    pod_names.add(p.full_name(), f + ".name");
    check_netns(p.netns, f + ".netns", false);  // empty: unknown (podpath cannot probe from it)
    if (!p.netns.empty()) namespaces.add(p.netns, f + ".netns");
    check_interface(p.veth, f + ".veth", false);
    if (!p.veth.empty()) veths.try_emplace(p.node, "the veth").first->second.add(p.veth, f + ".veth");
    addresses.add(p.ip.to_string(), f + ".ip");
    for (std::size_t k = 0; k < p.containers.size(); ++k) {
      const std::string cf = f + at("containers", k);
      check_object_name(p.containers[k].name, cf + ".name");
      check_path(p.containers[k].cgroup_path, cf + ".cgroup");
    }
  }
}

}  // namespace

bool is_object_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxObjectName && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && printable(name) == name;
}

bool is_interface_name(std::string_view name) { return is_portable_name(name, kMaxInterfaceName); }

bool is_netns_reference(std::string_view netns) {
  constexpr std::size_t kMaxNetnsName = 255;  // a file name
  for (std::string_view dir : {"/run/netns/", "/var/run/netns/"}) {
    if (netns.rfind(dir, 0) == 0) return is_portable_name(netns.substr(dir.size()), kMaxNetnsName);
  }
  return is_portable_name(netns, kMaxNetnsName);
}

Result<void> validate_cluster(const model::Cluster& cluster) {
  try {
    check_cluster(cluster);
  } catch (const Violation& v) {
    return make_error(0, "{}", v.message);
  }
  return {};
}

}  // namespace podpath::inventory
