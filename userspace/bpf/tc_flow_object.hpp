#pragma once
/// @file
/// @brief The loaded tc_flow BPF object (skeleton): programs and maps, owned.

#include <array>
#include <cstdint>
#include <memory>

#include "podpath_abi.h"
#include "util/result.hpp"

struct tc_flow;  // the bpftool skeleton; only tc_flow_object.cpp sees its definition

namespace podpath::bpf {

/// @brief Health counters summed over CPUs, indexed by enum pp_counter.
using Counters = std::array<std::uint64_t, PP_CNT_MAX>;

/// @brief Owns the tc_flow skeleton: opened, tuned, loaded; destroyed with the object.
class TcFlowObject {
 public:
  /// @brief Opens and loads the object into the kernel.
  static Result<TcFlowObject> load();

  TcFlowObject(TcFlowObject&&) noexcept;
  TcFlowObject& operator=(TcFlowObject&&) noexcept;
  ~TcFlowObject();

  [[nodiscard]] int ingress_prog_fd() const;
  [[nodiscard]] int egress_prog_fd() const;
  [[nodiscard]] int counters_map_fd() const;

  /// @brief Reads the per-CPU health counters and sums them.
  [[nodiscard]] Result<Counters> read_counters() const;

 private:
  struct SkelDeleter {
    void operator()(tc_flow* skel) const;
  };
  explicit TcFlowObject(std::unique_ptr<tc_flow, SkelDeleter> skel);

  std::unique_ptr<tc_flow, SkelDeleter> skel_;
};

}  // namespace podpath::bpf
