#pragma once
/// @file
/// @brief The rules every cluster inventory must follow before podpath acts on it
/// (docs/inventory.md, "Validation"). An inventory names the namespaces podpath enters and
/// the interfaces it attaches to, so a string that is empty, a path into /proc, or a name
/// with control characters is refused, as are two things with one name or one address.
/// Used for the lab's inventory file; any other source of a Cluster can call it too.

#include <string_view>

#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief The longest interface name the kernel takes (IFNAMSIZ - 1).
inline constexpr std::size_t kMaxInterfaceName = 15;
/// @brief The longest pod, namespace, node or container name (a DNS-1123 subdomain).
inline constexpr std::size_t kMaxObjectName = 253;

/// @brief A name shown to people and matched by commands (pod, namespace, node, container,
/// gateway): 1-253 bytes of valid UTF-8, no control character (C0, DEL, C1, direction
/// overrides), no '/' (it separates namespace and name), not "." or "..".
bool is_object_name(std::string_view name);
/// @brief An interface name: 1-15 characters of [A-Za-z0-9_.-], not "." or "..".
bool is_interface_name(std::string_view name);
/// @brief A network namespace podpath may enter: a name in /run/netns ([A-Za-z0-9_.-], not
/// "." or "..") or the absolute path of one, /run/netns/NAME or /var/run/netns/NAME. Never
/// empty (that is podpath's own namespace) and never a /proc path (a PID is reused; and
/// /proc/self is podpath's own).
bool is_netns_reference(std::string_view netns);

/// @brief Checks a cluster against every rule: names and interface names well formed,
/// namespaces entered by reference (node and gateway namespaces required), cgroup and data
/// paths absolute without "..", and no two nodes, pods, pod IPs, node addresses or
/// network namespaces the same. The error is one sentence naming the field, e.g.
/// ".nodes[1].netns is empty: ...".
Result<void> validate_cluster(const model::Cluster& cluster);

}  // namespace podpath::inventory
