#include "check/service_target.hpp"

#include <fmt/format.h>
#include <netinet/in.h>

#include <charconv>

#include "inventory/source.hpp"

namespace podpath::check {
namespace {

constexpr std::uint32_t kMaxPort = 65535;

std::string port_text(const model::Service& s) {
  return fmt::format("{}/{}", s.port, model::protocol_name(s.proto));
}

Protocol protocol_of(const model::Service& s) {
  return s.proto == IPPROTO_UDP ? Protocol::Udp : Protocol::Tcp;
}

}  // namespace

Result<ServiceArg> parse_service_arg(const std::string& text) {
  ServiceArg arg;
  if (auto ip = model::IpAddress::parse(text)) {
    arg.ip = *ip;
    return arg;
  }
  const auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    if (auto ip = model::IpAddress::parse(text.substr(0, colon)); ip && ip->is_v4()) {
      const std::string p = text.substr(colon + 1);
      std::uint32_t port = 0;
      const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
      if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port == 0 || port > kMaxPort) {
        return make_error(0, "'{}': the port after the ClusterIP must be 1-65535 (got '{}')", text, p);
      }
      arg.ip = *ip;
      arg.port = static_cast<std::uint16_t>(port);
      return arg;
    }
  }
  arg.name = text;
  return arg;
}

std::string service_list(const model::Cluster& cluster) {
  constexpr std::size_t kMax = 8;
  std::string out;
  for (std::size_t i = 0; i < cluster.services.size(); ++i) {
    if (i == kMax) return out + ", ...";
    const auto& s = cluster.services[i];
    out +=
        fmt::format("{}{} {}:{}", i == 0 ? "" : ", ", s.full_name(), s.cluster_ip.to_string(), port_text(s));
  }
  return out.empty() ? "none" : out;
}

Result<std::optional<ServiceTarget>> resolve_service(const model::Cluster& cluster, const std::string& dst,
                                                     std::uint16_t port, std::optional<Protocol> proto) {
  auto arg = parse_service_arg(dst);
  if (!arg) return arg.error();
  const model::Service* svc = nullptr;
  if (arg->ip) {
    const std::string ip = arg->ip->to_string();
    svc = cluster.find_service(*arg->ip);
    if (svc == nullptr) {
      if (arg->port != 0) {
        return make_error(0,
                          "{} is no Service's ClusterIP (services: {}); to check a pod's port, name it and "
                          "give --proto tcp --port {}",
                          ip, service_list(cluster), arg->port);
      }
      if (cluster.service_cidr && cluster.service_cidr->contains(*arg->ip)) {
        return make_error(0, "{} is in the service CIDR {}, but no Service has it (services: {})", ip,
                          cluster.service_cidr->to_string(), service_list(cluster));
      }
      return std::optional<ServiceTarget>();
    }
    if (arg->port != 0 && port != 0 && arg->port != port) {
      return make_error(0, "{} names port {}, --port says {}: give one", dst, arg->port, port);
    }
    const std::uint16_t p = arg->port != 0 ? arg->port : port;
    if (p == 0) {
      return make_error(0, "{} is the ClusterIP of service {}: give its port, e.g. '{}:{}'", ip,
                        svc->full_name(), ip, svc->port);
    }
    if (const model::Service* with_port = cluster.find_service(*arg->ip, p)) {
      svc = with_port;
    } else {
      return make_error(0, "service {} ({}) has no port {} (its port: {})", svc->full_name(), ip, p,
                        port_text(*svc));
    }
  } else {
    if (cluster.find_pod(arg->name) != nullptr || cluster.find_node(arg->name) != nullptr) {
      return std::optional<ServiceTarget>();
    }
    svc = cluster.find_service(arg->name);
    if (svc == nullptr) {
      return make_error(0, "no pod, node or Service named '{}' (pods: {}; services: {})", arg->name,
                        inventory::pod_list(cluster), service_list(cluster));
    }
    if (port != 0 && port != svc->port) {
      return make_error(0, "service {} has no port {} (its port: {})", svc->full_name(), port,
                        port_text(*svc));
    }
  }
  ServiceTarget t;
  t.service = *svc;
  t.proto = protocol_of(*svc);
  if (proto && *proto == Protocol::Icmp) {
    return make_error(
        0,
        "service {} cannot be pinged: kube-proxy translates its {} port only (leave out --proto, "
        "or give --proto {})",
        svc->full_name(), port_text(*svc), to_string(t.proto));
  }
  if (proto && *proto != t.proto) {
    return make_error(0, "service {}'s port {} is {}, not {}", svc->full_name(), svc->port,
                      model::protocol_name(svc->proto), to_string(*proto));
  }
  if (svc->cluster_ip == model::IpAddress{}) {
    return make_error(0, "service {} has no ClusterIP (headless): check its pods instead", svc->full_name());
  }
  return std::optional<ServiceTarget>(std::move(t));
}

}  // namespace podpath::check
