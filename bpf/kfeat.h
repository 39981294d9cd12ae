/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Optional kernel features. userspace (user/core/load.c) probes the running kernel and
 * clears what it lacks before the object is loaded; these are read-only data, so the
 * verifier sees a constant and never walks the branch that calls a helper the kernel
 * does not have (an unknown helper in a pruned branch is removed, not refused).
 * Instructions are another matter: the verifier rejects an unknown opcode anywhere in
 * a program, reachable or not, so nothing here may guard an atomic compare-and-swap
 * (see snat.h's claim, which needs none).
 */
#ifndef L4S_KFEAT_H
#define L4S_KFEAT_H

#include "vmlinux.h"

/* bpf_set_retval (Linux 5.18): the socket path refuses with ECONNREFUSED; without it
 * a refused connect() or sendmsg() fails with EPERM (what a cgroup hook's 0 means). */
const volatile __u8 l4s_have_set_retval = 1;
/* bpf_ktime_get_coarse_ns (Linux 5.11); else bpf_ktime_get_ns (same clock, finer). */
const volatile __u8 l4s_have_coarse_ns = 1;

#endif
