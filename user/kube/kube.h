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

/* GET @path: 0 and *doc (a JSON object), or -errno (-ENOENT on 404, -EACCES on 401/403);
 * *status gets the HTTP status. */
int kube_get(struct kube *k, const char *path, json_t **doc, long *status);

/*
 * Send @body to @path with @method (POST creates, PUT replaces, PATCH with a patch
 * @content_type such as application/merge-patch+json): 0 and *reply (when @reply is
 * not NULL) on 200/201, or -errno with a message: -EACCES on 401/403, -ENOENT on 404,
 * -EEXIST on a POST's 409 (AlreadyExists), -ESTALE on a PUT's or PATCH's 409 (Conflict:
 * the object changed since the resourceVersion sent), -EINVAL on 422 (Invalid).
 * *status gets the HTTP status.
 */
int kube_send(struct kube *k, const char *method, const char *path, const char *content_type,
	      json_t *body, json_t **reply, long *status);
/* kube_send of a POST (create) and of a PUT (replace) of JSON. */
int kube_post(struct kube *k, const char *path, json_t *body, json_t **reply, long *status);
int kube_put(struct kube *k, const char *path, json_t *body, json_t **reply, long *status);

/* PATCH @path with the JSON merge patch @patch (RFC 7386): 0 and *reply (when @reply is
 * not NULL) on 200, or -errno (-ENOENT on 404, -EACCES on 401/403); *status gets it. */
int kube_patch(struct kube *k, const char *path, json_t *patch, json_t **reply, long *status);

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
