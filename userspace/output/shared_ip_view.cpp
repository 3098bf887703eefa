#include "output/shared_ip_view.hpp"
#include "util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

namespace podpath::output {
namespace {

using inventory::netns_label;

nlohmann::json netns_json(const inventory::NetnsLabels& labels, std::uint64_t cookie) {
  return {{"cookie", cookie}, {"label", netns_label(labels, cookie)}};
}

/// One pod: its line, a table of its containers (one row per address a container used),
/// its verdict.
std::string render_pod(const inventory::SharedIpResult& r, const model::Cluster& cluster) {
  const model::Pod* pod = cluster.find_pod(r.pod);
  const std::string node = pod != nullptr ? pod->node : "";
  std::string out = printable(fmt::format("POD {}   IP {}   node {}   netns {}", r.pod, r.pod_ip.to_string(),
                                          node.empty() ? "?" : node, netns_label(r.labels, r.pod_netns))) +
                    "\n";
  // NETNS: where the container's process is; LOCAL IP: what its sockets used, with the
  // namespace they used when that is not the process's (a socket made after setns()).
  std::vector<std::array<std::string, 8>> rows;
  rows.push_back(
      {"CONTAINER", "NETNS", "LOCAL IP", "PKTS OUT", "PKTS IN", "BYTES OUT", "BYTES IN", "RESULT"});
  for (const auto& c : r.containers) {
    const std::string runs_in = netns_label(r.labels, c.process_netns);
    if (c.uses.empty()) {
      rows.push_back({c.name, runs_in, "-", "0", "0", "0", "0", inventory::to_string(c.status)});
      continue;
    }
    bool first = true;
    for (const auto& u : c.uses) {
      std::string local = u.local.to_string();
      if (u.netns_cookie != c.process_netns) local += " (in " + netns_label(r.labels, u.netns_cookie) + ")";
      const std::string result =
          u.wrong() ? "WRONG" : (u.kind == inventory::UseKind::Loopback ? "ok (loopback)" : "ok");
      rows.push_back({first ? c.name : "", first ? runs_in : "", local, std::to_string(u.tx_packets),
                      std::to_string(u.rx_packets), std::to_string(u.tx_bytes), std::to_string(u.rx_bytes),
                      result});
      first = false;
    }
  }
  std::array<std::size_t, 8> w{};
  for (auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      row[i] = printable(row[i]);  // container and namespace names are not ours
      w[i] = std::max(w[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? fmt::format("{:<{}}   ", row[i], w[i]) : row[i];
    }
    out += line + "\n";
  }
  out += fmt::format("  {}: {}\n\n", inventory::to_string(r.verdict), printable(r.summary));
  return out;
}

}  // namespace

std::string render_shared_ip(const check::SharedIpReport& report, const model::Cluster& cluster) {
  std::string out;
  for (const auto& r : report.results) out += render_pod(r, cluster);
  if (report.results.size() > 1) out += fmt::format("OVERALL {}\n", inventory::to_string(report.verdict));
  return out;
}

nlohmann::json shared_ip_result_to_json(const inventory::SharedIpResult& r) {
  nlohmann::json containers = nlohmann::json::array();
  for (const auto& c : r.containers) {
    nlohmann::json uses = nlohmann::json::array();
    for (const auto& u : c.uses) {
      uses.push_back({{"ip", u.local.to_string()},
                      {"netns", netns_json(r.labels, u.netns_cookie)},
                      {"kind", inventory::to_string(u.kind)},
                      {"tx_packets", u.tx_packets},
                      {"tx_bytes", u.tx_bytes},
                      {"rx_packets", u.rx_packets},
                      {"rx_bytes", u.rx_bytes},
                      {"flows", u.flows}});
    }
    containers.push_back({{"name", c.name},
                          {"id", c.id},
                          {"cgroup_id", c.cgroup_id},
                          {"netns", netns_json(r.labels, c.process_netns)},
                          {"status", inventory::to_string(c.status)},
                          {"reason", c.reason},
                          {"addresses", uses}});
  }
  return {{"pod", r.pod},
          {"ip", r.pod_ip.to_string()},
          {"netns", netns_json(r.labels, r.pod_netns)},
          {"verdict", inventory::to_string(r.verdict)},
          {"summary", r.summary},
          {"containers", containers}};
}

nlohmann::json shared_ip_to_json(const check::SharedIpReport& report) {
  nlohmann::json out = {{"verdict", inventory::to_string(report.verdict)},
                        {"namespace_mode", report.namespace_mode},
                        {"attach_cgroup", report.attach_cgroup.string()},
                        {"duration_s", report.duration_s},
                        {"pods", nlohmann::json::array()}};
  for (const auto& r : report.results) out["pods"].push_back(shared_ip_result_to_json(r));
  return out;
}

}  // namespace podpath::output
