#pragma once
// Root-only tests skip without privileges, except when PODPATH_NO_SKIP=1 (set by
// scripts/test under CI=true): there a skip would hide a tier, so it fails instead.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace podpath::testing {
inline bool no_skip() {
  const char* v = std::getenv("PODPATH_NO_SKIP");
  return v != nullptr && std::string_view(v) == "1";
}
}  // namespace podpath::testing

#define PODPATH_REQUIRE_ROOT()                                                                               \
  do {                                                                                                       \
    if (geteuid() != 0) {                                                                                    \
      if (::podpath::testing::no_skip()) FAIL() << "needs root (PODPATH_NO_SKIP=1)";                         \
      GTEST_SKIP() << "needs root (CAP_BPF, CAP_NET_ADMIN): run as root";                                    \
    }                                                                                                        \
  } while (0)
