/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service records in the maps, for the writer (writer.h): the record of a new
 * service, frontend ownership, the backend index, and delete (frontends first, so
 * a service stops being reachable before anything it names goes away).
 */
#ifndef L4S_SVC_H
#define L4S_SVC_H

#include "state.h"

/* The frontend @k free, or owned by @self: 0; owned by another service: -EEXIST with a
 * message naming it. */
int svc_frontend_owner(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 self);
/* The first free service id: 0, or -ENOSPC with a message. */
int svc_free_slot(struct l4s_state *st, __u32 *id);
/* Write the record of a new service at @id (its counters zeroed); *out gets it. No
 * table, no frontends: the writer adds them (writer.c). */
int svc_reserve(struct l4s_state *st, __u32 id, const char *name,
		const struct l4s_frontend_key *fe0, __u32 flags, __u32 table_size, __u8 mode,
		struct l4s_service *out);
struct model;
/* Make l4s_bindex hold exactly the backends of the service in @m (after every change
 * of its backends, frontends or mode); a deleted service (mode ignored) holds none. */
int svc_sync_index(struct l4s_state *st, const struct model *m);
/* Only the entries of backends that are new (fresh) or removed in @m. */
int svc_sync_index_changed(struct l4s_state *st, const struct model *m);
/* The same for every service (attach: a state from before the index, or an older
 * binary's changes). */
int svc_sync_index_all(struct l4s_state *st);
/* Give back the backends of @id that a change killed part-way was removing
 * (L4S_BE_F_REMOVING: not in its model), and forget their flows. */
void svc_free_removing(struct l4s_state *st, __u32 id);
/* Delete: *nbe backends and *flows flow entries went with it (either may be NULL). */
int svc_delete(struct l4s_state *st, __u32 id, int *nbe, long *flows);

#endif
