#include "bpf/link.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

namespace podpath::bpf {

void LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

void BtfDeleter::operator()(btf* b) const { btf__free(b); }

BtfPtr load_vmlinux_btf() { return BtfPtr(btf__load_vmlinux_btf()); }

bool kernel_has_kfunc(const char* name) {
  const BtfPtr vmlinux = load_vmlinux_btf();
  if (!vmlinux) return false;
  return btf__find_by_name_kind(vmlinux.get(), name, BTF_KIND_FUNC) > 0;
}

}  // namespace podpath::bpf
