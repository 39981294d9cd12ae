// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Cluster mode of the CLI (see cluster.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "cluster.h"
#include "err.h"
#include "lazylib.h"
#include "parse.h"
#include "util.h"

/* ---- pure parts -------------------------------------------------------------------- */

struct wentry {
	char name[128]; /* as written (a long label value stays long) */
	char track[L4S_NAME_LEN]; /* the track it names (track_name) */
	char w[48];
};

static int wentry_set(struct wentry *e, const char *name, size_t nlen, const char *w)
{
	if (nlen == 0 || nlen >= sizeof(e->name) || strlen(w) >= sizeof(e->w))
		return -EINVAL;
	snprintf(e->name, sizeof(e->name), "%.*s", (int)nlen, name);
	snprintf(e->w, sizeof(e->w), "%s", w);
	return track_name(e->track, e->name) < 0 ? -EINVAL : 0;
}

int cluster_weights_merge(int nargs, char **args, const char *current, char *out, size_t len,
			  struct svc_config *want)
{
	struct wentry *e = calloc((size_t)nargs + 64, sizeof(*e));
	int ne = 0, cap = nargs + 64, err = 0;
	size_t off = 0;
	json_t *ann;

	memset(want, 0, sizeof(*want));
	if (!e)
		return l4s_err(ENOMEM, "out of memory");
	/* The annotation as it is: its tracks keep their weights unless named. A value the
	 * agent refuses is not kept (the arguments replace it whole). */
	if (current) {
		struct svc_config cur = { 0 };

		ann = json_pack("{s:s}", ANN_WEIGHTS, current);
		if (ann && !svc_config_parse(ann, &cur)) {
			const char *p = current;

			while (*p && ne < cap - nargs) {
				size_t l = strcspn(p, ",");
				char item[160], *eq, *s = item;

				snprintf(item, sizeof(item), "%.*s", (int)(l < 159 ? l : 159), p);
				while (*s == ' ')
					s++;
				while (*s && s[strlen(s) - 1] == ' ')
					s[strlen(s) - 1] = 0;
				eq = strchr(s, '=');
				if (eq && !wentry_set(&e[ne], s, (size_t)(eq - s), eq + 1))
					ne++;
				p += l;
				if (*p == ',')
					p++;
			}
		}
		l4s_err_clear(); /* a refused current value is not this command's error */
		svc_config_free(&cur);
		json_decref(ann);
	}
	for (int i = 0; i < nargs; i++) {
		const char *a = args[i], *eq = strrchr(a, '=');
		struct wentry n;
		__u64 w;
		int j;

		if (!eq || eq == a) {
			err = l4s_err(EINVAL, "argument \"%s\" is wrong: expected TRACK=W", a);
			goto out;
		}
		if (memchr(a, ':', (size_t)(eq - a)) || memchr(a, ',', (size_t)(eq - a))) {
			err = l4s_err(EINVAL, "argument \"%s\" is wrong: on a cluster only track "
				      "weights (TRACK=W) are written; backend weights are node-local", a);
			l4s_hint("give TRACK=W, or run 'l4split weight NAME ADDR:PORT=W' on the node");
			goto out;
		}
		if (parse_weight(eq + 1, &w)) {
			err = l4s_err_prefix("argument \"%s\" is wrong", a);
			goto out;
		}
		if (wentry_set(&n, a, (size_t)(eq - a), eq + 1)) {
			err = l4s_err(EINVAL, "argument \"%s\" is wrong: not a track name", a);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (!strncmp(args[j], a, (size_t)(eq - a) + 1)) {
				err = l4s_err(EINVAL, "\"%s\" is given twice (%s and %s): give each "
					      "track once", n.name, args[j], a);
				goto out;
			}
		for (j = 0; j < ne && strcmp(e[j].track, n.track); j++)
			;
		e[j] = n;
		if (j == ne)
			ne++;
	}
	out[0] = 0;
	for (int i = 0; i < ne; i++) {
		int m = snprintf(out + off, len - off, "%s%s=%s", i ? "," : "", e[i].name, e[i].w);

		if (m < 0 || (size_t)m >= len - off) {
			err = l4s_err(E2BIG, "the weights are too long for one annotation");
			goto out;
		}
		off += (size_t)m;
	}
	/* Exactly what the agent will do with it. */
	ann = json_pack("{s:s}", ANN_WEIGHTS, out);
	err = ann ? svc_config_parse(ann, want) : l4s_err(ENOMEM, "out of memory");
	json_decref(ann);
out:
	if (err)
		svc_config_free(want);
	free(e);
	return err;
}

/* One label value in quotes, unescaped (\\, \", \n) into @out; the end quote's next char. */
static const char *label_value(const char *p, char *out, size_t len)
{
	size_t o = 0;

	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p[1]) {
			c = *++p;
			if (c == 'n')
				c = '\n';
		}
		if (o + 1 < len)
			out[o++] = c;
	}
	out[o] = 0;
	return *p == '"' ? p + 1 : NULL;
}

json_t *prom_text_select(const char *text, const char *metric, const char *ns, const char *name)
{
	json_t *arr = json_array();
	size_t ml = strlen(metric);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		json_t *labels;
		const char *q = p;
		const char *lns, *lsvc;
		char *end;
		double v;

		if (strncmp(p, metric, ml) || (p[ml] != '{' && p[ml] != ' '))
			continue;
		labels = json_object();
		q = p + ml;
		if (*q == '{') {
			q++;
			while (*q && *q != '}' && *q != '\n') {
				char key[128], val[512];
				size_t kl = strcspn(q, "=}\n");

				if (q[kl] != '=' || kl >= sizeof(key))
					break;
				snprintf(key, sizeof(key), "%.*s", (int)kl, q);
				q = label_value(q + kl + 1, val, sizeof(val));
				if (!q)
					break;
				json_object_set_new(labels, key, json_string(val));
				if (*q == ',')
					q++;
			}
			if (!q || *q != '}') {
				json_decref(labels);
				continue;
			}
			q++;
		}
		v = strtod(q, &end);
		lns = json_string_value(json_object_get(labels, "namespace"));
		lsvc = json_string_value(json_object_get(labels, "service"));
		if (end == q || !lns || !lsvc || strcmp(lns, ns) || strcmp(lsvc, name)) {
			json_decref(labels);
			continue;
		}
		json_array_append_new(arr, json_pack("{s:o, s:f}", "labels", labels, "value", v));
	}
	return arr;
}

static const char *sample_label(json_t *s, const char *key)
{
	const char *v = json_string_value(json_object_get(json_object_get(s, "labels"), key));

	return v ? v : "";
}

int cluster_weights_in_force(const char *text, const char *ns, const char *name,
			     const struct svc_config *want, char *have, size_t hlen)
{
	json_t *tw = prom_text_select(text, "l4split_track_weight", ns, name), *s, *t;
	size_t i, j, off = 0;
	int ok = json_array_size(tw) > 0;
	char w[32];

	have[0] = 0;
	if (!ok)
		snprintf(have, hlen, "no l4split service for it yet");
	json_array_foreach(tw, i, s) {
		const char *track = sample_label(s, "track");
		double v = json_real_value(json_object_get(s, "value")), exp = 0;

		for (int k = 0; k < want->nw; k++)
			if (!strcmp(want->w[k].track, track))
				exp = (double)want->w[k].weight / L4S_WEIGHT_ONE;
		if (fabs(v - exp) > 1e-6 * (exp > 1 ? exp : 1))
			ok = 0;
		/* What the node has: the tracks of its first l4split service. */
		if (!strcmp(sample_label(s, "l4split_service"),
			    sample_label(json_array_get(tw, 0), "l4split_service")) && off < hlen) {
			int m = snprintf(have + off, hlen - off, "%s%s=%s", off ? " " : "", track,
					 fmt_weight(w, (__u64)llround(v * L4S_WEIGHT_ONE)));

			if (m > 0)
				off += (size_t)m;
		}
	}
	/* Every track the weights name, on every l4split service (port) of the Service. */
	json_array_foreach(tw, i, s) {
		for (int k = 0; ok && k < want->nw; k++) {
			int found = 0;

			json_array_foreach(tw, j, t)
				if (!strcmp(sample_label(t, "l4split_service"),
					    sample_label(s, "l4split_service")) &&
				    !strcmp(sample_label(t, "track"), want->w[k].track))
					found = 1;
			if (!found)
				ok = 0;
		}
	}
	json_decref(tw);
	return ok;
}

int label_selector_match(json_t *labels, const char *sel)
{
	const char *p = sel;

	while (*p) {
		size_t l = strcspn(p, ",");
		char term[320], *op, *key = term, *val = NULL;
		int neg = 0;
		const char *have;

		snprintf(term, sizeof(term), "%.*s", (int)(l < 319 ? l : 319), p);
		if ((op = strstr(term, "!=")))
			neg = 1, *op = 0, val = op + 2;
		else if ((op = strstr(term, "==")))
			*op = 0, val = op + 2;
		else if ((op = strchr(term, '=')))
			*op = 0, val = op + 1;
		while (*key == ' ')
			key++;
		have = json_string_value(json_object_get(labels, key));
		if (!val ? !have : neg ? have && !strcmp(have, val) : !have || strcmp(have, val))
			return 0;
		p += l;
		if (*p == ',')
			p++;
	}
	return 1;
}

/* ---- the API ----------------------------------------------------------------------- */

int cluster_put_service(struct kube *k, const char *ns, const char *name,
			int (*edit)(json_t *annotations, void *ctx, char *value, size_t len),
			void *ctx, char *value, size_t len, char *rv, size_t rvlen, int *tries)
{
	char path[600];
	int err = 0;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", ns, name);
	*tries = 0;
	for (;;) {
		json_t *svc = NULL, *md, *ann, *was, *reply = NULL;
		long status;

		err = kube_get(k, path, &svc, &status);
		if (err == -ENOENT)
			err = l4s_err(ENOENT, "Service %s/%s not found", ns, name);
		if (err)
			return err;
		md = json_object_get(svc, "metadata");
		ann = json_object_get(md, "annotations");
		if (!json_is_object(ann)) {
			ann = json_object();
			json_object_set_new(md, "annotations", ann);
		}
		was = json_deep_copy(ann);
		value[0] = 0;
		if ((err = edit(ann, ctx, value, len))) {
			json_decref(was);
			json_decref(svc);
			return err;
		}
		if (value[0])
			json_object_set_new(ann, ANN_WEIGHTS, json_string(value));
		if (json_equal(was, ann)) { /* nothing to write */
			snprintf(rv, rvlen, "%s",
				 json_string_value(json_object_get(md, "resourceVersion")) ?: "");
			json_decref(was);
			json_decref(svc);
			return 0;
		}
		json_decref(was);
		(*tries)++;
		err = kube_put(k, path, svc, &reply, &status);
		json_decref(svc);
		if (!err) {
			snprintf(rv, rvlen, "%s", json_string_value(json_object_get(
				json_object_get(reply, "metadata"), "resourceVersion")) ?: "");
			json_decref(reply);
			return 0;
		}
		json_decref(reply);
		if (err != -ESTALE)
			return err;
		if (*tries >= CLUSTER_PUT_TRIES)
			return l4s_err(ESTALE, "Service %s/%s changed under each of %d writes (409 "
				       "Conflict each time); nothing was written", ns, name, *tries);
	}
}

static int agent_cmp(const void *a, const void *b)
{
	const struct cluster_agent *x = a, *y = b;
	int c = strcmp(x->node, y->node);

	return c ? c : strcmp(x->pod, y->pod);
}

int cluster_agents(struct kube *k, const char *ns, const char *selector,
		   struct cluster_agent **out, int *n)
{
	char path[900], *enc = url_encode(selector, "/");
	json_t *doc = NULL, *items, *pod;
	struct cluster_agent *a;
	long status;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	if (!enc)
		return l4s_err(ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, enc);
	free(enc);
	err = kube_get(k, path, &doc, &status);
	if (err)
		return err;
	items = json_object_get(doc, "items");
	a = calloc(json_array_size(items) + 1, sizeof(*a));
	if (!a) {
		json_decref(doc);
		return l4s_err(ENOMEM, "out of memory");
	}
	json_array_foreach(items, i, pod) {
		json_t *md = json_object_get(pod, "metadata"), *st = json_object_get(pod, "status");
		const char *phase = json_string_value(json_object_get(st, "phase"));
		const char *ip = json_string_value(json_object_get(st, "podIP"));
		const char *node = json_string_value(
			json_object_get(json_object_get(pod, "spec"), "nodeName"));
		struct cluster_agent *g = &a[*n];

		/* The server filters; a server that does not is filtered here. */
		if (!label_selector_match(json_object_get(md, "labels"), selector))
			continue;
		if (json_object_get(md, "deletionTimestamp") ||
		    (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
			continue; /* going away: its replacement is the one to ask */
		snprintf(g->pod, sizeof(g->pod), "%s",
			 json_string_value(json_object_get(md, "name")) ?: "?");
		snprintf(g->node, sizeof(g->node), "%s", node ? node : "(not scheduled)");
		snprintf(g->addr, sizeof(g->addr), "%s", ip ? ip : "");
		if (!ip)
			snprintf(g->err, sizeof(g->err), "pod %s has no IP yet (phase %s)", g->pod,
				 phase ? phase : "unknown");
		(*n)++;
	}
	json_decref(doc);
	qsort(a, (size_t)*n, sizeof(*a), agent_cmp);
	*out = a;
	return 0;
}

void cluster_agents_free(struct cluster_agent *a, int n)
{
	for (int i = 0; a && i < n; i++)
		free(a[i].text);
	free(a);
}

int cluster_scrape(struct cluster_agent *a, int n, const int *which, int port, double timeout_s)
{
	CURL **h = calloc((size_t)n + 1, sizeof(*h));
	struct http_body *b = calloc((size_t)n + 1, sizeof(*b));
	CURLM *m = NULL;
	int running = 0, err = 0;
	CURLMsg *msg;
	int left;

	if (!h || !b || lazy_curl() || !(m = curl_multi_init())) {
		err = l4s_err(ENOMEM, "cannot set up the HTTP requests");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char url[128];

		if ((which && !which[i]) || !a[i].addr[0])
			continue;
		free(a[i].text);
		a[i].text = NULL;
		a[i].err[0] = 0;
		snprintf(url, sizeof(url), strchr(a[i].addr, ':') ? "http://[%s]:%d/metrics" :
			 "http://%s:%d/metrics", a[i].addr, port);
		if (!(h[i] = curl_easy_init())) {
			err = l4s_err(ENOMEM, "cannot set up an HTTP request");
			goto out;
		}
		curl_easy_setopt(h[i], CURLOPT_URL, url);
		curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
		curl_easy_setopt(h[i], CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_s * 1000));
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, http_body_cb);
		b[i].max = (size_t)256 << 20; /* a node's /metrics with 65,536 backends */
		curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &b[i]);
		curl_easy_setopt(h[i], CURLOPT_USERAGENT, "l4split/" L4S_VERSION);
		curl_multi_add_handle(m, h[i]);
	}
	do {
		if (curl_multi_perform(m, &running))
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running);
	while ((msg = curl_multi_info_read(m, &left))) {
		for (int i = 0; i < n; i++) {
			long status = 0;

			if (msg->msg != CURLMSG_DONE || h[i] != msg->easy_handle)
				continue;
			curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &status);
			if (msg->data.result != CURLE_OK)
				snprintf(a[i].err, sizeof(a[i].err), "%s:%d: %s", a[i].addr, port,
					 curl_easy_strerror(msg->data.result));
			else if (status != 200)
				snprintf(a[i].err, sizeof(a[i].err), "%s:%d/metrics: HTTP %ld",
					 a[i].addr, port, status);
			else {
				a[i].text = b[i].p ? b[i].p : strdup("");
				b[i].p = NULL;
			}
		}
	}
out:
	for (int i = 0; h && i < n; i++) {
		if (h[i]) {
			curl_multi_remove_handle(m, h[i]);
			curl_easy_cleanup(h[i]);
		}
		if (b)
			free(b[i].p);
	}
	if (m)
		curl_multi_cleanup(m);
	free(h);
	free(b);
	return err;
}
