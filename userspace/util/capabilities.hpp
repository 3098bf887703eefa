#pragma once
/// @file
/// @brief Linux capabilities of the calling thread: which it holds, and dropping the rest.
///
/// Capabilities belong to threads, not to the process: capset(2) changes the calling
/// thread only, and a thread starts with its creator's sets. A long-running process that
/// needs privileges only for some work therefore drops them in every thread that does not
/// do that work (thread_keep_capabilities), from the thread itself.

#include <cstdint>
#include <initializer_list>
#include <string>

#include "util/result.hpp"

namespace podpath {

/// @brief A set of capabilities, one bit per CAP_* number.
using CapabilitySet = std::uint64_t;

/// @brief The set holding exactly `caps` (CAP_* numbers).
CapabilitySet capability_set(std::initializer_list<int> caps);

/// @brief The calling thread's effective set.
CapabilitySet effective_capabilities();
/// @brief The calling thread's permitted set.
CapabilitySet permitted_capabilities();

/// @brief Reduces the calling thread's permitted and effective sets to `keep` (what it
/// holds of it) and clears its inheritable set. What is dropped cannot be regained.
Result<void> thread_keep_capabilities(CapabilitySet keep);

/// @brief "cap_bpf,cap_net_admin" (capsh's names, by number); "" for the empty set.
std::string capability_names(CapabilitySet set);

}  // namespace podpath
