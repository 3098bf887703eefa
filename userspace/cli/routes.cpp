// `podpath routes`: every node's routing table in `route -n` columns, annotated.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/source.hpp"
#include "net/netns.hpp"
#include "net/routes.hpp"
#include "output/routes_view.hpp"
#include "util/result.hpp"

namespace podpath::cli {
namespace {

/// One table to show: a node's or the gateway's.
struct Section {
  std::string name;
  std::string netns;
  const model::Node* node = nullptr;  // nullptr: the gateway
  net::RouteTable table;
  std::string source;  // "netlink" or "inventory"
};

class RoutesCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "routes",
        "Show each node's routing table in `route -n` columns, each destination with what owns it.\n"
        "The main table is read live by netlink inside the node's network namespace; every destination is\n"
        "labelled: this node's pods, another node's pods, the underlay, the gateway, docker0. In a lab the "
        "gateway's table follows the nodes'.\n"
        "Without a lab: this host's table and what local discovery finds (pod bridge, uplink).");
    cluster_.add_to(*sub);
    sub->add_option("--node", node_, "Only this node (or the gateway, by its name)");
    sub->add_option("--bridge", bridge_,
                    "Without a lab: the pod bridge to discover from (default: cbr0, then cni0)");
    add_output_option(*sub, format_, "Output format: table (route -n, IPv4) or json (IPv4 and IPv6)");
    return sub;
  }

  int run(Io& io) override {
    inventory::ClusterSourceOptions source = cluster_.source();
    if (!bridge_.empty()) source.local.bridge = bridge_;
    source.bare_host_on_discovery_failure = bridge_.empty();  // the host's table is still worth showing
    auto loaded = inventory::load_cluster(source);
    if (!loaded) throw UserError(loaded.error().to_string());
    for (const auto& note : loaded->notes) spdlog::warn("{}", note);
    const model::Cluster& cluster = loaded->cluster;
    const std::string gateway_name =
        cluster.gateway ? (cluster.gateway->name.empty() ? "gateway" : cluster.gateway->name) : "";
    const bool want_gateway = cluster.gateway && (node_.empty() || node_ == gateway_name);
    if (!node_.empty() && cluster.find_node(node_) == nullptr && !want_gateway) {
      throw UserError(inventory::unknown_node_message(cluster, node_));
    }

    std::vector<Section> sections;
    for (const auto& node : cluster.nodes) {
      if (!node_.empty() && node.name != node_) continue;
      auto table = net::read_routes(node.netns);
      if (!table) {
        io.err << "podpath routes: cannot read the routes of " << node.name << ": "
               << table.error().to_string() << "\n";
        return kExitError;
      }
      sections.push_back({node.name, node.netns, &node, std::move(*table), "netlink"});
    }
    if (want_gateway && loaded->origin != inventory::ClusterOrigin::LocalDiscovery) {
      sections.push_back(gateway_section(cluster, gateway_name));
    }

    auto cidrs = inventory::CidrTable::build(cluster);
    const inventory::CidrTable* cidr_table = cidrs ? &*cidrs : nullptr;
    if (format_ == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& s : sections) {
        out.push_back({{"name", s.name},
                       {"kind", s.node != nullptr ? "node" : "gateway"},
                       {"netns", s.netns},
                       {"source", s.source},
                       {"routes", output::routes_to_json(s.table, owner_fn(cluster, s, cidr_table))}});
      }
      io.out << out.dump(2) << "\n";
      return kExitOk;
    }
    for (std::size_t i = 0; i < sections.size(); ++i) {
      const auto& s = sections[i];
      if (i > 0) io.out << "\n";
      io.out << "# " << (s.node != nullptr ? "node " : "") << s.name << " ("
             << (s.netns.empty() ? "host network namespace" : "netns " + s.netns)
             << (s.source == "inventory" ? ", routes from the inventory" : "") << ")\n";
      io.out << output::format_routes_annotated(s.table, owner_fn(cluster, s, cidr_table));
    }
    return kExitOk;
  }

 private:
  static output::RouteOwnerFn owner_fn(const model::Cluster& cluster, const Section& s,
                                       const inventory::CidrTable* cidrs) {
    return [&cluster, node = s.node, cidrs](const net::Route& r) {
      return output::route_owner(r, cluster, node, cidrs);
    };
  }

  /// The gateway's table, live from its namespace when possible, else from the inventory.
  static Section gateway_section(const model::Cluster& cluster, const std::string& name) {
    const model::Gateway& gw = *cluster.gateway;
    if (!gw.netns.empty()) {
      auto table = net::read_routes(gw.netns);
      if (table) return {name, gw.netns, nullptr, std::move(*table), "netlink"};
      spdlog::warn("cannot read the gateway's routes live ({}); showing the inventory's",
                   table.error().to_string());
    }
    return {name, gw.netns, nullptr, net::gateway_route_table(gw, cluster.underlay), "inventory"};
  }

  ClusterFlags cluster_;
  std::string node_;
  std::string bridge_;
  std::string format_ = "table";
};

}  // namespace

std::unique_ptr<Command> make_routes_command() { return std::make_unique<RoutesCommand>(); }

}  // namespace podpath::cli
