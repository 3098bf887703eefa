#pragma once
/// @file
/// @brief `podpath pods`: a `kubectl get po -o wide`-like table that shows each pod's IP
/// next to its node's CIDR (the seed's lesson: the 4th octet varies, the node's range
/// does not), and the same as JSON.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/address.hpp"
#include "model/cluster.hpp"

namespace podpath::output {

/// @brief One pod with what the table shows about it.
struct PodRow {
  const model::Pod* pod = nullptr;
  std::size_t running = 0;  ///< containers counted by `is_running` (ready, or with a live process)
  std::optional<model::Cidr> node_cidr;  ///< the pod's node's pod CIDR, if the node is known
};

/// @brief Rows for every pod of `cluster` (optionally only on `node`), ordered by node
/// then IP; `running` counts the containers (init containers aside) for which `is_running` is true.
std::vector<PodRow> pod_rows(const model::Cluster& cluster, const std::string& node,
                             const std::function<bool(const model::Container&)>& is_running);

/// @brief "10.10.129." + bold-yellow "2" when colour is on; the plain address otherwise.
std::string highlight_last_octet(const model::IpAddress& ip, bool color);

/// @brief NAMESPACE, NAME, READY (running/containers, init containers aside, as in kubectl;
/// "-" when containers are unknown),
/// IP, NODE, NODE CIDR; an IP outside its node's CIDR is flagged.
std::string render_pod_table(const std::vector<PodRow>& rows, bool color);

/// @brief [{"namespace","name","ip","node","node_cidr","in_node_cidr","ready","containers":[...]}].
nlohmann::json pods_to_json(const std::vector<PodRow>& rows);

}  // namespace podpath::output
