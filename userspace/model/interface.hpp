#pragma once
/// @file
/// @brief What an interface is for, as podpath tells the kernel programs (which points
/// count into the CIDR matrix) and shows it in paths.

namespace podpath::model {

/// @brief The role of an interface on a node. Gateway is the virtual hop through the
/// underlay router, which podpath never attaches to.
enum class InterfaceRole { Other = 0, PodVeth = 1, Bridge = 2, Uplink = 3, Gateway = 4 };

/// @brief "other", "pod_veth", "bridge", "uplink", "gateway" (stable: used in JSON).
const char* to_string(InterfaceRole role);

}  // namespace podpath::model
