#pragma once
/// @file
/// @brief What every podpath BPF object needs from libbpf: an owning handle over a loaded
/// object (whichever skeleton made it) and map reads that work on old and new kernels.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "bpf/counters.hpp"
#include "util/result.hpp"

struct bpf_object;
struct bpf_program;

namespace podpath::bpf {

/// @brief One loaded bpf_object, destroyed with the skeleton that made it.
class ObjectHandle {
 public:
  ObjectHandle(bpf_object* obj, std::function<void()> destroy);
  ~ObjectHandle();
  ObjectHandle(const ObjectHandle&) = delete;
  ObjectHandle& operator=(const ObjectHandle&) = delete;

  [[nodiscard]] bpf_object* obj() const { return obj_; }
  /// @return the program, or nullptr when the object has none of that name.
  [[nodiscard]] bpf_program* program(const char* name) const;
  /// @return the program's fd, or -1.
  [[nodiscard]] int prog_fd(const char* name) const;
  /// @return the map's fd, or -1.
  [[nodiscard]] int map_fd(const char* name) const;

 private:
  bpf_object* obj_;
  std::function<void()> destroy_;
};

/// @brief True for the errors a kernel gives for a BPF operation it does not have
/// (EINVAL, ENOTSUP/EOPNOTSUPP and the kernel-internal ENOTSUPP, 524). `err` is positive.
bool is_unsupported(int err);

/// @brief Visits every (key, value) of a map: batch lookups, or key by key where the kernel
/// has no batch operations for this map type (before 5.6).
Result<void> for_each_entry(int fd, std::size_t key_size, std::size_t value_size,
                            const std::function<void(const std::uint8_t*, const std::uint8_t*)>& visit);

/// @brief Removes every entry of a map (small maps: collects the keys, then deletes them).
Result<void> clear_map(int fd, std::size_t key_size, std::size_t value_size);

/// @brief Sums a per-CPU array of u64 counters (`counters[i]` = sum over CPUs of slot i;
/// slots beyond counters.size() are ignored).
Result<void> sum_percpu_counters(int fd, int ncpu, std::uint64_t* counters, std::size_t n);

/// @brief A program's counters map as a CounterSet: slot i is the Counter of value i (the
/// enumerators are pinned to the kernel's indices in abi.cpp).
template <typename Counter> Result<CounterSet<Counter>> read_counters_map(int fd, int ncpu) {
  std::array<std::uint64_t, CounterSet<Counter>::kSize> out{};
  if (auto r = sum_percpu_counters(fd, ncpu, out.data(), out.size()); !r) return r.error();
  return CounterSet<Counter>(out);
}

}  // namespace podpath::bpf
