#pragma once
/// @file
/// @brief Looking up many flows-map keys in one call: tc_flow's pp_read_logged program
/// (BPF_PROG_TYPE_SYSCALL, Linux 5.17+), run once per PP_READ_BATCH keys, in place of one
/// lookup syscall per key. The change log's refreshes use it (Datapath::read_logged()).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "util/result.hpp"

struct pp_flow_stats;

namespace podpath::bpf {

class BatchLookup {
 public:
  /// @brief Maps tc_flow's pp_read_batch (`batch_map_fd`) to run the loaded program
  /// `prog_fd` (pp_read_logged) on it.
  static Result<std::unique_ptr<BatchLookup>> open(int prog_fd, int batch_map_fd);
  ~BatchLookup();
  BatchLookup(const BatchLookup&) = delete;
  BatchLookup& operator=(const BatchLookup&) = delete;

  /// @brief Looks up `count` keys of `key_size` bytes each, back to back at `keys`: struct
  /// pp_flow4_map_key (pp_flows4) or pp_flow_map_key (pp_flows). Calls `found` with the index
  /// and the value of each key the map holds, in order; keys not held are skipped.
  Result<void> lookup(const void* keys, std::size_t key_size, std::size_t count,
                      const std::function<void(std::size_t, const pp_flow_stats&)>& found);

 private:
  BatchLookup(int prog_fd, void* mem, std::size_t len) : prog_fd_(prog_fd), mem_(mem), len_(len) {}

  int prog_fd_;
  void* mem_;
  std::size_t len_;
};

/// @brief The kernel runs syscall programs and has bpf_loop (Linux 5.17+), which BatchLookup
/// needs. Probed once (a few small program loads).
bool kernel_has_batch_lookup();

}  // namespace podpath::bpf
