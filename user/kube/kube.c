// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "lazylib.h"
#include <yaml.h>
#include "err.h"
#include "kube.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_LINE (64u << 20) /* one watch event; a Service or Pod is far smaller */

static char *read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static char *trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = 0;
	return s;
}

char *kube_base64_decode(const char *in, size_t *outlen)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n / 4 * 3 + 4);
	unsigned int acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else if (c == '=' || c == '\n' || c == '\r' || c == ' ')
			continue;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	if (outlen)
		*outlen = o;
	return out;
}

int kube_config_incluster(struct kube *k)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char url[512];

	memset(k, 0, sizeof(*k));
	k->stop_fd = -1;
	if (!host || !*host || !port || !*port) {
		l4s_err(ENOENT, "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
		l4s_hint("give --kubeconfig FILE when the agent runs outside a pod");
		return -ENOENT;
	}
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		 port);
	k->server = strdup(url);
	k->token = read_file(SA_DIR "/token", 1 << 20);
	if (!k->token) {
		l4s_err(errno, "cannot read the service-account token %s/token: %s", SA_DIR,
			strerror(errno));
		l4s_hint("the DaemonSet needs automountServiceAccountToken (the default)");
		return -EACCES;
	}
	trim(k->token);
	k->ca_file = strdup(SA_DIR "/ca.crt");
	k->namespace = read_file(SA_DIR "/namespace", 4096);
	if (k->namespace)
		trim(k->namespace);
	return 0;
}

/* ---- kubeconfig (YAML) ---------------------------------------------------------- */

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(d, p->key);

		if (kn && kn->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)kn->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *yscalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The entry of a named list (clusters, users, contexts) whose name is @name: its @inner. */
static yaml_node_t *ynamed(yaml_document_t *d, yaml_node_t *root, const char *list,
			   const char *name, const char *inner)
{
	yaml_node_t *seq = ymap_get(d, root, list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(d, *it);
		const char *n = yscalar(ymap_get(d, e, "name"));

		if (n && !strcmp(n, name))
			return ymap_get(d, e, inner);
	}
	return NULL;
}

/* A path relative to the kubeconfig's directory, as kubectl resolves them. */
static char *resolve(const char *cfg, const char *p)
{
	char buf[PATH_MAX];
	const char *slash = strrchr(cfg, '/');

	if (p[0] == '/' || !slash)
		return strdup(p);
	snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - cfg), cfg, p);
	return strdup(buf);
}

static int pem_field(yaml_document_t *d, yaml_node_t *m, const char *file_key,
		     const char *data_key, const char *cfg, char **out)
{
	const char *data = yscalar(ymap_get(d, m, data_key));
	const char *file = yscalar(ymap_get(d, m, file_key));

	if (data) {
		*out = kube_base64_decode(data, NULL);
		if (!*out)
			return l4s_err(EINVAL, "%s: %s is not valid base64", cfg, data_key);
	} else if (file) {
		char *path = resolve(cfg, file);

		*out = path ? read_file(path, 1 << 20) : NULL;
		if (!*out) {
			l4s_err(errno ? errno : ENOENT, "%s: cannot read %s %s: %s", cfg, file_key,
				path ? path : file, strerror(errno ? errno : ENOENT));
			free(path);
			return -ENOENT;
		}
		free(path);
	}
	return 0;
}

int kube_config_file(struct kube *k, const char *path)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *ctx, *cluster, *user;
	const char *cur, *server, *token, *token_file;
	FILE *f = fopen(path, "rb");
	int err = 0;

	memset(k, 0, sizeof(*k));
	k->stop_fd = -1;
	if (!f) {
		l4s_err(errno, "cannot open kubeconfig %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		l4s_err(EINVAL, "kubeconfig %s: line %zu: %s", path, parser.problem_mark.line + 1,
			parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	cur = yscalar(ymap_get(&doc, root, "current-context"));
	ctx = ynamed(&doc, root, "contexts", cur, "context");
	if (!ctx) {
		err = l4s_err(EINVAL, "kubeconfig %s: no context \"%s\" (current-context)", path,
			      cur ? cur : "");
		goto out;
	}
	cluster = ynamed(&doc, root, "clusters", yscalar(ymap_get(&doc, ctx, "cluster")), "cluster");
	user = ynamed(&doc, root, "users", yscalar(ymap_get(&doc, ctx, "user")), "user");
	server = yscalar(ymap_get(&doc, cluster, "server"));
	if (!server) {
		err = l4s_err(EINVAL, "kubeconfig %s: the cluster of context \"%s\" has no server",
			      path, cur);
		goto out;
	}
	k->server = strdup(server);
	if (yscalar(ymap_get(&doc, ctx, "namespace")))
		k->namespace = strdup(yscalar(ymap_get(&doc, ctx, "namespace")));
	{
		const char *ins = yscalar(ymap_get(&doc, cluster, "insecure-skip-tls-verify"));

		k->insecure = ins && !strcmp(ins, "true");
	}
	err = pem_field(&doc, cluster, "certificate-authority", "certificate-authority-data", path,
			&k->ca_pem);
	if (!err)
		err = pem_field(&doc, user, "client-certificate", "client-certificate-data", path,
				&k->cert_pem);
	if (!err)
		err = pem_field(&doc, user, "client-key", "client-key-data", path, &k->key_pem);
	if (err)
		goto out;
	token = yscalar(ymap_get(&doc, user, "token"));
	token_file = yscalar(ymap_get(&doc, user, "tokenFile"));
	if (token)
		k->token = strdup(token);
	else if (token_file) {
		char *p = resolve(path, token_file);

		k->token = p ? read_file(p, 1 << 20) : NULL;
		free(p);
		if (!k->token) {
			err = l4s_err(ENOENT, "kubeconfig %s: cannot read tokenFile %s", path,
				      token_file);
			goto out;
		}
		trim(k->token);
	}
	if (ymap_get(&doc, user, "exec") || ymap_get(&doc, user, "auth-provider")) {
		if (!k->token && !k->cert_pem) {
			err = l4s_err(ENOTSUP, "kubeconfig %s: user \"%s\" authenticates with an exec "
				      "plugin or auth-provider, which l4split does not run", path,
				      yscalar(ymap_get(&doc, ctx, "user")));
			l4s_hint("use a service-account token (token: or tokenFile:) or a client "
				 "certificate");
		}
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return err;
}

void kube_free(struct kube *k)
{
	free(k->server);
	free(k->token);
	free(k->ca_file);
	free(k->ca_pem);
	free(k->cert_pem);
	free(k->key_pem);
	free(k->namespace);
	memset(k, 0, sizeof(*k));
	k->stop_fd = -1;
}

/* ---- HTTP ------------------------------------------------------------------------ */

struct xfer {
	struct kube *k;
	char *buf;
	size_t len, cap;
	int (*on_event)(json_t *ev, void *ctx);
	void *ctx;
	int stopped; /* the callback asked to stop */
	int gone;    /* 410 in the stream */
	int bad;     /* a line that is not JSON */
};

static int xfer_append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 65536;
		char *nb;

		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > MAX_LINE + 65536)
			return -E2BIG;
		nb = realloc(x->buf, cap);
		if (!nb)
			return -ENOMEM;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = 0;
	return 0;
}

/* Count what the API server sends (after content decoding): the agent's API load. */
static void count_rx(struct kube *k, size_t n)
{
	if (k->rx_bytes)
		__atomic_add_fetch(k->rx_bytes, (unsigned long long)n, __ATOMIC_RELAXED);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;

	count_rx(x->k, sz * nm);

	return xfer_append(x, p, sz * nm) ? 0 : sz * nm;
}

/* Watch body: newline-delimited JSON; hand over every complete line. */
static size_t on_stream(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm, start = 0;

	count_rx(x->k, n);
	if (xfer_append(x, p, n))
		return 0;
	for (size_t i = 0; i < x->len; i++) {
		json_error_t jerr;
		json_t *ev;
		const char *type;

		if (x->buf[i] != '\n')
			continue;
		if (i > start) {
			ev = json_loadb(x->buf + start, i - start, 0, &jerr);
			if (!ev) {
				x->bad = 1;
				return 0;
			}
			type = json_string_value(json_object_get(ev, "type"));
			if (type && !strcmp(type, "ERROR") &&
			    json_integer_value(json_object_get(json_object_get(ev, "object"),
							       "code")) == 410) {
				x->gone = 1;
				json_decref(ev);
				return 0;
			}
			if (x->on_event(ev, x->ctx)) {
				x->stopped = 1;
				json_decref(ev);
				return 0;
			}
			json_decref(ev);
		}
		start = i + 1;
	}
	memmove(x->buf, x->buf + start, x->len - start);
	x->len -= start;
	return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct xfer *x = ud;

	(void)a, (void)b, (void)c, (void)d;
	return x->k->stop && *x->k->stop;
}

static CURL *easy(struct kube *k, const char *path, struct curl_slist **hdrs, struct xfer *x)
{
	CURL *c = lazy_curl() ? NULL : curl_easy_init();
	char url[2048], auth[4096], accept[256];

	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", k->server, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	snprintf(accept, sizeof(accept), "Accept: %s", k->accept ? k->accept : "application/json");
	*hdrs = curl_slist_append(NULL, accept);
	if (k->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k->token);
		*hdrs = curl_slist_append(*hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "l4split-agent/" L4S_VERSION);
	if (k->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
	if (k->ca_pem) {
		struct curl_blob b = { k->ca_pem, strlen(k->ca_pem), CURL_BLOB_COPY };

		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	}
	if (k->cert_pem && k->key_pem) {
		struct curl_blob cb = { k->cert_pem, strlen(k->cert_pem), CURL_BLOB_COPY };
		struct curl_blob kb = { k->key_pem, strlen(k->key_pem), CURL_BLOB_COPY };

		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (k->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	return c;
}

/*
 * curl_easy_perform, but one that ends at once when the agent stops: a transfer
 * waits in poll() on its sockets and on k->stop_fd together. (The progress callback
 * alone is called about once a second while a watch is quiet, and not at all while
 * a name resolves or a connection is made.) CURLE_ABORTED_BY_CALLBACK when stopped.
 */
static CURLcode perform(struct kube *k, CURL *c)
{
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	CURLMsg *msg;
	CURLM *m;
	int running = 1, left;

	if (k->stop_fd < 0)
		return curl_easy_perform(c);
	m = curl_multi_init();
	if (!m)
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(m, c)) {
		curl_multi_cleanup(m);
		return CURLE_FAILED_INIT;
	}
	while (running && !(k->stop && *k->stop)) {
		struct curl_waitfd wake = { .fd = k->stop_fd, .events = CURL_WAIT_POLLIN };

		if (curl_multi_perform(m, &running)) {
			rc = CURLE_FAILED_INIT;
			break;
		}
		if (!running) {
			rc = CURLE_OK;
			while ((msg = curl_multi_info_read(m, &left)))
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
					rc = msg->data.result;
			break;
		}
		if (curl_multi_poll(m, &wake, 1, 1000, NULL)) {
			rc = CURLE_FAILED_INIT;
			break;
		}
	}
	curl_multi_remove_handle(m, c);
	curl_multi_cleanup(m);
	return rc;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_ABORTED_BY_CALLBACK:
		return -EINTR;
	default:
		return -EIO;
	}
}

/* The errno of an HTTP status the API server answered with (see kube.h). */
static int http_errno(const char *method, long status)
{
	switch (status) {
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 409: /* POST: AlreadyExists; PUT/PATCH: Conflict (a stale resourceVersion) */
		return strcmp(method, "POST") ? ESTALE : EEXIST;
	case 422:
		return EINVAL;
	default:
		return EIO;
	}
}

int kube_get(struct kube *k, const char *path, json_t **doc, long *status)
{
	struct xfer x = { .k = k };
	struct curl_slist *hdrs = NULL;
	CURL *c = easy(k, path, &hdrs, &x);
	CURLcode rc;
	json_error_t jerr;
	int err = 0;

	*doc = NULL;
	*status = 0;
	if (!c)
		return l4s_err(ENOMEM, "cannot set up an HTTP request");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	rc = perform(k, c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK)
		err = l4s_err(-curl_errno(rc), "GET %s%s: %s", k->server, path, curl_easy_strerror(rc));
	else if (*status != 200)
		err = l4s_err(http_errno("GET", *status), "GET %s%s: HTTP %ld: %.200s", k->server,
			      path, *status,
			      x.buf ? x.buf : "");
	else if (!(*doc = json_loadb(x.buf ? x.buf : "", x.len, 0, &jerr)))
		err = l4s_err(EBADMSG, "GET %s%s: the answer is not JSON: %s", k->server, path,
			      jerr.text);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(x.buf);
	return err;
}

int kube_watch(struct kube *k, const char *path, int (*on_event)(json_t *ev, void *ctx),
	       void *ctx, long *status)
{
	struct xfer x = { .k = k, .on_event = on_event, .ctx = ctx };
	struct curl_slist *hdrs = NULL;
	CURL *c = easy(k, path, &hdrs, &x);
	CURLcode rc;
	int err = 0;

	*status = 0;
	if (!c)
		return l4s_err(ENOMEM, "cannot set up an HTTP request");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	/* A watch may be quiet for minutes (bookmarks come about once a minute); a dead
	 * connection is one that sends nothing for longer than the server's own timeout. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 330L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	rc = perform(k, c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (x.gone || *status == 410)
		err = -ESTALE;
	else if (x.stopped)
		err = 0;
	else if (x.bad)
		err = l4s_err(EBADMSG, "watch %s: a line of the stream is not JSON", path);
	else if (rc != CURLE_OK)
		err = l4s_err(-curl_errno(rc), "watch %s%s: %s", k->server, path,
			      curl_easy_strerror(rc));
	else if (*status != 200)
		err = l4s_err(*status == 401 || *status == 403 ? EACCES : EIO,
			      "watch %s%s: HTTP %ld", k->server, path, *status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(x.buf);
	return err;
}

int kube_send(struct kube *k, const char *method, const char *path, const char *content_type,
	      json_t *body, json_t **reply, long *status)
{
	struct xfer x = { .k = k };
	struct curl_slist *hdrs = NULL;
	CURL *c = easy(k, path, &hdrs, &x);
	char *data = json_dumps(body, JSON_COMPACT);
	char ct[128];
	CURLcode rc;
	json_error_t jerr;
	int err = 0;

	if (reply)
		*reply = NULL;
	*status = 0;
	if (!c || !data) {
		free(data);
		if (c)
			curl_easy_cleanup(c);
		curl_slist_free_all(hdrs);
		return l4s_err(ENOMEM, "cannot set up an HTTP request");
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
	hdrs = curl_slist_append(hdrs, ct);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	rc = perform(k, c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK)
		err = l4s_err(-curl_errno(rc), "%s %s%s: %s", method, k->server, path,
			      curl_easy_strerror(rc));
	else if (*status != 200 && *status != 201)
		err = l4s_err(http_errno(method, *status), "%s %s%s: HTTP %ld: %.200s", method,
			      k->server, path, *status, x.buf ? x.buf : "");
	else if (reply && !(*reply = json_loadb(x.buf ? x.buf : "", x.len, 0, &jerr)))
		err = l4s_err(EBADMSG, "%s %s%s: the answer is not JSON: %s", method, k->server,
			      path, jerr.text);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(x.buf);
	free(data);
	return err;
}

int kube_post(struct kube *k, const char *path, json_t *body, json_t **reply, long *status)
{
	return kube_send(k, "POST", path, "application/json", body, reply, status);
}

int kube_put(struct kube *k, const char *path, json_t *body, json_t **reply, long *status)
{
	return kube_send(k, "PUT", path, "application/json", body, reply, status);
}

int kube_patch(struct kube *k, const char *path, json_t *patch, json_t **reply, long *status)
{
	return kube_send(k, "PATCH", path, "application/merge-patch+json", patch, reply, status);
}
