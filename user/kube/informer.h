/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One informer: list + watch of one resource path (optionally label- or field-selected,
 * optionally with another Accept header, e.g. PartialObjectMetadata), kept in a cache
 * "namespace/name" -> object, on its own thread. 410 Gone and ended streams list again;
 * failures back off. The owner's lock guards the cache, the flags and the counters; the
 * owner's condition is signalled (and *dirty set) on every change.
 */
#ifndef L4S_INFORMER_H
#define L4S_INFORMER_H

#include <pthread.h>
#include <jansson.h>
#include "kube.h"

struct informer {
	/* Set by the owner before informer_start. */
	const char *name;         /* for logs: "services", "endpointslices", "pods (metadata)" */
	char path[512];           /* collection path, e.g. /api/v1/services */
	char selector[640];       /* query without '?': "labelSelector=run" or "" */
	const char *accept_list;  /* Accept of the list (NULL: application/json) */
	const char *accept_watch; /* Accept of the watch (NULL: application/json) */
	pthread_mutex_t *mu;      /* the owner's lock: guards what follows */
	pthread_cond_t *cv;
	int *dirty;
	unsigned long *relists, *watch_restarts, *events; /* counters (under *mu) */
	unsigned long long *rx_bytes; /* bytes received (atomic) */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* failures */

	json_t *cache; /* under *mu */
	int synced;    /* under *mu: a list arrived */

	/* Private. */
	struct kube k; /* a shallow copy of the owner's, with its own stop */
	volatile int stop;
	int stop_rd, stop_wr;
	pthread_t th;
	int running;
	char rv[64];
};

/* Start the thread on a copy of @k (not freed by the informer). 0 or -errno with a message. */
int informer_start(struct informer *in, const struct kube *k);
/* End its transfers at once and join the thread; the cache is freed. */
void informer_stop(struct informer *in);

#endif
