#pragma once
/// @file
/// @brief Recent kernel drops (GET /v1/drops): each placed on a watched node (the interface
/// it was on and its role), in one of its pods, or in a namespace podpath cannot name, with
/// its flow resolved. An agent watches one node, `trace --web` every node of a lab. Drops in
/// the namespaces of nodes not watched (a lab's nodes share one kernel) are left out.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/drops.hpp"
#include "flows/endpoint.hpp"
#include "loader/loader.hpp"

namespace podpath::server {

/// @brief A network namespace podpath can name, by cookie.
struct NetnsPlace {
  enum class Kind { Node, Pod, OtherNode };
  Kind kind = Kind::Node;
  std::string name;  ///< the node, or the pod "namespace/name"
  std::string node;  ///< the node it is on (a pod's node); "" = the log's own node
};

/// @brief Where a drop happened, as the metrics label it.
struct DropPlacement {
  std::string role;  ///< pod_veth, bridge, uplink, other (an interface), stack (no device), pod, unknown
  nlohmann::json json;
};

class DropLog {
 public:
  /// @brief `node`: the node a drop in a namespace podpath cannot name is shown on (an
  /// agent's own); "" when the log covers several nodes.
  DropLog(std::string node, std::size_t capacity) : node_(std::move(node)), capacity_(capacity) {}

  /// @brief The namespaces podpath knows (the watched nodes', their pods', other nodes').
  void set_places(std::map<std::uint64_t, NetnsPlace> places) { places_ = std::move(places); }
  /// @brief The interfaces podpath attached to.
  void set_interfaces(const std::vector<loader::AttachedInterface>& interfaces);

  /// @brief Places and keeps one drop (the oldest goes beyond the capacity); nullopt when the
  /// drop belongs to another node. `location` is the symbolised kernel address.
  std::optional<DropPlacement> add(const bpf::DropEvent& event, const std::string& location,
                                   const flows::EndpointResolver& resolver);

  /// @brief The kept drops, newest first, each serialised; the same pointer until add().
  std::shared_ptr<const std::vector<std::string>> entries();
  [[nodiscard]] std::uint64_t total() const { return total_; }

 private:
  std::string node_;
  std::size_t capacity_;
  std::map<std::uint64_t, NetnsPlace> places_;
  std::map<std::pair<std::uint64_t, std::uint32_t>, loader::AttachedInterface> interfaces_;
  std::deque<std::string> kept_;  // oldest first
  std::shared_ptr<const std::vector<std::string>> entries_;
  std::uint64_t total_ = 0;
};

}  // namespace podpath::server
