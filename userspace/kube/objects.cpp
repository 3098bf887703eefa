#include "kube/objects.hpp"

#include <netinet/in.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "util/text.hpp"

namespace podpath::kube {
namespace {

using nlohmann::json;

/// Thrown inside the object parsers only; turned into one line naming the field.
struct FieldError {
  std::string field;
  std::string what;
};

const json* member(const json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const json& object_or_empty(const json& obj, const char* name) {
  static const json empty = json::object();
  const json* v = member(obj, name);
  return v != nullptr && v->is_object() ? *v : empty;
}

std::string string_field(const json& obj, const std::string& path, const char* name, bool required = false) {
  const json* v = member(obj, name);
  if (v == nullptr) {
    if (required) throw FieldError{path + name, "is missing"};
    return {};
  }
  if (!v->is_string()) throw FieldError{path + name, "must be a string"};
  return v->get<std::string>();
}

const json& array_field(const json& obj, const std::string& path, const char* name) {
  static const json empty = json::array();
  const json* v = member(obj, name);
  if (v == nullptr) return empty;
  if (!v->is_array()) throw FieldError{path + name, "must be a list"};
  return *v;
}

model::IpAddress ip_value(const std::string& text, const std::string& field) {
  const auto ip = model::IpAddress::parse(text);
  if (!ip) throw FieldError{field, "is not an IP address: '" + text + "'"};
  return *ip;
}

struct Meta {
  std::string uid, ns, name, resource_version;
  Time created{};
  bool terminating = false;
  std::map<std::string, std::string> labels;
};

Meta parse_meta(const json& object) {
  if (!object.is_object()) throw FieldError{"(object)", "is not a JSON object"};
  const json& m = object_or_empty(object, "metadata");
  Meta meta;
  meta.name = string_field(m, "metadata.", "name", true);
  meta.uid = string_field(m, "metadata.", "uid", true);
  meta.ns = string_field(m, "metadata.", "namespace");
  meta.resource_version = string_field(m, "metadata.", "resourceVersion");
  if (const auto ts = string_field(m, "metadata.", "creationTimestamp"); !ts.empty()) {
    const auto t = parse_rfc3339(ts);
    if (!t) throw FieldError{"metadata.creationTimestamp", "is not an RFC 3339 time: '" + ts + "'"};
    meta.created = *t;
  }
  meta.terminating = member(m, "deletionTimestamp") != nullptr;
  if (const json* labels = member(m, "labels"); labels != nullptr && labels->is_object()) {
    for (const auto& [k, v] : labels->items()) {
      if (v.is_string()) meta.labels.emplace(k, v.get<std::string>());
    }
  }
  return meta;
}

/// The identity every object carries: uid, name, resourceVersion, and the namespace of a
/// namespaced one.
template <typename T> void take_identity(Meta& meta, T& out) {
  out.uid = std::move(meta.uid);
  out.name = std::move(meta.name);
  out.resource_version = std::move(meta.resource_version);
  if constexpr (requires { out.ns; }) out.ns = std::move(meta.ns);
}

void parse_container_statuses(const json& status, const char* list, bool init, Pod& pod) {
  const json& statuses = array_field(status, "status.", list);
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    const std::string path = std::string("status.") + list + "[" + std::to_string(i) + "].";
    Container c;
    c.init = init;
    c.name = string_field(statuses[i], path, "name", true);
    std::tie(c.runtime, c.id) = split_container_id(string_field(statuses[i], path, "containerID"));
    if (const json* ready = member(statuses[i], "ready"); ready != nullptr && ready->is_boolean())
      c.ready = ready->get<bool>();
    if (const json* r = member(statuses[i], "restartCount"); r != nullptr && r->is_number_integer())
      c.restarts = r->get<int>();
    pod.containers.push_back(std::move(c));
  }
}

Pod parse_pod_object(const json& object) {
  Meta meta = parse_meta(object);
  Pod pod;
  take_identity(meta, pod);
  pod.created = meta.created;
  pod.terminating = meta.terminating;
  pod.labels = std::move(meta.labels);

  const json& spec = object_or_empty(object, "spec");
  pod.node = string_field(spec, "spec.", "nodeName");
  if (const json* hn = member(spec, "hostNetwork"); hn != nullptr) {
    if (!hn->is_boolean()) throw FieldError{"spec.hostNetwork", "must be true or false"};
    pod.host_network = hn->get<bool>();
  }
  const json& containers = array_field(spec, "spec.", "containers");
  for (std::size_t i = 0; i < containers.size(); ++i) {
    pod.spec_containers.push_back(
        string_field(containers[i], "spec.containers[" + std::to_string(i) + "].", "name", true));
  }

  const json& status = object_or_empty(object, "status");
  pod.phase = string_field(status, "status.", "phase");
  const json& pod_ips = array_field(status, "status.", "podIPs");
  for (std::size_t i = 0; i < pod_ips.size(); ++i) {
    const std::string path = "status.podIPs[" + std::to_string(i) + "].";
    pod.ips.push_back(ip_value(string_field(pod_ips[i], path, "ip", true), path + "ip"));
  }
  if (pod.ips.empty()) {
    if (const auto ip = string_field(status, "status.", "podIP"); !ip.empty())
      pod.ips.push_back(ip_value(ip, "status.podIP"));
  }
  if (const auto host_ip = string_field(status, "status.", "hostIP"); !host_ip.empty())
    pod.host_ip = ip_value(host_ip, "status.hostIP");
  parse_container_statuses(status, "containerStatuses", false, pod);
  parse_container_statuses(status, "initContainerStatuses", true, pod);
  return pod;
}

Node parse_node_object(const json& object) {
  Meta meta = parse_meta(object);
  Node node;
  take_identity(meta, node);
  const json& spec = object_or_empty(object, "spec");
  const json& cidrs = array_field(spec, "spec.", "podCIDRs");
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < cidrs.size(); ++i) {
    if (!cidrs[i].is_string())
      throw FieldError{"spec.podCIDRs[" + std::to_string(i) + "]", "must be a string"};
    texts.push_back(cidrs[i].get<std::string>());
  }
  if (texts.empty()) {
    if (auto one = string_field(spec, "spec.", "podCIDR"); !one.empty()) texts.push_back(std::move(one));
  }
  for (const auto& text : texts) {
    const auto cidr = model::Cidr::parse(text);
    if (!cidr || text.find('/') == std::string::npos)
      throw FieldError{"spec.podCIDRs", "is not a CIDR: '" + text + "'"};
    node.pod_cidrs.push_back(*cidr);
  }
  const json& status = object_or_empty(object, "status");
  const json& addresses = array_field(status, "status.", "addresses");
  for (std::size_t i = 0; i < addresses.size() && !node.internal_ip; ++i) {
    const std::string path = "status.addresses[" + std::to_string(i) + "].";
    if (string_field(addresses[i], path, "type") != "InternalIP") continue;
    node.internal_ip = ip_value(string_field(addresses[i], path, "address", true), path + "address");
  }
  const json& conditions = array_field(status, "status.", "conditions");
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    const std::string path = "status.conditions[" + std::to_string(i) + "].";
    if (string_field(conditions[i], path, "type") == "Ready")
      node.ready = string_field(conditions[i], path, "status") == "True";
  }
  return node;
}

/// A port number, 1-65535.
std::uint16_t port_value(const json& v, const std::string& field) {
  if (!v.is_number_integer()) throw FieldError{field, "must be a port number"};
  const auto n = v.get<std::int64_t>();
  if (n < 1 || n > 65535) throw FieldError{field, "is " + std::to_string(n) + ", not a port (1-65535)"};
  return static_cast<std::uint16_t>(n);
}

std::string protocol_field(const json& obj, const std::string& path) {
  std::string p = string_field(obj, path, "protocol");
  return p.empty() ? "TCP" : p;
}

Service parse_service_object(const json& object) {
  Meta meta = parse_meta(object);
  Service svc;
  take_identity(meta, svc);
  const json& spec = object_or_empty(object, "spec");
  svc.type = string_field(spec, "spec.", "type");
  if (svc.type.empty()) svc.type = "ClusterIP";
  // Headless ("None") and ExternalName Services (no clusterIP) get no ClusterIP.
  if (const auto ip = string_field(spec, "spec.", "clusterIP"); !ip.empty() && ip != "None")
    svc.cluster_ip = ip_value(ip, "spec.clusterIP");
  const json& ports = array_field(spec, "spec.", "ports");
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const std::string path = "spec.ports[" + std::to_string(i) + "].";
    ServicePort p;
    p.name = string_field(ports[i], path, "name");
    p.protocol = protocol_field(ports[i], path);
    const json* port = member(ports[i], "port");
    if (port == nullptr) throw FieldError{path + "port", "is missing"};
    p.port = port_value(*port, path + "port");
    if (const json* target = member(ports[i], "targetPort"); target == nullptr) {
      p.target_number = p.port;
    } else if (target->is_string()) {
      p.target_name = target->get<std::string>();
      if (p.target_name.empty()) throw FieldError{path + "targetPort", "is empty"};
    } else {
      p.target_number = port_value(*target, path + "targetPort");
    }
    svc.ports.push_back(std::move(p));
  }
  return svc;
}

EndpointSlice parse_endpointslice_object(const json& object) {
  Meta meta = parse_meta(object);
  EndpointSlice slice;
  take_identity(meta, slice);
  if (const auto it = meta.labels.find(kServiceNameLabel); it != meta.labels.end())
    slice.service = it->second;
  slice.address_type = string_field(object, "", "addressType");
  const bool ip_slice = slice.address_type == "IPv4" || slice.address_type == "IPv6";
  const json& endpoints = array_field(object, "", "endpoints");
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const std::string path = "endpoints[" + std::to_string(i) + "].";
    Endpoint ep;
    const json& addresses = array_field(endpoints[i], path, "addresses");
    for (std::size_t a = 0; a < addresses.size(); ++a) {
      const std::string field = path + "addresses[" + std::to_string(a) + "]";
      if (!addresses[a].is_string()) throw FieldError{field, "must be a string"};
      if (ip_slice) ep.addresses.push_back(ip_value(addresses[a].get<std::string>(), field));
    }
    const json& conditions = object_or_empty(endpoints[i], "conditions");
    if (const json* ready = member(conditions, "ready"); ready != nullptr) {
      if (!ready->is_boolean()) throw FieldError{path + "conditions.ready", "must be true or false"};
      ep.ready = ready->get<bool>();
    }
    ep.node = string_field(endpoints[i], path, "nodeName");
    const json& ref = object_or_empty(endpoints[i], "targetRef");
    if (string_field(ref, path + "targetRef.", "kind") == "Pod") {
      std::string ns = string_field(ref, path + "targetRef.", "namespace");
      const std::string name = string_field(ref, path + "targetRef.", "name");
      if (!name.empty()) ep.pod = (ns.empty() ? slice.ns : ns) + "/" + name;
    }
    slice.endpoints.push_back(std::move(ep));
  }
  const json& ports = array_field(object, "", "ports");
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const std::string path = "ports[" + std::to_string(i) + "].";
    EndpointPort p;
    p.name = string_field(ports[i], path, "name");
    p.protocol = protocol_field(ports[i], path);
    if (const json* port = member(ports[i], "port"); port != nullptr)
      p.port = port_value(*port, path + "port");
    slice.ports.push_back(std::move(p));
  }
  return slice;
}

/// kube-proxy's portProtoHash: base32 (RFC 4648, padded) of SHA-256(text), first 16 characters.
std::string kube_proxy_hash(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  // 16 characters of base32 are 80 bits: the first 10 bytes.
  std::uint64_t bits = 0;
  int held = 0;
  for (unsigned i = 0; i < 10 && i < size; ++i) {
    bits = (bits << 8) | digest[i];
    held += 8;
    while (held >= 5) {
      held -= 5;
      out += kAlphabet[(bits >> held) & 31];
    }
  }
  return out;
}

/// kube-proxy's ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port.
std::string service_port_name(const Service& service, const ServicePort& port) {
  return service.full_name() + (port.name.empty() ? "" : ":" + port.name);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

/// "pod default/web" or "node node1" for messages; best effort on a broken object.
std::string describe(const json& object, const char* kind) {
  std::string out = kind;
  const json& m = object_or_empty(object, "metadata");
  const json* ns = member(m, "namespace");
  const json* name = member(m, "name");
  // Others' names: shown through printable() (they reach log lines).
  if (ns != nullptr && ns->is_string()) out += " " + printable(ns->get<std::string>()) + "/";
  if (name != nullptr && name->is_string())
    out += (ns != nullptr && ns->is_string() ? "" : " ") + printable(name->get<std::string>());
  return out;
}

template <typename T, typename Parse> Result<T> guarded(const json& object, const char* kind, Parse parse) {
  try {
    return parse(object);
  } catch (const FieldError& e) {
    return make_error(0, "{}: {} {}", describe(object, kind), e.field, printable(e.what));  // quotes values
  } catch (const json::exception& e) {
    return make_error(0, "{}: unexpected value: {}", describe(object, kind), printable(e.what()));
  }
}

}  // namespace

bool Pod::claims_ips() const { return !host_network && phase != "Succeeded" && phase != "Failed"; }

Result<Pod> parse_pod(const json& object) { return guarded<Pod>(object, "pod", parse_pod_object); }

Result<Node> parse_node(const json& object) { return guarded<Node>(object, "node", parse_node_object); }

Result<Service> parse_service(const json& object) {
  return guarded<Service>(object, "service", parse_service_object);
}

Result<EndpointSlice> parse_endpointslice(const json& object) {
  return guarded<EndpointSlice>(object, "endpointslice", parse_endpointslice_object);
}

std::optional<Time> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    if (pos + n > text.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  const auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  // system_clock counts nanoseconds in 64 bits: years past 2262 overflow it (found by fuzzing).
  if (!year || !month || !day || !hour || !minute || !second || *year < 1970 || *year > 2200 || *month < 1 ||
      *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (text[pos] == '.') {
    ++pos;
    long long scale = 100'000'000;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      frac += std::chrono::nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= text.size()) return std::nullopt;
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 6 != text.size() || text[pos + 3] != ':') return std::nullopt;
    offset_minutes = (*oh * 60 + *om) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const std::time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t) - std::chrono::minutes(offset_minutes) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(frac);
}

std::pair<std::string, std::string> split_container_id(std::string_view text) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return {"", std::string(text)};
  return {std::string(text.substr(0, sep)), std::string(text.substr(sep + 3))};
}

model::Pod to_model_pod(const Pod& pod) {
  model::Pod out;
  out.ns = pod.ns;
  out.name = pod.name;
  out.uid = pod.uid;
  out.node = pod.node;
  if (!pod.ips.empty()) out.ip = pod.ips.front();
  for (const auto& c : pod.containers) {
    model::Container mc;
    mc.name = c.name;
    mc.id = c.id;
    mc.ready = c.ready;
    mc.init = c.init;
    out.containers.push_back(std::move(mc));
  }
  return out;
}

model::Node to_model_node(const Node& node) {
  model::Node out;
  out.name = node.name;
  if (node.internal_ip) out.underlay_ip = *node.internal_ip;
  for (const auto& cidr : node.pod_cidrs) {
    if (!node.internal_ip || cidr.is_v4() == node.internal_ip->is_v4()) {
      out.pod_cidr = cidr;
      break;
    }
  }
  if (out.pod_cidr == model::Cidr{} && !node.pod_cidrs.empty()) out.pod_cidr = node.pod_cidrs.front();
  return out;
}

std::string kube_proxy_service_chain(const Service& service, const ServicePort& port) {
  return "KUBE-SVC-" + kube_proxy_hash(service_port_name(service, port) + lower(port.protocol));
}

std::string kube_proxy_endpoint_chain(const Service& service, const ServicePort& port,
                                      const model::IpAddress& ip, std::uint16_t target_port) {
  const std::string endpoint =
      (ip.is_v4() ? ip.to_string() : "[" + ip.to_string() + "]") + ":" + std::to_string(target_port);
  return "KUBE-SEP-" + kube_proxy_hash(service_port_name(service, port) + lower(port.protocol) + endpoint);
}

std::vector<model::Service> to_model_services(const std::vector<const Service*>& services,
                                              const std::vector<const EndpointSlice*>& slices) {
  std::vector<model::Service> out;
  for (const Service* s : services) {
    if (!s->has_cluster_ip()) continue;
    for (const auto& port : s->ports) {
      model::Service m;
      if (port.protocol == "TCP") {
        m.proto = IPPROTO_TCP;
      } else if (port.protocol == "UDP") {
        m.proto = IPPROTO_UDP;
      } else {
        continue;  // SCTP: podpath follows TCP and UDP
      }
      m.ns = s->ns;
      m.name = s->name;
      m.cluster_ip = *s->cluster_ip;
      m.port = port.port;
      m.target_port = port.target_number;
      m.rule = kube_proxy_service_chain(*s, port);
      const std::string family = s->cluster_ip->is_v4() ? "IPv4" : "IPv6";
      std::set<model::IpAddress> seen;
      for (const EndpointSlice* slice : slices) {
        if (slice->ns != s->ns || slice->service != s->name || slice->address_type != family) continue;
        const auto p = std::find_if(slice->ports.begin(), slice->ports.end(), [&](const EndpointPort& e) {
          return e.name == port.name && e.protocol == port.protocol && e.port.has_value();
        });
        if (p == slice->ports.end()) continue;
        for (const auto& ep : slice->endpoints) {
          if (!ep.ready || ep.addresses.empty() || !seen.insert(ep.addresses.front()).second) continue;
          if (m.backends.empty()) m.target_port = *p->port;
          model::ServiceBackend b;
          b.pod = ep.pod;
          b.ip = ep.addresses.front();
          b.node = ep.node;
          b.rule = kube_proxy_endpoint_chain(*s, port, b.ip, *p->port);
          m.backends.push_back(std::move(b));
        }
      }
      out.push_back(std::move(m));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const model::Service& a, const model::Service& b) {
    return std::tie(a.ns, a.name, a.port, a.proto) < std::tie(b.ns, b.name, b.port, b.proto);
  });
  return out;
}

}  // namespace podpath::kube
