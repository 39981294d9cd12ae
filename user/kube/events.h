/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kubernetes Events about the Services the agent serves, with client-go's recorder
 * semantics: a token bucket per involved object (EventSourceObjectSpamFilter: burst
 * 25, one more every 5 minutes), and an identical Event repeated within its 10-minute
 * window is a merge PATCH of count and lastTimestamp on the Event already there.
 *
 * Every node's agent sees the same API state and so the same configuration events.
 * The Event's name is deterministic (Service name, a hash of type, reason, message and
 * the 10-minute window), so N nodes make one Event: the first create wins, the others
 * get 409 and write nothing; a repeat is PATCHed with an absolute count, the same
 * value from every node. A refused write (403) is counted and logged once; the agent
 * goes on.
 */
#ifndef L4S_EVENTS_H
#define L4S_EVENTS_H

#include <pthread.h>
#include <jansson.h>
#include "kube.h"

struct svc_spec;
struct write_result;
struct k8s_result;

#define EV_BURST        25
#define EV_REFILL_S     300.0 /* one token every 5 minutes */
#define EV_WINDOW_S     600   /* identical Events within it: one Event, count bumped */

/* The per-object token buckets (pure: the clock is a parameter, for tests). */
struct ev_limiter {
	struct ev_bucket {
		char key[320];
		double tokens, at;
	} *b;
	int n, cap;
	int burst;
	double refill_s;
};

/* May one more Event about @key be posted at @now (seconds, any monotonic origin)?
 * 1: yes (a token is taken), 0: no. */
int ev_limiter_allow(struct ev_limiter *l, const char *key, double now);
void ev_limiter_free(struct ev_limiter *l);

/* The recorder: where it posts, and what it has seen. Fill the first four fields; the
 * rest starts zeroed. Used by one thread (the reconciler); the counters are read by
 * another under @mu. */
struct ev_recorder {
	struct kube *k;
	const char *node;    /* source.host and reportingInstance */
	pthread_mutex_t *mu; /* guards the counters */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	unsigned long posted;  /* Events written (created, or count bumped) */
	unsigned long errors;  /* writes that failed (403, unreachable...) */
	unsigned long limited; /* not posted: the object's token bucket was empty */
	struct ev_limiter lim;
	struct ev_seen *seen; /* Events this recorder wrote or found, this window */
	int nseen, capseen;
};

/* The Event name for an occurrence (deterministic): "NAME.<16 hex>". */
void ev_name(char *out, size_t len, const char *obj_name, const char *obj_uid, const char *type,
	     const char *reason, const char *msg, long window);

/* Post (or bump) an Event of @type ("Normal", "Warning") about the Service @svc. */
void ev_post(struct ev_recorder *rec, json_t *svc, const char *type, const char *reason,
	     const char *msg);

/* What one write of a Service port changed, as Normal Events: L4splitApplied
 * ("created; weights old=99 new=1; backends +2 -1") and one L4splitBackendDrained per
 * backend whose weight went to 0 (named by pod and address, from @kr). */
void ev_applied(struct ev_recorder *rec, json_t *svc, const char *l4name, const struct svc_spec *before,
		const struct svc_spec *after, const struct write_result *r,
		const struct k8s_result *kr);

/* Free what the recorder holds (at the agent's end). */
void ev_recorder_free(struct ev_recorder *rec);

#endif
