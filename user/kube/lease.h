/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics
 * (tools/leaderelection): a candidate takes the Lease when its holder has not renewed
 * it for leaseDurationSeconds as measured on the candidate's own clock since the
 * record last changed (so clocks need not agree, only run at the same rate); the
 * holder renews every retry period and stops leading when it could not renew within
 * the renew deadline, before any other candidate may take over. Every write is a PUT
 * with the resourceVersion read, so of two candidates only one wins.
 */
#ifndef L4S_LEASE_H
#define L4S_LEASE_H

#include <pthread.h>
#include "kube.h"

/* client-go's defaults (and kube-controller-manager's). */
#define LEASE_DURATION_S  15.0
#define LEASE_RENEW_S     10.0
#define LEASE_RETRY_S     2.0

struct lease_record {
	char holder[256];      /* holderIdentity; "" when released */
	long duration_s;       /* leaseDurationSeconds */
	char acquire[40];      /* acquireTime (MicroTime) */
	char renew[40];        /* renewTime (MicroTime) */
	long transitions;      /* leaseTransitions */
};

/*
 * The pure core of one attempt (tested on its own). @cur: the record read (NULL: no
 * Lease yet); @observed_at: when (monotonic seconds) the record was last seen to change;
 * @now_mono: now; @now_wall: now as MicroTime. Returns 1 and fills @next when this
 * candidate should write @next (create, take over or renew), 0 when another holder's
 * lease is still valid.
 */
int lease_next(const struct lease_record *cur, const char *me, double observed_at,
	       double now_mono, double duration, const char *now_wall,
	       struct lease_record *next);

struct lease {
	struct kube *k;
	char ns[64], name[128], identity[256];
	double duration, renew_deadline, retry; /* seconds */
	/* Called (from the lease thread) when this candidate starts and stops leading. */
	void (*on_change)(int leading, void *ctx);
	void *ctx;

	/* Private. */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	struct lease_record observed;
	int have_observed;
	double observed_at;  /* monotonic: when observed last changed */
	double renewed_at;   /* monotonic: last successful write by us */
	int leading;
	unsigned long transitions_seen; /* times this candidate became the leader */
};

/* Fill defaults (client-go's) and the names; @identity: this candidate (the node name). */
void lease_init(struct lease *l, struct kube *k, const char *ns, const char *name,
		const char *identity);
/* One attempt to take or renew the Lease: 1 leading, 0 not, -errno on an API error
 * (not leading either). */
int lease_try(struct lease *l);
/* Run attempts on a thread until *l->k->stop; then release the Lease if held (holder
 * "" and a 1 s duration, as client-go's ReleaseOnCancel, so the next takes over at once). */
int lease_start(struct lease *l);
void lease_join(struct lease *l);
/* Leading now: the last renewal is younger than the renew deadline. */
int lease_leading(struct lease *l);
/* Give up the Lease now (before exiting). 0 or -errno. */
int lease_release(struct lease *l);

#endif
