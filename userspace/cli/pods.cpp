// `podpath pods`: pods with their IPs next to their node's CIDR (kubectl get po -o wide).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <optional>
#include <ostream>
#include <string>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/processes.hpp"
#include "inventory/source.hpp"
#include "output/pods_view.hpp"
#include "output/terminal.hpp"
#include "util/result.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

class PodsCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "pods",
        "List pods like `kubectl get po -o wide`, with each node's pod CIDR next to the pod IP.\n"
        "Columns: namespace, name, ready containers (as the Kubernetes API reports them, else those running "
        "here), IP, node and the node's pod CIDR. Every pod IP should fall inside its node's CIDR; only the "
        "4th octet varies\n"
        "(highlighted on a terminal). Pods come from --inventory, --lab, the lab that is up, the Kubernetes "
        "API (--kubeconfig,\n"
        "$KUBECONFIG, in-cluster, ~/.kube/config), or from this node itself (pod bridge cbr0/cni0 and "
        "host-local IPAM state).");
    cluster_.add_to(*sub);
    sub->add_option("--node", node_, "Only pods scheduled on this node");
    sub->add_option("--bridge", bridge_,
                    "Without a lab: the pod bridge to discover from (default: cbr0, then cni0)");
    add_output_option(*sub, format_, "Output format: table or json");
    return sub;
  }

  int run(Io& io) override {
    inventory::ClusterSourceOptions source = cluster_.source({node_});
    if (!bridge_.empty()) source.local.bridge = bridge_;
    auto loaded = inventory::load_cluster(source);
    if (!loaded) throw UserError(loaded.error().to_string());
    for (const auto& note : loaded->notes) spdlog::info("{}", note);
    spdlog::debug("pods from {}", loaded->description);
    const model::Cluster& cluster = loaded->cluster;
    if (!node_.empty() && cluster.find_node(node_) == nullptr)
      throw UserError(inventory::unknown_node_message(cluster, node_));

    const auto rows = output::pod_rows(cluster, node_, inventory::container_ready);
    if (format_ == "json") {
      io.out << json_text(output::pods_to_json(rows), 2) << "\n";
    } else {
      io.out << output::render_pod_table(rows, output::use_color(io.out));
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

std::unique_ptr<Command> make_pods_command() { return std::make_unique<PodsCommand>(); }

}  // namespace podpath::cli
