#pragma once
// Namespace cookies as the BPF programs see them, for expectations in tests and benchmarks
// (0 where the kernel has no SO_NETNS_COOKIE; the tests that need one require 5.14+).
#include <cstdint>

#include "net/netns.hpp"

namespace podpath::testing {

/// @brief The cookie of the network namespace socket `fd` lives in.
inline std::uint64_t socket_netns_cookie(int fd) {
  const auto c = podpath::net::socket_netns_cookie(fd);
  return c ? *c : 0;
}

/// @brief The cookie of the caller's network namespace (where bpf_prog_test_run runs).
inline std::uint64_t current_netns_cookie() {
  const auto c = podpath::net::netns_cookie("");
  return c ? *c : 0;
}

}  // namespace podpath::testing
