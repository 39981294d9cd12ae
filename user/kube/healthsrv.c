// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* healthCheckNodePort listeners (see healthsrv.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jansson.h>
#include <microhttpd.h>
#include "lazylib.h"
#include "err.h"
#include "healthsrv.h"

#define HS_MAX_CONNS 64u /* load balancer probes: a few per port */
#define HS_PER_IP    16u
#define HS_IDLE_S    5u

struct hs_port {
	struct healthsrv *h;
	struct MHD_Daemon *d;
	__u16 port;
	int keep;
	/* guarded by h->mu */
	char ns[64], name[256];
	int count;
};

struct healthsrv {
	pthread_mutex_t mu;
	struct hs_port **p;
	int n, cap;
	void (*log)(const char *fmt, ...);
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_len, void **ctx)
{
	struct hs_port *p = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char ns[64], name[256], *body;
	int count;
	json_t *j;

	(void)url, (void)method, (void)version, (void)upload, (void)upload_len, (void)ctx;
	pthread_mutex_lock(&p->h->mu);
	memcpy(ns, p->ns, sizeof(ns));
	memcpy(name, p->name, sizeof(name));
	count = p->count;
	pthread_mutex_unlock(&p->h->mu);
	j = json_pack("{s:{s:s,s:s},s:i,s:b}", "service", "namespace", ns, "name", name,
		      "localEndpoints", count, "serviceProxyHealthy", 1);
	body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(c, count > 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return ret;
}

/* A listening socket on every address of the node: [::]:port for both families, or
 * 0.0.0.0:port where IPv6 is off. The fd, or -errno. */
static int listen_any(__u16 port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, zero = 0, err;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, (struct sockaddr *)&s6, sizeof(s6)) && !listen(fd, 64))
			return fd;
		err = errno;
		close(fd);
		if (err != EADDRNOTAVAIL && err != EAFNOSUPPORT)
			return -err;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s4, sizeof(s4)) || listen(fd, 64)) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int port_open(struct hs_port *p)
{
	int fd = listen_any(p->port);

	if (fd < 0)
		return fd;
	p->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, handler, p,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, HS_MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, HS_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, HS_IDLE_S, MHD_OPTION_END);
	if (!p->d) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

struct healthsrv *healthsrv_new(void (*log)(const char *fmt, ...))
{
	struct healthsrv *h;

	if (lazy_mhd())
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		l4s_err(ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	h->log = log;
	return h;
}

static struct hs_port *find(struct healthsrv *h, __u16 port)
{
	for (int i = 0; i < h->n; i++)
		if (h->p[i]->port == port)
			return h->p[i];
	return NULL;
}

static int fail(struct healthsrv *h, int *errs, int i, const struct healthsrv_entry *e,
		int err, const char *why)
{
	l4s_err(-err, "health check port %u of %s/%s: %s", e->port, e->ns ? e->ns : "",
		e->name ? e->name : "", why);
	if (h->log)
		h->log("%s", l4s_errmsg());
	if (errs)
		errs[i] = err;
	return 1;
}

int healthsrv_sync(struct healthsrv *h, const struct healthsrv_entry *e, int n, int *errs)
{
	struct hs_port **gone, **fresh;
	int ngone = 0, nfresh = 0, failed = 0;

	gone = calloc((size_t)h->n + 1, sizeof(*gone));
	fresh = calloc((size_t)n + 1, sizeof(*fresh));
	if (gone && fresh && h->n + n > h->cap) {
		struct hs_port **np = realloc(h->p, (size_t)(h->n + n) * sizeof(*np));

		if (np) {
			h->p = np;
			h->cap = h->n + n;
		}
	}
	if (!gone || !fresh || h->n + n > h->cap) {
		free(gone);
		free(fresh);
		l4s_err(ENOMEM, "out of memory");
		return n; /* nothing changed */
	}
	/* Open the new ports first, outside the lock (their requests take it). */
	for (int i = 0; i < n; i++) {
		struct hs_port *p;
		int dup = 0, err;

		if (errs)
			errs[i] = 0;
		for (int j = 0; j < i; j++)
			dup |= e[j].port == e[i].port;
		if (!e[i].port || !e[i].ns || !e[i].name) {
			failed += fail(h, errs, i, &e[i], -EINVAL, "no port, namespace or name");
			continue;
		}
		if (dup) {
			failed += fail(h, errs, i, &e[i], -EADDRINUSE,
				       "another Service names the same port");
			continue;
		}
		pthread_mutex_lock(&h->mu);
		p = find(h, e[i].port);
		pthread_mutex_unlock(&h->mu);
		if (p)
			continue;
		p = calloc(1, sizeof(*p));
		if (!p) {
			failed += fail(h, errs, i, &e[i], -ENOMEM, "out of memory");
			continue;
		}
		p->h = h;
		p->port = e[i].port;
		snprintf(p->ns, sizeof(p->ns), "%s", e[i].ns);
		snprintf(p->name, sizeof(p->name), "%s", e[i].name);
		p->count = e[i].local_endpoints;
		err = port_open(p);
		if (err) {
			char why[128];

			snprintf(why, sizeof(why), "cannot listen: %s", strerror(-err));
			free(p);
			failed += fail(h, errs, i, &e[i], err, why);
			continue;
		}
		fresh[nfresh++] = p;
	}
	/* One update of every count and name, new ports in, gone ones out. */
	pthread_mutex_lock(&h->mu);
	for (int k = 0; k < h->n; k++)
		h->p[k]->keep = 0;
	for (int k = 0; k < nfresh; k++)
		h->p[h->n++] = fresh[k];
	for (int i = 0; i < n; i++) {
		struct hs_port *p = errs && errs[i] ? NULL : find(h, e[i].port);

		if (!p || !e[i].ns || !e[i].name)
			continue;
		if (p->keep) /* a duplicate: the first entry has it */
			continue;
		p->keep = 1;
		snprintf(p->ns, sizeof(p->ns), "%s", e[i].ns);
		snprintf(p->name, sizeof(p->name), "%s", e[i].name);
		p->count = e[i].local_endpoints;
	}
	for (int k = 0; k < h->n;) {
		if (h->p[k]->keep) {
			k++;
			continue;
		}
		gone[ngone++] = h->p[k];
		h->p[k] = h->p[--h->n];
	}
	pthread_mutex_unlock(&h->mu);
	/* Outside the lock: stopping waits for the daemon's thread, which may take it. */
	for (int k = 0; k < ngone; k++) {
		MHD_stop_daemon(gone[k]->d);
		free(gone[k]);
	}
	free(gone);
	free(fresh);
	return failed;
}

void healthsrv_free(struct healthsrv *h)
{
	if (!h)
		return;
	healthsrv_sync(h, NULL, 0, NULL);
	free(h->p);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
