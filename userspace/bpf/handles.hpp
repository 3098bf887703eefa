#pragma once
/// @file
/// @brief Owners of the libbpf handles podpath keeps: a bpf_link (an attached program) and
/// the kernel's BTF. Destroying a BpfLink detaches its program and closes the link's fd.

#include <memory>

struct bpf_link;
struct btf;

namespace podpath::bpf {

struct LinkDeleter {
  void operator()(bpf_link* link) const;
};
/// @brief An attached program; empty when attaching failed (libbpf returns NULL and sets errno).
using BpfLink = std::unique_ptr<bpf_link, LinkDeleter>;

struct BtfDeleter {
  void operator()(btf* b) const;
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

/// @brief The running kernel's BTF (/sys/kernel/btf/vmlinux); empty when it has none.
BtfPtr load_vmlinux_btf();

}  // namespace podpath::bpf
