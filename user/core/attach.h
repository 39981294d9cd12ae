/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Attaching the programs to devices (XDP or tc ingress, plus tc egress for replies). */
#ifndef L4S_ATTACH_H
#define L4S_ATTACH_H

#include "state.h"

#define L4S_TC_HANDLE 0x4c34 /* "L4" */
#define L4S_TC_PRIO   0xc4

enum xdp_mode { XDP_MODE_NATIVE, XDP_MODE_GENERIC };

struct attach_opts {
	enum xdp_mode mode;
	int tc_only;
	int redirect_target; /* the device may be used as an XDP redirect target */
};

int attach_dev(struct l4s_state *st, const char *dev, const struct attach_opts *o);
int detach_dev(struct l4s_state *st, const char *dev);
/*
 * Detach every device of this network namespace; *left gets the number of entries of
 * other namespaces that exist (@where: "DEV in netns NAME, ..."), *gone the number of
 * entries of namespaces that no longer exist (their records are removed).
 */
int detach_all(struct l4s_state *st, int *left, int *gone, char *where, size_t wlen);
__u64 netns_ino(void);
/*
 * Name the network namespace of inode @ino in @name: "this", its 'ip netns' name, or
 * "of pid N". Returns 1 when it exists, 0 when no name or process holds it (gone).
 */
int netns_find(__u64 ino, char *name, size_t n);
/* SNAT needs the kernel to forward packets with a local source address: set
 * accept_local=1 and rp_filter=0 on @dev (and rp_filter=0 on "all"). */
int snat_prepare_dev(const char *dev);
/* The same for every device l4split is attached to in this namespace (*n of them). */
int snat_prepare_attached(struct l4s_state *st, int *n);
/* The default SNAT source: write each device's primary IPv4 and IPv6 address (netlink
 * RTM_GETADDR of this namespace) to l4s_devaddr (@map_fd), dropping devices gone. Run
 * by 'attach' and 'node set'/'node unset'/'node show'. */
int snat_devaddr_fill(int map_fd);
/* snat_devaddr_fill on @st's l4s_devaddr (nothing when the state has none yet), then
 * "DEV ADDR4 ADDR6, ..." of what it holds in @list. */
int snat_devaddr_refresh(struct l4s_state *st, char *list, size_t n);

#endif
