#pragma once
/// @file
/// @brief The verdict of `podpath check`: reachable, or where the packets stop and why,
/// from the evidence alone (no kernel access, so every rule is unit-tested).
///
/// The rules, first match wins: answered (then the large-packet probe decides about an
/// MTU blackhole) · refused (TCP RST / ICMP port unreachable: port closed) · the source
/// could not send · a link on the path is down · the kernel dropped the packets (by
/// reason: no route, neighbour failure, firewall, TTL, other) · an ICMP error came back
/// · routing or neighbour state that explains where the path stops · a stop before hops that
/// cannot be known (their node's agent does not answer: `check --cluster`) · the stop point alone.

#include "check/evidence.hpp"

namespace podpath::check {

/// @brief Judges the evidence.
Verdict diagnose(const Evidence& evidence);

}  // namespace podpath::check
