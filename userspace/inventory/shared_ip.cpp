#include "inventory/shared_ip.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace podpath::inventory {
namespace {

bool is_loopback_or_link_local(const model::IpAddress& ip) {
  if (ip.is_v4()) return (ip.v4_host() >> 24) == 127;
  static const model::IpAddress kLoopback6 = *model::IpAddress::parse("::1");
  return ip == kLoopback6 || (ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80);
}

UseKind classify(const AddressUse& use, const SharedIpInput& in) {
  const bool netns_known = use.netns_cookie != 0 && in.pod_netns != 0;
  if (netns_known && use.netns_cookie != in.pod_netns) return UseKind::OtherNamespace;
  if (use.local == in.pod_ip) return UseKind::PodIp;
  if (is_loopback_or_link_local(use.local)) return UseKind::Loopback;
  return UseKind::OtherAddress;
}

std::string describe_wrong(const AddressUse& use, const SharedIpInput& in) {
  const std::string where = netns_label(in.labels, use.netns_cookie);
  const std::string pod_ns = in.pod_netns != 0 ? netns_label(in.labels, in.pod_netns) : "";
  if (use.kind == UseKind::OtherNamespace) {
    if (use.local == in.pod_ip) {
      return fmt::format("used the pod IP {} but from {}, not from the pod's namespace {}",
                         use.local.to_string(), where, pod_ns);
    }
    return fmt::format("used {} from {} instead of the pod IP {} from the pod's namespace {}",
                       use.local.to_string(), where, in.pod_ip.to_string(), pod_ns);
  }
  if (use.netns_cookie == 0 || in.pod_netns == 0) {
    return fmt::format("used {} instead of the pod IP {} (network namespace not visible here)",
                       use.local.to_string(), in.pod_ip.to_string());
  }
  return fmt::format("used {} instead of the pod IP {} (inside the pod's namespace {})",
                     use.local.to_string(), in.pod_ip.to_string(), pod_ns);
}

ContainerResult judge(const ContainerTraffic& c, const SharedIpInput& in) {
  ContainerResult out{c.name, c.id, c.cgroup_id, c.process_netns, {}, ContainerStatus::NoTraffic, {}};
  if (!c.probe_error.empty()) out.reason = "the probe could not run in it: " + c.probe_error;
  std::map<std::tuple<std::uint64_t, model::IpAddress>, AddressUse> by_use;
  for (const auto& r : c.records) {
    if (r.tx_packets == 0 && r.rx_packets == 0) continue;
    AddressUse& u = by_use[{r.netns_cookie, r.local}];
    u.netns_cookie = r.netns_cookie;
    u.local = r.local;
    u.tx_packets += r.tx_packets;
    u.tx_bytes += r.tx_bytes;
    u.rx_packets += r.rx_packets;
    u.rx_bytes += r.rx_bytes;
    u.flows += 1;
  }
  for (auto& [key, u] : by_use) {
    u.kind = classify(u, in);
    out.uses.push_back(u);
  }
  std::sort(out.uses.begin(), out.uses.end(), [](const AddressUse& a, const AddressUse& b) {
    if (a.wrong() != b.wrong()) return a.wrong();
    return a.tx_packets + a.rx_packets > b.tx_packets + b.rx_packets;
  });
  if (out.uses.empty()) return out;
  out.reason.clear();  // it sent something: judged by that
  if (out.uses.front().wrong()) {
    out.status = ContainerStatus::Wrong;
    out.reason = describe_wrong(out.uses.front(), in);
    const auto more =
        std::count_if(out.uses.begin(), out.uses.end(), [](const AddressUse& u) { return u.wrong(); });
    if (more > 1) out.reason += fmt::format(" (and {} more wrong address/namespace pair(s))", more - 1);
  } else {
    out.status = ContainerStatus::Ok;
  }
  return out;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string netns_label(const NetnsLabels& labels, std::uint64_t cookie) {
  if (cookie == 0) return "unknown";
  const auto it = labels.find(cookie);
  return it != labels.end() ? it->second : fmt::format("netns cookie {}", cookie);
}

SharedIpResult check_shared_ip(const SharedIpInput& in) {
  SharedIpResult out;
  out.pod = in.pod;
  out.pod_ip = in.pod_ip;
  out.pod_netns = in.pod_netns;
  out.labels = in.labels;
  std::vector<std::string> ok, wrong, idle, unprobed;
  for (const auto& c : in.containers) {
    out.containers.push_back(judge(c, in));
    const auto& r = out.containers.back();
    if (r.status == ContainerStatus::Ok) ok.push_back(r.name);
    if (r.status == ContainerStatus::Wrong) wrong.push_back("container " + r.name + " " + r.reason);
    if (r.status == ContainerStatus::NoTraffic) idle.push_back(r.name);
    if (r.status == ContainerStatus::NoTraffic && !r.reason.empty())
      unprobed.push_back("container " + r.name + ": " + r.reason);
  }
  const std::string idle_note = idle.empty() ? "" : "; no traffic seen from " + join_names(idle);
  if (!wrong.empty()) {
    out.verdict = Verdict::Fail;
    std::string s;
    for (const auto& w : wrong) s += (s.empty() ? "" : "; ") + w;
    out.summary = s + idle_note;
  } else if (!ok.empty()) {
    out.verdict = Verdict::Pass;
    out.summary =
        fmt::format("every container that sent traffic ({}) used the pod IP {} from the pod's network "
                    "namespace{}",
                    join_names(ok), in.pod_ip.to_string(), idle_note);
  } else {
    out.verdict = Verdict::NoTraffic;
    std::string why;
    for (const auto& u : unprobed) why += (why.empty() ? "" : "; ") + u;
    out.summary = in.containers.empty() ? "the pod has no containers podpath can attribute traffic to"
                  : !why.empty()
                      ? "no container of the pod sent or received traffic while podpath watched, and " + why
                      : "no container of the pod sent or received traffic while podpath watched; run with "
                        "--probe to make each container open a connection";
  }
  return out;
}

Verdict overall_verdict(const std::vector<SharedIpResult>& results) {
  bool pass = false;
  for (const auto& r : results) {
    if (r.verdict == Verdict::Fail) return Verdict::Fail;
    pass = pass || r.verdict == Verdict::Pass;
  }
  return pass ? Verdict::Pass : Verdict::NoTraffic;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
  case Verdict::Pass:
    return "PASS";
  case Verdict::Fail:
    return "FAIL";
  case Verdict::NoTraffic:
    break;
  }
  return "NO TRAFFIC";
}

const char* to_string(ContainerStatus status) {
  switch (status) {
  case ContainerStatus::Ok:
    return "ok";
  case ContainerStatus::Wrong:
    return "WRONG";
  case ContainerStatus::NoTraffic:
    break;
  }
  return "no traffic seen";
}

const char* to_string(UseKind kind) {
  switch (kind) {
  case UseKind::PodIp:
    return "pod-ip";
  case UseKind::Loopback:
    return "loopback";
  case UseKind::OtherAddress:
    return "other-address";
  case UseKind::OtherNamespace:
    break;
  }
  return "other-namespace";
}

}  // namespace podpath::inventory
