/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Attaching the socket path (bpf/sock.h) to a cgroup v2: connect, sendmsg, recvmsg
 * and getpeername hooks for IPv4 and IPv6, and sockops. Each hook is a BPF link
 * pinned under PIN_DIR/cgroup/<cgroup id>/<hook>, so it outlives the command, and is
 * replaced in place (bpf_link_update) when attach runs again with a newer binary.
 */
#ifndef L4S_ATTACH_CGROUP_H
#define L4S_ATTACH_CGROUP_H

#include <jansson.h>
#include "state.h"

/* Attach (or replace) every hook on the cgroup at @path; mounts cgroup2 on @path
 * when it is an empty directory outside any cgroup2 hierarchy. On error, hooks this
 * call added are removed again. *@id gets the cgroup id. */
int attach_cgroup(struct l4s_state *st, const char *path, __u64 *id);
/* Remove the hooks from the cgroup at @path (or recorded with that path, when the
 * cgroup is gone). */
int detach_cgroup(struct l4s_state *st, const char *path);
/* Remove the hooks from every cgroup. */
int detach_cgroups_all(struct l4s_state *st);
/* The cgroup attachments, as status shows them. */
json_t *cgroup_status(struct l4s_state *st);

#endif
