// `podpath routes`: every node's routing table in `route -n` columns, annotated.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/route_tables.hpp"
#include "inventory/source.hpp"
#include "output/routes_view.hpp"
#include "util/result.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

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
    inventory::ClusterSourceOptions source = cluster_.source({node_});
    if (!bridge_.empty()) source.local.bridge = bridge_;
    source.bare_host_on_discovery_failure = bridge_.empty();  // the host's table is still worth showing
    auto loaded = inventory::load_cluster(source);
    if (!loaded) throw UserError(loaded.error().to_string());
    for (const auto& note : loaded->notes) spdlog::warn("{}", note);
    const model::Cluster& cluster = loaded->cluster;
    auto sections = inventory::cluster_route_tables(*loaded, node_);
    if (!sections) throw UserError(sections.error().to_string());

    auto cidrs = inventory::CidrTable::build(cluster);
    const inventory::CidrTable* cidr_table = cidrs ? &*cidrs : nullptr;
    if (format_ == "json") {
      io.out << json_text(output::route_tables_to_json(*sections, cluster, cidr_table), 2) << "\n";
    } else {
      io.out << output::render_route_tables(*sections, cluster, cidr_table);
    }
    return kExitOk;
  }

 private:
  ClusterFlags cluster_;
  std::string node_;
  std::string bridge_;
  std::string format_ = "table";
};

}  // namespace

std::unique_ptr<Command> make_routes_command() { return std::make_unique<RoutesCommand>(); }

}  // namespace podpath::cli
