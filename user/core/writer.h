/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one writer of service state. Every input (the CLI commands, `apply`, `sync`,
 * the agent, a rollout) fills a struct svc_spec (spec.h) and hands it to
 * service_apply(), which makes the live state equal to it:
 *
 *   validate the spec, check it against the state (names, frontends, capacity),
 *   diff it against the live service, and write only what changed:
 *     a new service: its record (pending), backends, tracks, table, frontends last,
 *       then the record again (no longer pending): never reachable half-made;
 *     a changed one: the record marked dirty, new and changed backend and track
 *       records, the table (only when a backend's share or the set changed), what
 *       went away, the frontends (new before old), the record (clean).
 *
 * A writer killed at any point leaves a pending or dirty record; the next writer
 * (service_repair, under the lock) deletes a pending service (as before) and
 * finishes a dirty one from its records (as after).
 */
#ifndef L4S_WRITER_H
#define L4S_WRITER_H

#include "spec.h"
#include "state.h"

enum write_how {
	WRITE_UPSERT = 0, /* create or update */
	WRITE_CREATE,     /* the service must not exist */
	WRITE_UPDATE,     /* the service must exist */
};

struct write_opts {
	enum write_how how;
	int dry_run; /* check and diff, write nothing */
	int agent;   /* the agent writes: a service it did not make is left alone */
};

struct write_result {
	__u32 id;
	int created;
	int changed; /* something was written (dry run: would be) */
	int fe_changed, flags_changed, mode_changed, table_changed;
	int be_added, be_removed, be_changed;
	int tr_added, tr_removed, tr_changed;
	long flows_dropped; /* flow entries of removed backends */
	int starved;        /* backends with a weight above 0 that get no slot */
	struct spec_backend starved_be; /* the first of them */
};

/* The live service @name (or id) as a spec. 0, or -ENOENT / -errno with a message. */
int service_get(struct l4s_state *st, const char *name, struct svc_spec *s);
int service_spec(struct l4s_state *st, __u32 id, struct svc_spec *s);

/* Is the spec well-formed by itself (no state read)? 0 or -EINVAL... with a message. */
int spec_validate(const struct svc_spec *s);

/* Make the live service equal to @want. 0 or -errno with a message; on error nothing
 * that the datapath or a reader sees has changed. */
int service_apply(struct l4s_state *st, const struct svc_spec *want, const struct write_opts *o,
		  struct write_result *r);

/* service_apply for @n specs, in order, r[i] for each: existing services one at a time,
 * new ones together (their tables installed with one outer-map update for up to 256:
 * each such update waits for the programs, ~10 ms here). Stops at the first failure:
 * *failed gets its index; the services before it are applied, it and the rest are not
 * (-1 when all went). 0 or -errno with a message. */
int service_apply_many(struct l4s_state *st, const struct svc_spec *s, int n,
		       const struct write_opts *o, struct write_result *r, int *failed);

/* Read the live service @name as a spec, let @edit change it (0, or -errno with a
 * message), and write it (WRITE_UPDATE): the read-modify-write of the CLI's commands.
 * *s is the spec as written (the caller frees it, also on error). */
int service_edit(struct l4s_state *st, const char *name,
		 int (*edit)(struct svc_spec *s, void *ctx), void *ctx, struct svc_spec *s,
		 struct write_result *r);

/* Delete a service (frontends first). @nbe, @flows may be NULL. */
int service_delete(struct l4s_state *st, __u32 id, int *nbe, long *flows);

/* Finish or undo what a killed writer left (pending and dirty services). Runs once per
 * locked state, before the first write; 0 or -errno. */
int service_repair(struct l4s_state *st);

#endif
