/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A service as read from the maps: frontends, tracks, backends and weights.
 * Commands change a model in memory, validate it, then commit it: weights and
 * backends first, the lookup table last, swapped in with one map update.
 */
#ifndef L4S_MODEL_H
#define L4S_MODEL_H

#include "l4split.h"
#include "state.h"

struct model_backend {
	__u32 id;
	struct l4s_backend be;
	__u64 weight;      /* inside the track */
	__u64 effective;   /* share of the service, any scale */
	__u32 slots;       /* in the committed table (filled by model_count_slots) */
	__u64 flows;       /* live flow entries (filled by model_count_flows) */
	int removed;       /* drop on commit */
	int fresh;         /* new: gets an id and its records on commit */
	int dirty;         /* weight or track changed */
};

struct model_track {
	char name[L4S_NAME_LEN];
	__u64 weight;
	int in_map;
	int removed;
	int dirty;         /* weight changed, or new */
};

struct model {
	__u32 id;
	struct l4s_service svc;
	__u32 aff_timeout; /* l4s_svcaff: client-IP affinity timeout, seconds (0: none) */
	struct model_backend *be;
	int nbe;
	struct model_track *tr;
	int ntr;
	struct l4s_frontend_key *fe;
	int nfe;
};

/* Find a service by name: 0 and *id, or -ENOENT with a message. A service still
 * being created (L4S_SVC_F_PENDING) is not found. */
int svc_find(struct l4s_state *st, const char *name, __u32 *id);
/* The same without a message: 0 found, -ENOENT not. */
int svc_lookup(struct l4s_state *st, const char *name, __u32 *id);
/* Ids of all services in use, sorted by name. Caller frees *ids. */
int svc_list(struct l4s_state *st, __u32 **ids, int *n);

int model_load(struct l4s_state *st, __u32 id, struct model *m);
void model_free(struct model *m);
/* Deep copy. 0 or -ENOMEM with a message. */
int model_copy(struct model *dst, const struct model *src);
/* Make @m's frontends @fe (after they changed in the maps). 0 or -ENOMEM. */
int model_set_frontends(struct model *m, const struct l4s_frontend_key *fe, int nfe);

struct model_track *model_track(struct model *m, const char *name);
struct model_track *model_track_add(struct model *m, const char *name, __u64 weight);
struct model_backend *model_backend_find(struct model *m, const struct l4s_addr *a, __u8 family,
					 __u16 port_host);
/* Compute effective weights of every backend (track weight x share in track). */
void model_effective(struct model *m);
/* The live lookup table: *slots gets table_size backend ids (NULL: no table). */
int model_read_table(struct l4s_state *st, struct model *m, __u32 **slots);
/* Fill slots from the live table and flows from the flow table. */
int model_count_slots(struct l4s_state *st, struct model *m);
int model_count_flows(struct l4s_state *st, struct model *m);

/* Build the lookup table of the model as it is (effective weights of the backends not
 * removed) in a new map and swap it in with one update of l4s_tables. */
int table_install(struct l4s_state *st, struct model *m);
/* The two halves, for many services at once: a new inner map holding the model's table
 * (its fd, or -errno with a message), and one batched update of l4s_tables installing
 * @n of them (ids[i] gets fds[i]). Use table_install once first in a command: it finds
 * out which kind of inner map the state takes (st->tables_known). */
int table_make(struct l4s_state *st, struct model *m);
int tables_put(struct l4s_state *st, const __u32 *ids, const int *fds, int n);

/* Allocate a free backend id (marked pending until committed). */
int backend_alloc(struct l4s_state *st, __u32 *id, __u32 *exclude, int nexclude);
/* Delete the flows of a backend (forward and reverse); returns how many were removed. */
long flows_flush_backend(struct l4s_state *st, __u32 backend_id);
/* Forward entries only; the reverse ones of several backends in one scan: */
long flows_flush_backend_fwd(struct l4s_state *st, __u32 backend_id);
void rflows_flush(struct l4s_state *st, __u32 *ids, int nids);
/* Delete every flow of a service. */
long flows_flush_service(struct l4s_state *st, __u32 svc_id);

#endif
