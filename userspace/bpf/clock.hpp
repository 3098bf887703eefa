#pragma once
/// @file
/// @brief The programs' tick clock (bpf/clock.bpf.h): its resolution, and tying it to
/// CLOCK_MONOTONIC once after loading.

#include <cstdint>

#include "util/result.hpp"

namespace podpath::bpf {

/// @brief Nanoseconds per jiffy, the resolution of the kernel's tick clocks (TICK_NSEC), read
/// from CLOCK_MONOTONIC_COARSE's resolution; 0 if unknown.
std::uint64_t tick_clock_ns();

/// @brief Runs a loaded sync program (pp_clock_sync()'s body) once with BPF_PROG_TEST_RUN, which
/// sets the offset between jiffies and CLOCK_MONOTONIC in its object's variables.
Result<void> sync_tick_clock(int prog_fd);

}  // namespace podpath::bpf
