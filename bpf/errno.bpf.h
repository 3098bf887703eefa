/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The errno values the BPF programs tell map-update failures apart by (vmlinux.h has the
 * kernel's types, not its macros). Every program counts a failed insert by its errno:
 * full (E2BIG from a hash map at max_entries, ENOMEM), busy (EBUSY: a bucket lock taken
 * by a program this one interrupted) or another error; EEXIST means another CPU created
 * the entry first, so the program looks it up again.
 */
#ifndef PODPATH_ERRNO_BPF_H
#define PODPATH_ERRNO_BPF_H

#define PP_E2BIG  7
#define PP_ENOMEM 12
#define PP_EBUSY  16
#define PP_EEXIST 17

#endif /* PODPATH_ERRNO_BPF_H */
