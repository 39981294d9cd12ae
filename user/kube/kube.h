/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small Kubernetes API client on libcurl: where the API server is and how to
 * authenticate (in-cluster service account, or a kubeconfig file), GET of a
 * list, and a watch stream delivered one event at a time.
 */
#ifndef L4S_KUBE_H
#define L4S_KUBE_H

#include <jansson.h>

struct kube {
	char *server;    /* https://HOST:PORT (or http:// for a local stand-in) */
	char *token;     /* bearer token, or NULL */
	char *ca_file;   /* CA bundle path, or NULL */
	char *ca_pem;    /* CA certificates (PEM), or NULL */
	char *cert_pem;  /* client certificate and key (PEM), or NULL */
	char *key_pem;
	int insecure;    /* insecure-skip-tls-verify: true in the kubeconfig */
	char *namespace; /* default namespace of the context, or NULL */
	volatile int *stop; /* set: transfers end as soon as possible */
	int stop_fd;        /* readable when *stop is set (wakes a waiting transfer), or -1 */
	const char *accept; /* Accept header of the next requests; NULL: application/json */
	unsigned long long *rx_bytes; /* body bytes received are added here (atomically), or NULL */
};

/* Service-account token, CA and KUBERNETES_SERVICE_HOST/PORT. */
int kube_config_incluster(struct kube *k);
/* A kubeconfig file: its current-context's cluster and user. */
int kube_config_file(struct kube *k, const char *path);
void kube_free(struct kube *k);

/* GET @path: 0 and *doc (a JSON object), or -errno; *status gets the HTTP status. */
int kube_get(struct kube *k, const char *path, json_t **doc, long *status);

/* POST @body to @path (create): 0 and *reply (when @reply is not NULL) on 200/201, or
 * -errno (-EEXIST on 409, -EACCES on 401/403); *status gets the HTTP status. */
int kube_post(struct kube *k, const char *path, json_t *body, json_t **reply, long *status);

/*
 * Watch @path (which carries ?watch=1...): @on_event gets each event object
 * ({"type": ..., "object": ...}) and returns 0 to go on, non-zero to stop.
 * Returns 0 when the server ended the stream, -ESTALE when the server said the
 * resource version is too old (410: list again), or -errno.
 */
int kube_watch(struct kube *k, const char *path, int (*on_event)(json_t *ev, void *ctx),
	       void *ctx, long *status);

/* Decode base64 (the kubeconfig's *-data fields): a NUL-terminated buffer, or NULL. */
char *kube_base64_decode(const char *in, size_t *outlen);

#endif
