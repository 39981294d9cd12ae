// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kubernetes Events about Services (events.h): a per-object token bucket, then a
 * create of a deterministically named Event, or a merge PATCH of count and
 * lastTimestamp when this agent already saw the same Event in the same window.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "err.h"
#include "events.h"
#include "k8s.h"
#include "parse.h"
#include "spec.h"
#include "writer.h"

/* ---- the token buckets (client-go's EventSourceObjectSpamFilter) ---------------------- */

int ev_limiter_allow(struct ev_limiter *l, const char *key, double now)
{
	struct ev_bucket *b = NULL;
	int burst = l->burst ? l->burst : EV_BURST;
	double refill = l->refill_s > 0 ? l->refill_s : EV_REFILL_S;

	for (int i = 0; i < l->n && !b; i++)
		if (!strcmp(l->b[i].key, key))
			b = &l->b[i];
	if (!b) {
		/* Buckets that have refilled to the burst are as good as new: reuse one. */
		for (int i = 0; i < l->n && !b; i++)
			if (l->b[i].tokens + (now - l->b[i].at) / refill >= burst)
				b = &l->b[i];
		if (!b && l->n == l->cap) {
			int cap = l->cap ? l->cap * 2 : 16;
			struct ev_bucket *nb = realloc(l->b, sizeof(*nb) * (size_t)cap);

			if (!nb)
				return 1; /* no memory for a bucket: do not lose the Event */
			l->b = nb;
			l->cap = cap;
		}
		if (!b)
			b = &l->b[l->n++];
		snprintf(b->key, sizeof(b->key), "%s", key);
		b->tokens = burst;
		b->at = now;
	}
	b->tokens += (now - b->at) / refill;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at = now;
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

void ev_limiter_free(struct ev_limiter *l)
{
	free(l->b);
	memset(l, 0, sizeof(*l));
}

/* ---- names and the correlator ------------------------------------------------------- */

static __u64 fnv64(__u64 h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull; /* a separator: ("ab","c") != ("a","bc") */
}

void ev_name(char *out, size_t len, const char *obj_name, const char *obj_uid, const char *type,
	     const char *reason, const char *msg, long window)
{
	char w[32];
	__u64 h = 14695981039346656037ull;

	snprintf(w, sizeof(w), "%ld", window);
	h = fnv64(h, obj_uid);
	h = fnv64(h, type);
	h = fnv64(h, reason);
	h = fnv64(h, msg);
	h = fnv64(h, w);
	/* A Service name is at most 63 characters: the Event name stays a valid one. */
	snprintf(out, len, "%.200s.%016llx", obj_name, (unsigned long long)h);
}

struct ev_seen {
	char ns[64], name[300];
	long window;
	long long count;
};

static struct ev_seen *seen_find(struct ev_recorder *e, const char *ns, const char *name)
{
	for (int i = 0; i < e->nseen; i++)
		if (!strcmp(e->seen[i].ns, ns) && !strcmp(e->seen[i].name, name))
			return &e->seen[i];
	return NULL;
}

static void seen_add(struct ev_recorder *e, const char *ns, const char *name, long window,
		     long long count)
{
	/* Entries of past windows name Events this agent will not bump again. */
	for (int i = 0; i < e->nseen;)
		if (e->seen[i].window < window)
			e->seen[i] = e->seen[--e->nseen];
		else
			i++;
	if (e->nseen == e->capseen) {
		int cap = e->capseen ? e->capseen * 2 : 32;
		struct ev_seen *n = realloc(e->seen, sizeof(*n) * (size_t)cap);

		if (!n)
			return;
		e->seen = n;
		e->capseen = cap;
	}
	snprintf(e->seen[e->nseen].ns, sizeof(e->seen[e->nseen].ns), "%s", ns);
	snprintf(e->seen[e->nseen].name, sizeof(e->seen[e->nseen].name), "%s", name);
	e->seen[e->nseen].window = window;
	e->seen[e->nseen].count = count;
	e->nseen++;
}

static void count_result(struct ev_recorder *e, int err)
{
	int first;

	pthread_mutex_lock(e->mu);
	if (!err)
		e->posted++;
	first = err && !e->errors++;
	pthread_mutex_unlock(e->mu);
	if (first && e->log)
		e->log("cannot post an Event (logged once; the agent goes on without): %s",
		       l4s_errmsg());
}

void ev_post(struct ev_recorder *e, json_t *svc, const char *type, const char *reason,
	     const char *msg)
{
	json_t *md = json_object_get(svc, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *uid = json_string_value(json_object_get(md, "uid"));
	char ts[32], evname[300], path[600], text[1001], key[400];
	struct timespec now, mono;
	struct ev_seen *seen;
	struct tm tm;
	long window, status;
	json_t *ev;
	int err;

	if (!ns || !name)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	/* The spam key of client-go: the source and the involved object. */
	snprintf(key, sizeof(key), "l4split-agent/Service/%s/%s/%s", ns, name, uid ? uid : "");
	if (!ev_limiter_allow(&e->lim, key, (double)mono.tv_sec + (double)mono.tv_nsec / 1e9)) {
		pthread_mutex_lock(e->mu);
		e->limited++;
		pthread_mutex_unlock(e->mu);
		return;
	}
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof(text), "%s", msg); /* an Event message holds 1024 bytes */
	window = (long)(now.tv_sec / EV_WINDOW_S);
	ev_name(evname, sizeof(evname), name, uid ? uid : "", type, reason, text, window);
	seen = seen_find(e, ns, evname);
	if (seen) {
		/* A repeat: the count as an absolute value, so every node that saw the
		 * same repeat writes the same one. */
		json_t *reply = NULL, *patch = json_pack("{s:I, s:s}", "count",
							 (json_int_t)(seen->count + 1),
							 "lastTimestamp", ts);

		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", ns, evname);
		err = patch ? kube_patch(e->k, path, patch, &reply, &status) : -ENOMEM;
		json_decref(patch);
		if (!err) {
			json_int_t c = json_integer_value(json_object_get(reply, "count"));

			seen->count = c > seen->count + 1 ? c : seen->count + 1;
			json_decref(reply);
			count_result(e, 0);
			return;
		}
		json_decref(reply);
		if (err != -ENOENT) { /* 404: it expired or was deleted: make it again */
			count_result(e, err);
			return;
		}
		seen->window = -1; /* dropped by seen_add below */
	}
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s?}, s:s, s:s, s:s,"
		       " s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
		       "apiVersion", "v1", "kind", "Event",
		       "metadata", "name", evname, "namespace", ns,
		       "involvedObject", "apiVersion", "v1", "kind", "Service", "namespace", ns,
		       "name", name, "uid", uid,
		       "reason", reason, "message", text, "type", type,
		       "source", "component", "l4split-agent", "host", e->node ? e->node : "",
		       "firstTimestamp", ts, "lastTimestamp", ts, "count", 1,
		       "reportingComponent", "l4split.io/agent",
		       "reportingInstance", e->node ? e->node : "");
	if (!ev)
		return;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	err = kube_post(e->k, path, ev, NULL, &status);
	json_decref(ev);
	if (!err || err == -EEXIST) {
		/* 409: another node posted this very Event: it is there, nothing to write. */
		seen_add(e, ns, evname, window, 1);
		if (!err)
			count_result(e, 0);
		l4s_err_clear();
		return;
	}
	count_result(e, err);
}

/* ---- what a write changed ------------------------------------------------------------ */

static void add_part(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_part(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	if (off && off + 2 < len) {
		strcpy(buf + off, "; ");
		off += 2;
	}
	if (off >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

static int tracks_differ(const struct svc_spec *x, const struct svc_spec *y)
{
	if (x->ntr != y->ntr)
		return 1;
	for (int t = 0; t < x->ntr; t++) {
		struct spec_track *o = spec_track(y, x->tr[t].name);

		if (!o || o->weight != x->tr[t].weight)
			return 1;
	}
	return 0;
}

static const char *pod_of(const struct k8s_result *kr, const struct spec_backend *b)
{
	for (int i = 0; kr && i < kr->n; i++)
		if (kr->ep[i].family == b->family && kr->ep[i].port == b->port &&
		    !memcmp(&kr->ep[i].addr, &b->addr, sizeof(b->addr)) && kr->ep[i].name[0])
			return kr->ep[i].name;
	return NULL;
}

void ev_applied(struct ev_recorder *rec, json_t *svc, const char *l4name, const struct svc_spec *before,
		const struct svc_spec *after, const struct write_result *r,
		const struct k8s_result *kr)
{
	char msg[1024] = "", what[900] = "", addr[L4S_ADDRSTRLEN + 8];
	int added = 0, removed = 0, drained = 0, restored = 0;

	for (int i = 0; i < after->nbe; i++) {
		const struct spec_backend *b = &after->be[i];
		const struct spec_backend *o = spec_backend(before, &b->addr, b->family, b->port);

		if (!o)
			added++;
		else if (o->weight && !b->weight)
			drained++;
		else if (!o->weight && b->weight)
			restored++;
	}
	for (int i = 0; i < before->nbe; i++)
		if (!spec_backend(after, &before->be[i].addr, before->be[i].family,
				  before->be[i].port))
			removed++;
	if (r->created)
		add_part(what, sizeof(what), "created");
	if (r->created || tracks_differ(before, after)) {
		/* By name: a node that loaded the service from its maps lists its tracks in
		 * another order than one that made it, and the message must be the same. */
		const struct spec_track *ord[64];
		char wl[512] = "";
		int nt = 0;

		for (int t = 0; t < after->ntr && nt < 64; t++) {
			int j = nt++;

			while (j > 0 && strcmp(ord[j - 1]->name, after->tr[t].name) > 0) {
				ord[j] = ord[j - 1];
				j--;
			}
			ord[j] = &after->tr[t];
		}
		for (int t = 0; t < nt; t++) {
			char wb[32];

			snprintf(wl + strlen(wl), sizeof(wl) - strlen(wl), "%s%s=%s", t ? " " : "",
				 ord[t]->name, fmt_weight(wb, ord[t]->weight));
		}
		add_part(what, sizeof(what), "weights %s", wl[0] ? wl : "none");
	}
	if (added || removed)
		add_part(what, sizeof(what), "backends +%d -%d", added, removed);
	if (drained)
		add_part(what, sizeof(what), "%d backend%s drained", drained, drained > 1 ? "s" : "");
	if (restored)
		add_part(what, sizeof(what), "%d backend%s restored", restored,
			 restored > 1 ? "s" : "");
	if (!r->created && r->fe_changed)
		add_part(what, sizeof(what), "frontends");
	if (!r->created && (r->flags_changed || r->mode_changed))
		add_part(what, sizeof(what), "affinity or mode");
	if (!what[0])
		add_part(what, sizeof(what), "backend weights");
	snprintf(msg, sizeof(msg), "%s: %s", l4name, what);
	ev_post(rec, svc, "Normal", "L4splitApplied", msg);
	for (int i = 0; i < after->nbe; i++) {
		const struct spec_backend *b = &after->be[i];
		const struct spec_backend *o = spec_backend(before, &b->addr, b->family, b->port);
		const char *pod;

		if (!o || !o->weight || b->weight)
			continue;
		pod = pod_of(kr, b);
		fmt_addr_port(addr, &b->addr, b->family, b->port);
		/* @pod says what it is: "pod NAME" (the pod and EndpointSlice readers) */
		snprintf(msg, sizeof(msg), "%s: backend %s%s%s (track %s) drained: no new flows, "
			 "established ones go on", l4name, pod ? pod : "", pod ? " at " : "", addr,
			 b->track);
		ev_post(rec, svc, "Normal", "L4splitBackendDrained", msg);
	}
}

void ev_recorder_free(struct ev_recorder *e)
{
	ev_limiter_free(&e->lim);
	free(e->seen);
	e->seen = NULL;
	e->nseen = e->capseen = 0;
}
