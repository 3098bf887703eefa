#include "bpf/handles.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

namespace podpath::bpf {

void LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }

void BtfDeleter::operator()(btf* b) const { btf__free(b); }

BtfPtr load_vmlinux_btf() { return BtfPtr(btf__load_vmlinux_btf()); }

}  // namespace podpath::bpf
