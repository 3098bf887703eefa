#include "check/evidence.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace podpath::check {

std::string Place::describe() const {
  switch (kind) {
  case PlaceKind::Node:
    return name;
  case PlaceKind::Gateway:
    return "the " + name;
  case PlaceKind::Pod:
    return node.empty() ? "pod " + name : fmt::format("pod {} ({})", name, node);
  case PlaceKind::Unknown:
    break;
  }
  return name;
}

std::string DropFinding::function() const {
  const auto plus = location.find('+');
  return plus == std::string::npos ? location : location.substr(0, plus);
}

std::string HopReport::describe() const {
  return fmt::format("{} {} {}", hop.node, hop.interface, flows::to_string(hop.direction));
}

bool PathReport::any_seen() const {
  return std::any_of(hops.begin(), hops.end(), [](const HopReport& h) { return h.seen > 0; });
}

std::optional<std::size_t> PathReport::last_seen() const {
  std::optional<std::size_t> out;
  for (std::size_t i = 0; i < hops.size(); ++i) {
    if (hops[i].seen > 0 && hops[i].hop.state != flows::HopState::Unexpected) out = i;
  }
  return out;
}

std::optional<std::size_t> PathReport::stop() const {
  const auto last = last_seen();
  for (std::size_t i = last ? *last + 1 : 0; i < hops.size(); ++i) {
    if (hops[i].hop.state == flows::HopState::Missing) return i;
  }
  return std::nullopt;
}

bool GatewayRouteFact::wrong() const {
  if (!read || !actual || !expected) return false;
  if (reject) return true;
  return !expected_node.empty() && actual_node != expected_node;
}

OutcomeSummary summarize(const std::vector<ProbeOutcome>& probes) {
  OutcomeSummary s;
  std::vector<std::uint64_t> rtts;
  for (const auto& p : probes) {
    ++s.sent;
    switch (p.result) {
    case ProbeResult::Answered:
      ++s.answered;
      if (const auto rtt = p.rtt_ns()) rtts.push_back(*rtt);
      break;
    case ProbeResult::Refused:
      ++s.refused;
      break;
    case ProbeResult::IcmpError:
      ++s.icmp_errors;
      break;
    case ProbeResult::LocalError:
      ++s.local_errors;
      if (s.local_errno == 0) s.local_errno = p.error;
      break;
    case ProbeResult::Timeout:
      ++s.timeouts;
      break;
    }
    if (p.icmp && !s.icmp) s.icmp = p.icmp;
  }
  if (!rtts.empty()) {
    std::sort(rtts.begin(), rtts.end());
    s.rtt_ns = rtts[rtts.size() / 2];
  }
  return s;
}

MtuProbe mtu_probe_of(std::uint16_t size, const std::vector<ProbeOutcome>& probes) {
  const auto s = summarize(probes);
  MtuProbe m;
  m.size = size;
  m.sent = s.sent;
  m.answered = s.answered;
  m.icmp = s.icmp;
  m.local_error = s.local_errno;
  return m;
}

const char* to_string(VerdictKind kind) {
  switch (kind) {
  case VerdictKind::Reachable:
    return "reachable";
  case VerdictKind::Delivered:
    return "delivered";
  case VerdictKind::NoRoute:
    return "no_route";
  case VerdictKind::Firewall:
    return "firewall";
  case VerdictKind::LinkDown:
    return "link_down";
  case VerdictKind::Neighbour:
    return "neighbour";
  case VerdictKind::PortClosed:
    return "port_closed";
  case VerdictKind::RoutingLoop:
    return "routing_loop";
  case VerdictKind::Mtu:
    return "mtu";
  case VerdictKind::Dropped:
    return "dropped";
  case VerdictKind::LocalError:
    return "local_error";
  case VerdictKind::Unknown:
    return "unknown";
  case VerdictKind::Lost:
    break;
  }
  return "lost";
}

}  // namespace podpath::check
