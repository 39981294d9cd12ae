/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Loading the embedded BPF object on the running kernel: only the programs a command
 * needs, the optional kernel features probed and the fallbacks chosen before load
 * (bpf/kfeat.h), and an error that names the kernel when the kernel is the cause.
 */
#ifndef L4S_LOAD_H
#define L4S_LOAD_H

#include <stdbool.h>

/* Program sets (what a command needs): none at all only creates and pins the maps. */
#define L4S_LOAD_MAPS 0u        /* maps only: service, backend, weight ... */
#define L4S_LOAD_NODE (1u << 0) /* l4s_xdp_fwd, l4s_tc_fwd, l4s_tc_reply: attach DEV */
#define L4S_LOAD_SOCK (1u << 1) /* the cgroup programs: attach --cgroup */

/* What the running kernel has, of what l4split can use or do without. */
struct l4s_kfeat {
	bool set_retval;       /* bpf_set_retval, 5.18: else EPERM instead of ECONNREFUSED */
	bool coarse_ns;        /* bpf_ktime_get_coarse_ns, 5.11: else bpf_ktime_get_ns */
	bool cgroup_recvmsg;   /* cgroup recvmsg4/6 hooks, 5.2: needed by attach --cgroup */
	bool cgroup_peername;  /* cgroup getpeername4/6 hooks, 5.8: needed by attach --cgroup */
};

/* Probe the running kernel (cached after the first call). L4SPLIT_KFEAT_OFF, a comma
 * list of struct l4s_kfeat names, masks features off: the fallbacks can be tried on a
 * newer kernel. */
const struct l4s_kfeat *kfeat_get(void);

/* May program sets @sets load with @f? 0, or -EOPNOTSUPP with "Error: ...: needs Linux
 * X.Y (FEATURE)" and a hint recorded. Pure. */
int kfeat_check(const struct l4s_kfeat *f, unsigned int sets);

struct l4split_bpf;
/* Load the opened @skel: the programs of @sets only, features as kfeat_get() found them.
 * On failure, 0 or -errno with a message saying what refused it (kernel, verifier,
 * permissions, or the pinned maps in @pin_dir) and a hint. */
int load_object(struct l4split_bpf *skel, unsigned int sets, const char *pin_dir);

#endif
