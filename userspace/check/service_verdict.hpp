#pragma once
/// @file
/// @brief The verdict of `podpath check POD SERVICE`: the connections grouped by the backend
/// kube-proxy's DNAT picked for each, every backend judged like a pod (check/diagnose.hpp,
/// on the connections it got), the connections no DNAT was seen for judged apart, then one
/// verdict for the Service. Pure (no kernel access), so every rule is unit-tested.
///
/// The rules, first match wins: no backend picked and kube-proxy's REJECT answered (ICMP
/// port unreachable): no endpoints · every connection answered: reachable · some backends
/// answer and some fail: partial, naming each failing backend and why · none answers:
/// unreachable.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "check/evidence.hpp"
#include "model/cluster.hpp"

namespace podpath::check {

/// @brief One backend and the connections the DNAT sent to it.
struct BackendReport {
  /// @brief The backend: from the inventory when it is one of the Service's, else just the
  /// address the DNAT chose (pod and rule empty).
  model::ServiceBackend backend;
  std::uint16_t port = 0;  ///< the port the DNAT chose (the Service's target port)
  /// @brief Its connections as a check from the client to the backend: the probes, each
  /// direction's path joined across the translation, drops and facts.
  Evidence evidence;
  Verdict verdict;  ///< diagnose(evidence)
};

/// @brief Connections no translation was recorded for (kube-proxy had no endpoint, or no
/// rule for the ClusterIP): judged as a check to the ClusterIP itself.
struct UntranslatedReport {
  Evidence evidence;  ///< dst = the ClusterIP
  Verdict verdict;    ///< diagnose(evidence)
  /// @brief The node whose address answered with ICMP port unreachable (kube-proxy's REJECT);
  /// empty when no node did.
  std::string reject_node;
};

/// @brief Everything known about the connections to one Service.
struct ServiceEvidence {
  model::Service service;
  Protocol proto = Protocol::Tcp;
  flows::Endpoint client;
  std::vector<BackendReport> backends;  ///< the backends picked, in order of first connection
  std::optional<UntranslatedReport> untranslated;
};

/// @brief Kinds of Service verdict (stable: JSON "kind").
enum class ServiceVerdictKind {
  Reachable,    ///< every connection answered
  Partial,      ///< some backends answer, some fail
  NoEndpoints,  ///< kube-proxy rejects the Service: it has no endpoints
  Unreachable,  ///< no connection answered
};

/// @brief "reachable", "partial", "no_endpoints", "unreachable".
const char* to_string(ServiceVerdictKind kind);

/// @brief The conclusion for the Service.
struct ServiceVerdict {
  bool reachable = false;  ///< every connection answered
  ServiceVerdictKind kind = ServiceVerdictKind::Unreachable;
  std::string summary;               ///< one sentence
  std::string hop;                   ///< the hop it names, if any
  std::vector<std::string> details;  ///< supporting facts, one sentence each
};

/// @brief Judges the connections.
ServiceVerdict judge_service(const ServiceEvidence& evidence);

/// @brief "pod default/web-1 (node2)", or the address for a backend the inventory does not know.
std::string backend_name(const model::ServiceBackend& backend);

}  // namespace podpath::check
