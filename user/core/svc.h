/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lifecycle in the maps, shared by the CLI and the agent: create (table
 * first, frontends last, so a service is never reachable half-made), change its
 * frontends or flags in place, delete (frontends first, so it stops being
 * reachable before anything it names goes away).
 */
#ifndef L4S_SVC_H
#define L4S_SVC_H

#include "state.h"

/* Validate and create. 0 and *id, or -errno with a message (EEXIST, ENOSPC...). */
int svc_create(struct l4s_state *st, const char *name, const struct l4s_frontend_key *fe,
	       int nfe, __u32 flags, __u32 table_size, __u32 *id);
/* Only the service's record (id, name, flags, table size): not reachable, no table.
 * The caller commits its model (which builds the table once), then sets its frontends;
 * svc_delete() undoes it. */
int svc_reserve(struct l4s_state *st, const char *name, const struct l4s_frontend_key *fe,
		int nfe, __u32 flags, __u32 table_size, __u32 *id);
struct model;
/* Does the service in @m have exactly the frontends @fe (in any order)? */
int svc_frontends_equal(const struct model *m, const struct l4s_frontend_key *fe, int nfe);
/* Make the frontends of @id exactly @fe: new ones are added before old ones go. */
int svc_set_frontends(struct l4s_state *st, __u32 id, const struct l4s_frontend_key *fe, int nfe);
/* Replace the L4S_SVC_F_* flags the user controls (affinity, agent ownership). */
int svc_set_flags(struct l4s_state *st, __u32 id, __u32 flags);
/* Set the mode (enum l4s_mode): it applies to new flows; the DSR map follows. */
int svc_set_mode(struct l4s_state *st, __u32 id, __u8 mode);
/* Make l4s_bindex hold exactly the backends of the service in @m (after every change
 * of its backends, frontends or mode); a deleted service (mode ignored) holds none. */
int svc_sync_index(struct l4s_state *st, const struct model *m);
/* The same for every service (attach: a state from before the index, or an older
 * binary's changes). */
int svc_sync_index_all(struct l4s_state *st);
/* Delete: *nbe backends and *flows flow entries went with it (either may be NULL). */
int svc_delete(struct l4s_state *st, __u32 id, int *nbe, long *flows);

#endif
