/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Selects the committed BTF dump for the target architecture. The BPF code is
 * CO-RE: field offsets are relocated at load time against the running kernel's
 * BTF, so one dump per architecture is enough. Regenerate with scripts/gen-vmlinux.
 */
#ifndef PODPATH_VMLINUX_SELECT_H
#define PODPATH_VMLINUX_SELECT_H

#if defined(__TARGET_ARCH_x86)
#include "x86/vmlinux.h"
#else
#error "podpath: no committed vmlinux.h for this architecture; run scripts/gen-vmlinux on a target machine"
#endif

#endif
