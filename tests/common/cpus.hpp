#pragma once
// Running test code on each CPU in turn. BPF_PROG_TEST_RUN runs an skb program on the
// calling thread's CPU, and refuses BPF_F_TEST_RUN_ON_CPU for TC programs (EINVAL), so a
// test that must see every CPU's copy of per-CPU state pins its thread instead.
#include <sched.h>

#include <utility>
#include <vector>

namespace podpath::testing {

/// @brief The CPUs this thread may run on.
inline std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  }
  return out;
}

/// @brief Calls `f` with the thread pinned to `cpu`, then restores the affinity. Returns
/// false if the thread could not be pinned.
template <typename F> bool on_cpu(int cpu, F&& f) {
  cpu_set_t saved;
  CPU_ZERO(&saved);
  if (sched_getaffinity(0, sizeof(saved), &saved) != 0) return false;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return false;
  std::forward<F>(f)();
  sched_setaffinity(0, sizeof(saved), &saved);
  return true;
}

}  // namespace podpath::testing
