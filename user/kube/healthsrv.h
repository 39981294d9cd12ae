/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The health check server of externalTrafficPolicy: Local Services, as kube-proxy's
 * (pkg/proxy/healthcheck): one HTTP listener per spec.healthCheckNodePort on every
 * address of the node; any request is answered 200 when the Service has endpoints on
 * this node, 503 when it has none, so a cloud load balancer sends only to nodes that
 * can serve. The body says why:
 *
 *	{"service":{"namespace":"default","name":"web"},"localEndpoints":2,
 *	 "serviceProxyHealthy":true}
 *
 * with Content-Type: application/json and X-Content-Type-Options: nosniff.
 * serviceProxyHealthy is true: the agent answering is the proxy, and it is up.
 *
 * One libmicrohttpd daemon (one thread) per port. The agent calls healthsrv_sync after
 * each reconcile pass with the whole desired set, from one thread at a time.
 */
#ifndef L4S_HEALTHSRV_H
#define L4S_HEALTHSRV_H

#include <linux/types.h>

struct healthsrv_entry {
	__u16 port;          /* spec.healthCheckNodePort */
	const char *ns, *name;
	int local_endpoints; /* ready endpoints of the Service on this node */
};

struct healthsrv;

/* An empty set. @log (may be NULL) gets one line per port that cannot be opened. NULL
 * with a message when out of memory or libmicrohttpd cannot be loaded. */
struct healthsrv *healthsrv_new(void (*log)(const char *fmt, ...));

/*
 * Make the served set equal to @e[0..n): listeners for new ports are opened, those of
 * ports not in @e are closed, the others get their service and count, all counts at
 * once (a request sees the set before or after, never half of it). A port that cannot
 * be opened (in use, not allowed), or that two entries name, is skipped and reported:
 * errs[i] (when @errs is not NULL) gets -errno, @log a line, l4s_err the last one.
 * Returns how many entries failed (0: all served).
 */
int healthsrv_sync(struct healthsrv *h, const struct healthsrv_entry *e, int n, int *errs);

/* Close every listener and free the set. */
void healthsrv_free(struct healthsrv *h);

#endif
