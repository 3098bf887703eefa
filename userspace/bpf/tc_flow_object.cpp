#include "bpf/tc_flow_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "tc_flow.skel.h"

namespace podpath::bpf {

void TcFlowObject::SkelDeleter::operator()(tc_flow* skel) const { tc_flow__destroy(skel); }

TcFlowObject::TcFlowObject(std::unique_ptr<tc_flow, SkelDeleter> skel) : skel_(std::move(skel)) {}
TcFlowObject::TcFlowObject(TcFlowObject&&) noexcept = default;
TcFlowObject& TcFlowObject::operator=(TcFlowObject&&) noexcept = default;
TcFlowObject::~TcFlowObject() = default;

Result<TcFlowObject> TcFlowObject::load() {
  std::unique_ptr<tc_flow, SkelDeleter> skel(tc_flow__open());
  if (!skel) return make_error(errno, "cannot open the tc_flow BPF object");
  if (const int err = tc_flow__load(skel.get()); err != 0) {
    return make_error(
        err, "cannot load the tc_flow BPF programs into the kernel (run with -v for the verifier log)");
  }
  return TcFlowObject(std::move(skel));
}

int TcFlowObject::ingress_prog_fd() const { return bpf_program__fd(skel_->progs.pp_tc_ingress); }
int TcFlowObject::egress_prog_fd() const { return bpf_program__fd(skel_->progs.pp_tc_egress); }
int TcFlowObject::counters_map_fd() const { return bpf_map__fd(skel_->maps.pp_counters); }

Result<Counters> TcFlowObject::read_counters() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return make_error(ncpu, "cannot count possible CPUs");
  Counters out{};
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpu));
  for (std::uint32_t i = 0; i < PP_CNT_MAX; ++i) {
    if (bpf_map_lookup_elem(counters_map_fd(), &i, per_cpu.data()) != 0) {
      return make_error(errno, "cannot read health counter {}", i);
    }
    for (auto v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace podpath::bpf
