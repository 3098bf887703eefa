#include "inventory/lab_inventory.hpp"

#include "inventory/validate.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include <netinet/in.h>

#include <nlohmann/json.hpp>

namespace podpath::inventory {
namespace {

using model::Cidr;
using model::IpAddress;
using nlohmann::json;

/// Thrown inside the parser only; turned into an Error naming the field path.
struct FieldError {
  std::string path;
  std::string what;
};

const json& field(const json& obj, const std::string& path, const char* name) {
  if (!obj.is_object()) throw FieldError{path, "is not an object"};
  const auto it = obj.find(name);
  if (it == obj.end()) throw FieldError{path + "." + name, "is missing"};
  return *it;
}

std::string get_string(const json& obj, const std::string& path, const char* name) {
  const json& v = field(obj, path, name);
  if (!v.is_string()) throw FieldError{path + "." + name, "must be a string"};
  return v.get<std::string>();
}

std::string get_string_or(const json& obj, const char* name, std::string fallback) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw FieldError{name, "must be a string"};
  return it->get<std::string>();
}

template <typename Int> Int get_uint(const json& obj, const std::string& path, const char* name) {
  const json& v = field(obj, path, name);
  // nlohmann's get<Int>() truncates: 4294967297 would read as 1. Range-check first.
  const bool fits = v.is_number_unsigned() ? std::in_range<Int>(v.get<std::uint64_t>())
                    : v.is_number_integer()
                        ? v.get<std::int64_t>() >= 0 && std::in_range<Int>(v.get<std::int64_t>())
                        : false;
  if (!fits) {
    throw FieldError{path + "." + name, "must be a non-negative integer no larger than " +
                                            std::to_string(std::numeric_limits<Int>::max())};
  }
  return v.get<Int>();
}

IpAddress get_ip(const json& obj, const std::string& path, const char* name) {
  const std::string text = get_string(obj, path, name);
  const auto ip = IpAddress::parse(text);
  if (!ip) throw FieldError{path + "." + name, "is not an IP address: '" + text + "'"};
  return *ip;
}

Cidr get_cidr(const json& obj, const std::string& path, const char* name) {
  const std::string text = get_string(obj, path, name);
  const auto cidr = Cidr::parse(text);
  if (!cidr || text.find('/') == std::string::npos) {
    throw FieldError{path + "." + name, "is not a CIDR: '" + text + "'"};
  }
  return *cidr;
}

const json& get_array(const json& obj, const std::string& path, const char* name) {
  const json& v = field(obj, path, name);
  if (!v.is_array()) throw FieldError{path + "." + name, "must be an array"};
  return v;
}

model::Container parse_container(const json& j, const std::string& path) {
  model::Container c;
  c.name = get_string(j, path, "name");
  c.id = get_string(j, path, "id");
  c.cgroup_path = get_string(j, path, "cgroup");
  c.cgroup_id = get_uint<std::uint64_t>(j, path, "cgroup_id");
  c.pid = get_uint<int>(j, path, "pid");
  c.command = get_string_or(j, "command", "");
  return c;
}

model::Pod parse_pod(const json& j, const std::string& path) {
  model::Pod p;
  p.ns = get_string(j, path, "namespace");
  p.name = get_string(j, path, "name");
  p.uid = get_string_or(j, "uid", "");
  p.node = get_string(j, path, "node");
  p.ip = get_ip(j, path, "ip");
  p.netns = get_string(j, path, "netns");
  p.veth = get_string(j, path, "veth");
  p.sandbox_id = get_string_or(j, "sandbox_id", "");
  const json& containers = get_array(j, path, "containers");
  for (std::size_t i = 0; i < containers.size(); ++i) {
    p.containers.push_back(parse_container(containers[i], path + ".containers[" + std::to_string(i) + "]"));
  }
  return p;
}

model::Node parse_node(const json& j, const std::string& path) {
  model::Node n;
  n.name = get_string(j, path, "name");
  n.netns = get_string(j, path, "netns");
  n.underlay_ip = get_ip(j, path, "underlay_ip");
  n.pod_cidr = get_cidr(j, path, "pod_cidr");
  n.bridge_ip = get_ip(j, path, "bridge_ip");
  const json& ifs = field(j, path, "interfaces");
  const std::string ifs_path = path + ".interfaces";
  n.interfaces.uplink = get_string(ifs, ifs_path, "uplink");
  n.interfaces.bridge = get_string(ifs, ifs_path, "bridge");
  n.interfaces.docker = get_string_or(ifs, "docker", "");
  return n;
}

model::Gateway parse_gateway(const json& j, const std::string& path) {
  model::Gateway g;
  g.name = get_string(j, path, "name");
  g.netns = get_string(j, path, "netns");
  g.ip = get_ip(j, path, "ip");
  g.interface = get_string_or(j, "interface", "");
  const json& routes = get_array(j, path, "routes");
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const std::string rp = path + ".routes[" + std::to_string(i) + "]";
    g.routes.push_back({get_cidr(routes[i], rp, "dst"), get_ip(routes[i], rp, "via")});
  }
  return g;
}

// A Service as scripts/lab service add records it (docs/inventory.md).
model::Service parse_service(const json& obj, const std::string& path) {
  model::Service s;
  s.ns = get_string(obj, path, "namespace");
  s.name = get_string(obj, path, "name");
  s.cluster_ip = get_ip(obj, path, "cluster_ip");
  const std::string proto = get_string(obj, path, "protocol");
  if (proto == "TCP") {
    s.proto = IPPROTO_TCP;
  } else if (proto == "UDP") {
    s.proto = IPPROTO_UDP;
  } else {
    throw FieldError{path + ".protocol", "is '" + proto + "', not TCP or UDP"};
  }
  s.port = get_uint<std::uint16_t>(obj, path, "port");
  s.target_port = get_uint<std::uint16_t>(obj, path, "target_port");
  s.rule = get_string_or(obj, "svc_chain", "");
  const json& backends = get_array(obj, path, "backends");
  for (std::size_t i = 0; i < backends.size(); ++i) {
    const std::string bpath = path + ".backends[" + std::to_string(i) + "]";
    model::ServiceBackend b;
    b.pod = get_string_or(backends[i], "pod", "");
    b.ip = get_ip(backends[i], bpath, "ip");
    b.node = get_string_or(backends[i], "node", "");
    b.rule = get_string_or(backends[i], "sep_chain", "");
    s.backends.push_back(std::move(b));
  }
  return s;
}

model::Cluster parse_cluster(const json& root) {
  if (!root.is_object()) throw FieldError{"(document)", "is not a JSON object"};
  const int version = get_uint<int>(root, "", "version");
  if (version != kLabInventoryVersion) {
    throw FieldError{".version", "is " + std::to_string(version) + "; this podpath reads version " +
                                     std::to_string(kLabInventoryVersion)};
  }
  model::Cluster c;
  c.lab = get_string(root, "", "lab");
  c.created = get_string_or(root, "created", "");
  c.data_dir = get_string_or(root, "data_dir", "");
  c.cgroup_root = get_string_or(root, "cgroup_root", "");
  if (root.contains("underlay")) c.underlay = get_cidr(root.at("underlay"), ".underlay", "cidr");
  if (root.contains("gateway")) c.gateway = parse_gateway(root.at("gateway"), ".gateway");
  const json& nodes = get_array(root, "", "nodes");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    c.nodes.push_back(parse_node(nodes[i], ".nodes[" + std::to_string(i) + "]"));
  }
  const json& pods = get_array(root, "", "pods");
  for (std::size_t i = 0; i < pods.size(); ++i) {
    const std::string path = ".pods[" + std::to_string(i) + "]";
    model::Pod pod = parse_pod(pods[i], path);
    if (c.find_node(pod.node) == nullptr)
      throw FieldError{path + ".node", "names unknown node '" + pod.node + "'"};
    c.pods.push_back(std::move(pod));
  }
  if (root.contains("service_cidr")) c.service_cidr = get_cidr(root, "", "service_cidr");
  if (root.contains("services")) {
    const json& services = get_array(root, "", "services");
    for (std::size_t i = 0; i < services.size(); ++i) {
      c.services.push_back(parse_service(services[i], ".services[" + std::to_string(i) + "]"));
    }
  }
  return c;
}

json node_to_json(const model::Node& n) {
  json ifs = {{"uplink", n.interfaces.uplink}, {"bridge", n.interfaces.bridge}};
  if (!n.interfaces.docker.empty()) ifs["docker"] = n.interfaces.docker;
  return {{"name", n.name},
          {"netns", n.netns},
          {"underlay_ip", n.underlay_ip.to_string()},
          {"pod_cidr", n.pod_cidr.to_string()},
          {"bridge_ip", n.bridge_ip.to_string()},
          {"interfaces", ifs}};
}

json pod_to_json(const model::Pod& p) {
  json containers = json::array();
  for (const auto& c : p.containers) {
    containers.push_back({{"name", c.name},
                          {"id", c.id},
                          {"cgroup", c.cgroup_path},
                          {"cgroup_id", c.cgroup_id},
                          {"pid", c.pid},
                          {"command", c.command}});
  }
  return {{"namespace", p.ns},       {"name", p.name},   {"uid", p.uid},   {"node", p.node},
          {"ip", p.ip.to_string()},  {"netns", p.netns}, {"veth", p.veth}, {"sandbox_id", p.sandbox_id},
          {"containers", containers}};
}

}  // namespace

Result<model::Cluster> parse_lab_inventory(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return make_error(0, "inventory is not valid JSON (byte {}): {}", e.byte, e.what());
  } catch (const json::exception& e) {  // e.g. a number too large for a double (found by fuzzing)
    return make_error(0, "inventory is not valid JSON: {}", e.what());
  }
  model::Cluster cluster;
  try {
    cluster = parse_cluster(root);
  } catch (const FieldError& e) {
    return make_error(0, "inventory field {} {}", e.path, printable(e.what));
  } catch (const json::exception& e) {
    return make_error(0, "inventory has an unexpected value: {}", e.what());
  }
  if (auto valid = validate_cluster(cluster); !valid) {
    return make_error(0, "inventory field {}", valid.error().message);
  }
  return cluster;
}

Result<model::Cluster> read_lab_inventory(const std::filesystem::path& file) {
  auto text = read_regular_file(file, kMaxInventoryBytes, "inventory");
  if (!text) return text.error();
  auto cluster = parse_lab_inventory(*text);
  if (!cluster) return make_error(0, "{}: {}", file.string(), cluster.error().message);
  return cluster;
}

std::string to_lab_inventory_json(const model::Cluster& c) {
  json root = {{"version", kLabInventoryVersion}, {"lab", c.lab}};
  if (!c.created.empty()) root["created"] = c.created;
  if (!c.data_dir.empty()) root["data_dir"] = c.data_dir;
  if (!c.cgroup_root.empty()) root["cgroup_root"] = c.cgroup_root;
  if (c.underlay) root["underlay"] = {{"cidr", c.underlay->to_string()}};
  if (c.gateway) {
    json routes = json::array();
    for (const auto& r : c.gateway->routes)
      routes.push_back({{"dst", r.dst.to_string()}, {"via", r.via.to_string()}});
    root["gateway"] = {{"name", c.gateway->name},
                       {"netns", c.gateway->netns},
                       {"ip", c.gateway->ip.to_string()},
                       {"interface", c.gateway->interface},
                       {"routes", routes}};
  }
  root["nodes"] = json::array();
  for (const auto& n : c.nodes) root["nodes"].push_back(node_to_json(n));
  root["pods"] = json::array();
  for (const auto& p : c.pods) root["pods"].push_back(pod_to_json(p));
  if (c.service_cidr) root["service_cidr"] = c.service_cidr->to_string();
  if (c.service_cidr || !c.services.empty()) {
    root["services"] = json::array();
    for (const auto& s : c.services) {
      json backends = json::array();
      for (const auto& b : s.backends) {
        backends.push_back(
            {{"pod", b.pod}, {"ip", b.ip.to_string()}, {"node", b.node}, {"sep_chain", b.rule}});
      }
      root["services"].push_back({{"namespace", s.ns},
                                  {"name", s.name},
                                  {"cluster_ip", s.cluster_ip.to_string()},
                                  {"protocol", s.proto == IPPROTO_UDP ? "UDP" : "TCP"},
                                  {"port", s.port},
                                  {"target_port", s.target_port},
                                  {"svc_chain", s.rule},
                                  {"backends", backends}});
    }
  }
  return json_text(root, 2) + "\n";
}

Result<void> write_lab_inventory(const std::filesystem::path& file, const model::Cluster& cluster) {
  return write_file_atomically(file, to_lab_inventory_json(cluster));
}

bool is_lab_name(std::string_view name) {
  constexpr std::size_t kMaxLabName = 64;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  return !name.empty() && name.size() <= kMaxLabName && alnum(name.front()) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-' || c == '_'; });
}

Result<std::filesystem::path> find_lab_inventory(std::optional<std::string> prefix,
                                                 const std::filesystem::path& state_dir) {
  namespace fs = std::filesystem;
  if (prefix && !is_lab_name(*prefix)) {
    return make_error(
        0,
        "--lab takes a lab's name (as given to 'scripts/lab up --name': letters, digits, '-' and "
        "'_'), not '{}'; to read a file, use --inventory FILE",
        printable(*prefix));
  }
  if (prefix) {
    fs::path file = state_dir / *prefix / "inventory.json";
    if (fs::exists(file)) return file;
    return make_error(ENOENT,
                      "no lab named '{}' is up ({} not found); start one with: scripts/lab up --name {}",
                      *prefix, file.string(), *prefix);
  }
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::directory_iterator it(state_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!is_lab_name(it->path().filename().string())) continue;  // not a lab's directory
    fs::path file = it->path() / "inventory.json";
    if (fs::exists(file)) found.push_back(file);
  }
  if (found.empty()) {
    return make_error(ENOENT, "no lab is up and no --inventory was given; start one with: scripts/lab up");
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string names;
    for (const auto& f : found) names += (names.empty() ? "" : ", ") + f.parent_path().filename().string();
    return make_error(0, "several labs are up ({}); choose one with --lab NAME or --inventory FILE", names);
  }
  return found.front();
}

}  // namespace podpath::inventory
