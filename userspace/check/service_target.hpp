#pragma once
/// @file
/// @brief `podpath check POD SERVICE`: what DST names when it is a Service. A Service is
/// written "[NAMESPACE/]NAME" or "CLUSTER_IP:PORT"; everything about it (the port, the
/// protocol, the ClusterIP) is settled against the inventory here, before anything is
/// attached, so that a mistake is one sentence.

#include <cstdint>
#include <optional>
#include <string>

#include "check/probe.hpp"
#include "model/address.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::check {

/// @brief DST as written: a name, or an address with an optional ":PORT".
struct ServiceArg {
  std::string name;                    ///< "web", "default/web"; empty for an address
  std::optional<model::IpAddress> ip;  ///< "10.96.0.10" of "10.96.0.10:80"
  std::uint16_t port = 0;              ///< ":80"; 0 when none was given
};

/// @brief Parses "NAME", "NAMESPACE/NAME", "IP" or "IPV4:PORT". An address whose port is not
/// 1-65535 is an error. Pure.
Result<ServiceArg> parse_service_arg(const std::string& text);

/// @brief A Service to check, settled.
struct ServiceTarget {
  model::Service service;
  Protocol proto = Protocol::Tcp;  ///< the Service port's protocol
};

/// @brief "default/web 10.96.0.10:80/TCP, ..." (the first 8, then "..."; "none").
std::string service_list(const model::Cluster& cluster);

/// @brief Whether `dst` is a Service, and which. Pods and nodes come first: a name one of
/// them has, or an address no Service has, is not a Service (nullopt). `port` is --port (0 if
/// not given), `proto` is --proto when given. Errors, each one sentence: an unknown name, a
/// ClusterIP without a port, a port the Service does not have, a protocol it does not
/// speak, an "IP:PORT" that is no Service's. Pure.
Result<std::optional<ServiceTarget>> resolve_service(const model::Cluster& cluster, const std::string& dst,
                                                     std::uint16_t port, std::optional<Protocol> proto);

}  // namespace podpath::check
