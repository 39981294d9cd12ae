// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Watchers (one thread per resource) keep caches of Services and Pods; the
 * reconciler (the calling thread) turns annotated Services into l4split
 * services whenever a cache changes, through the same transactions as the CLI.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "agent.h"
#include "err.h"
#include "k8s.h"
#include "model.h"
#include "parse.h"
#include "state.h"
#include "writer.h"

static const char *const res_name[RES_MAX] = { "services", "pods" };
static const char *const res_path[RES_MAX] = { "/api/v1/services", "/api/v1/pods" };

void agent_vlog(const char *fmt, va_list ap)
{
	char ts[32], msg[2048], out[4096];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One record per line: text from the API server (annotations, names) cannot forge lines. */
	l4s_escape(out, sizeof(out), msg, 1);
	fprintf(stderr, "%s l4split-agent: %s\n", ts, out);
}

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_vlog(fmt, ap);
	va_end(ap);
}

int agent_init(struct agent *a)
{
	int p[2];

	if (pipe(p))
		return l4s_err(errno, "cannot make a pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(p[i], F_SETFD, FD_CLOEXEC);
		fcntl(p[i], F_SETFL, O_NONBLOCK);
	}
	a->stop_rd = a->k.stop_fd = p[0];
	a->stop_wr = p[1];
	a->k.stop = &a->stop;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	return 0;
}

void agent_stop(struct agent *a)
{
	a->stop = 1;
	/* The pipe stays readable (nobody reads it): every poll() on it returns at once. */
	if (write(a->stop_wr, "", 1) < 0 && errno != EAGAIN)
		agent_log("cannot wake the agent's threads: %s", strerror(errno));
	pthread_mutex_lock(&a->mu);
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep @ms, or less: it ends when the agent stops (agent_stop writes the pipe). */
static void nap(struct agent *a, long ms)
{
	double end = now_s() + (double)ms / 1000;

	while (!a->stop) {
		struct pollfd p = { .fd = a->stop_rd, .events = POLLIN };
		double left = end - now_s();

		if (left <= 0)
			break;
		poll(&p, 1, (int)(left * 1000) + 1);
	}
}

/* ---- annotations ------------------------------------------------------------------- */

void svc_config_free(struct svc_config *c)
{
	free(c->w);
	memset(c, 0, sizeof(*c));
}

int svc_config_parse(json_t *ann, struct svc_config *c)
{
	const char *w = json_string_value(json_object_get(ann, ANN_WEIGHTS));
	const char *tl = json_string_value(json_object_get(ann, ANN_TRACK_LABEL));
	const char *af = json_string_value(json_object_get(ann, ANN_AFFINITY));
	const char *en = json_string_value(json_object_get(ann, ANN_ENABLED));
	const char *vips = json_string_value(json_object_get(ann, ANN_VIPS));
	const char *mode = json_string_value(json_object_get(ann, ANN_MODE));

	memset(c, 0, sizeof(*c));
	c->managed = w || tl || (en && !strcmp(en, "true"));
	if (!c->managed)
		return 0;
	c->vip_lb = c->vip_external = c->vip_cluster = 1;
	if (tl) {
		if (!*tl || strlen(tl) > 316)
			return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected a pod label "
				       "key such as run or app.kubernetes.io/version", ANN_TRACK_LABEL,
				       tl);
		c->track_label = tl;
	}
	if (af) {
		if (!strcmp(af, "client-ip"))
			c->affinity = 1;
		else if (strcmp(af, "none"))
			return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected client-ip or "
				       "none", ANN_AFFINITY, af);
	}
	if (mode && parse_mode(mode, &c->mode))
		return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected auto, nat, snat or "
			       "dsr", ANN_MODE, mode);
	if (vips) {
		char buf[256], *save = NULL;

		if (strlen(vips) >= sizeof(buf))
			goto bad_vips;
		snprintf(buf, sizeof(buf), "%s", vips);
		c->vip_lb = c->vip_external = c->vip_cluster = 0;
		for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			if (!strcmp(t, "loadbalancer"))
				c->vip_lb = 1;
			else if (!strcmp(t, "external"))
				c->vip_external = 1;
			else if (!strcmp(t, "cluster"))
				c->vip_cluster = 1;
			else
				goto bad_vips;
		}
		if (!c->vip_lb && !c->vip_external && !c->vip_cluster)
			goto bad_vips;
	}
	if (w) {
		const char *p = w;

		c->has_weights = 1;
		while (*p) {
			size_t len = strcspn(p, ",");
			char item[128], *eq, tname[L4S_NAME_LEN];
			struct track_weight *nw;

			while (*p == ' ')
				p++, len--;
			if (len == 0 || len >= sizeof(item))
				goto bad_weights;
			snprintf(item, sizeof(item), "%.*s", (int)len, p);
			while (strlen(item) && item[strlen(item) - 1] == ' ')
				item[strlen(item) - 1] = 0;
			eq = strchr(item, '=');
			if (!eq || eq == item)
				goto bad_weights;
			*eq = 0;
			/* A label value longer than a track name names its shortened track,
			 * as the pods' labels give it (track_name). */
			if (track_name(tname, item) < 0 || parse_weight(eq + 1, &(__u64){ 0 }))
				return l4s_err_prefix("annotation %s \"%s\" is wrong", ANN_WEIGHTS, w);
			for (int i = 0; i < c->nw; i++)
				if (!strcmp(c->w[i].track, tname))
					return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: track "
						       "\"%s\" is given twice", ANN_WEIGHTS, w, item);
			nw = realloc(c->w, sizeof(*nw) * (size_t)(c->nw + 1));
			if (!nw)
				return l4s_err(ENOMEM, "out of memory");
			c->w = nw;
			snprintf(c->w[c->nw].track, sizeof(c->w[c->nw].track), "%s", tname);
			parse_weight(eq + 1, (__u64 *)&c->w[c->nw].weight);
			c->nw++;
			p += len;
			if (*p == ',')
				p++;
		}
		if (!c->nw)
			goto bad_weights;
	}
	return 0;
bad_weights:
	return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected TRACK=WEIGHT,... such as "
		       "\"old=99,new=1\"", ANN_WEIGHTS, w);
bad_vips:
	return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected a list of loadbalancer, "
		       "external, cluster", ANN_VIPS, vips);
}

void svc_k8s_name(char *out, const char *ns, const char *name, const char *port)
{
	char full[512];
	__u32 h = 2166136261u; /* FNV-1a */

	snprintf(full, sizeof(full), "%s.%s.%s", ns, name, port);
	if (strlen(full) < L4S_NAME_LEN) {
		strcpy(out, full);
		return;
	}
	for (const char *p = full; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, L4S_NAME_LEN, "%.22s-%08x", full, h);
}

/* ---- watchers ------------------------------------------------------------------------ */

struct watcher {
	struct agent *a;
	int res;
	char rv[64];
};

static int obj_key(json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));

	if (!name)
		return -1;
	snprintf(key, len, "%s/%s", ns ? ns : "", name);
	return 0;
}

static void set_rv(struct watcher *w, json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	if (rv && *rv)
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
}

static int on_event(json_t *ev, void *ctx)
{
	struct watcher *w = ctx;
	struct agent *a = w->a;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	char key[512];

	if (!type || !json_is_object(obj))
		return 0;
	set_rv(w, obj);
	if (!strcmp(type, "BOOKMARK"))
		return a->stop;
	if (obj_key(obj, key, sizeof(key)))
		return a->stop;
	pthread_mutex_lock(&a->mu);
	if (!strcmp(type, "DELETED"))
		json_object_del(a->cache[w->res], key);
	else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
		json_object_set(a->cache[w->res], key, obj);
	a->st.events[w->res]++;
	a->dirty = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return a->stop;
}

static int list(struct watcher *w)
{
	struct agent *a = w->a;
	char path[512];
	json_t *doc, *items, *it, *fresh;
	long status;
	size_t i;
	int err;

	if (a->namespace)
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s", a->namespace,
			 res_name[w->res]);
	else
		snprintf(path, sizeof(path), "%s", res_path[w->res]);
	err = kube_get(&a->k, path, &doc, &status);
	if (err)
		return err;
	items = json_object_get(doc, "items");
	if (!json_is_array(items)) {
		json_decref(doc);
		return l4s_err(EBADMSG, "GET %s: no items in the answer", path);
	}
	fresh = json_object();
	json_array_foreach(items, i, it) {
		char key[512];

		if (!obj_key(it, key, sizeof(key)))
			json_object_set(fresh, key, it);
	}
	w->rv[0] = 0;
	set_rv(w, doc);
	pthread_mutex_lock(&a->mu);
	json_decref(a->cache[w->res]);
	a->cache[w->res] = fresh;
	a->synced[w->res] = 1;
	a->st.relists[w->res]++;
	a->dirty = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	json_decref(doc);
	return 0;
}

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

/* Say what failed, wait, and double the next wait (at most BACKOFF_MAX_MS). */
static void backoff_wait(struct agent *a, long *backoff, const char *what, const char *res)
{
	agent_log("%s %s failed: %s; again in %.1f s", what, res, l4s_errmsg(), *backoff / 1000.0);
	nap(a, *backoff);
	*backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
}

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	struct agent *a = w->a;
	long backoff = BACKOFF_MIN_MS;

	while (!a->stop) {
		int err = list(w);

		if (err && a->stop) /* the transfer ended because the agent stops */
			break;
		if (err) {
			backoff_wait(a, &backoff, "listing", res_name[w->res]);
			continue;
		}
		backoff = BACKOFF_MIN_MS;
		while (!a->stop) {
			char path[768];
			long status;

			snprintf(path, sizeof(path),
				 "%s%s%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=290"
				 "&resourceVersion=%s",
				 a->namespace ? "/api/v1/namespaces/" : res_path[w->res],
				 a->namespace ? a->namespace : "", a->namespace ? "/" : "",
				 a->namespace ? res_name[w->res] : "", w->rv);
			err = kube_watch(&a->k, path, on_event, w, &status);
			if (a->stop)
				break;
			pthread_mutex_lock(&a->mu);
			a->st.watch_restarts[w->res]++;
			pthread_mutex_unlock(&a->mu);
			if (err == -ESTALE) {
				agent_log("watch of %s: resource version %s is too old (410); listing "
					  "again", res_name[w->res], w->rv);
				break;
			}
			if (err && a->stop)
				break;
			if (err) {
				backoff_wait(a, &backoff, "watching", res_name[w->res]);
				continue;
			}
			backoff = BACKOFF_MIN_MS;
		}
	}
	return NULL;
}

/* ---- reconcile ------------------------------------------------------------------------- */

struct desired {
	char (*names)[L4S_NAME_LEN];
	int n, cap;
};

static void desired_add(struct desired *d, const char *name)
{
	if (d->n == d->cap) {
		int cap = d->cap ? d->cap * 2 : 64;
		void *nn = realloc(d->names, sizeof(*d->names) * (size_t)cap);

		if (!nn)
			return;
		d->names = nn;
		d->cap = cap;
	}
	snprintf(d->names[d->n++], L4S_NAME_LEN, "%s", name);
}

static int desired_has(const struct desired *d, const char *name)
{
	for (int i = 0; i < d->n; i++)
		if (!strcmp(d->names[i], name))
			return 1;
	return 0;
}

/* Log an error for a Service once per distinct message (and post it as an Event); count
 * it every time. */
static void svc_error(struct agent *a, json_t *svc, const char *key, const char *msg)
{
	const char *prev = json_string_value(json_object_get(a->last_error, key));

	a->st.reconcile_errors++;
	if (prev && !strcmp(prev, msg))
		return;
	json_object_set_new(a->last_error, key, json_string(msg));
	agent_log("service %s: %s; its last good configuration stays in force", key, msg);
	ev_post(&a->ev, svc, "Warning", "L4splitConfigError", msg);
}

static void svc_ok(struct agent *a, const char *key)
{
	if (json_object_get(a->last_error, key)) {
		json_object_del(a->last_error, key);
		agent_log("service %s: configuration accepted again", key);
	}
}

/* Why a Service that l4split serves can get no traffic (or none on some track): logged
 * and posted once per distinct reason; NULL: no reason any more. */
static void svc_warn(struct agent *a, json_t *svc, const char *key, const char *why)
{
	const char *prev = json_string_value(json_object_get(a->last_warning, key));

	if (!why) {
		if (prev)
			json_object_del(a->last_warning, key);
		return;
	}
	if (prev && !strcmp(prev, why))
		return;
	json_object_set_new(a->last_warning, key, json_string(why));
	agent_log("service %s: %s", key, why);
	ev_post(&a->ev, svc, "Warning", "L4splitNoTraffic", why);
}

/* Append a reason to @buf ("; " between them). */
static void why_add(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why_add(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	if (off && off + 2 < len) {
		strcpy(buf + off, "; ");
		off += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

/* The reasons one port of a Service can get no traffic, from what the pod reader saw. */
static void port_why(char *why, size_t len, const char *port, const struct svc_config *c,
		     const struct k8s_result *kr, __u8 family)
{
	int ready = 0;

	for (int i = 0; i < kr->n; i++)
		ready += kr->ep[i].state == EP_READY;
	if (!ready && kr->skipped_family)
		why_add(why, len, "port %s: its pods have no IPv%d address, the family of its first "
			"VIP (l4split serves one family per Service: order spec.ipFamilies or use "
			"l4split.io/vips)", port, family);
	if (!ready && kr->skipped_no_track && c->track_label)
		why_add(why, len, "port %s: no pod has the track label %s (l4split.io/track-label)",
			port, c->track_label);
	for (int w = 0; c->has_weights && w < c->nw; w++) {
		int seen = 0;

		if (!c->w[w].weight)
			continue;
		for (int i = 0; i < kr->n && !seen; i++)
			seen = kr->ep[i].state == EP_READY && !strcmp(kr->ep[i].track, c->w[w].track);
		if (!seen)
			why_add(why, len, "port %s: l4split.io/weights gives track %s weight, but no "
				"ready pod is on it (its share goes to the other tracks)", port,
				c->w[w].track);
	}
}

static int selector_matches(json_t *sel, json_t *labels)
{
	const char *k;
	json_t *v;

	if (!json_object_size(sel))
		return 0; /* no selector: endpoints are managed by hand, not by pods */
	json_object_foreach(sel, k, v) {
		json_t *l = json_object_get(labels, k);

		if (!l || !json_equal(l, v))
			return 0;
	}
	return 1;
}

/* VIPs of a Service, of one family (the first one found). */
static int service_vips(json_t *svc, const struct svc_config *c, struct l4s_addr *vip, int max,
			__u8 *family)
{
	json_t *spec = json_object_get(svc, "spec"), *x;
	json_t *lbs = json_object_get(json_object_get(json_object_get(svc, "status"),
						      "loadBalancer"),
				      "ingress");
	const char *cands[64];
	int nc = 0, n = 0;
	size_t i;

	if (c->vip_lb)
		json_array_foreach(lbs, i, x)
			if (nc < 64 && json_string_value(json_object_get(x, "ip")))
				cands[nc++] = json_string_value(json_object_get(x, "ip"));
	if (c->vip_external)
		json_array_foreach(json_object_get(spec, "externalIPs"), i, x)
			if (nc < 64 && json_string_value(x))
				cands[nc++] = json_string_value(x);
	if (c->vip_cluster) {
		json_t *cips = json_object_get(spec, "clusterIPs");

		if (json_array_size(cips)) {
			json_array_foreach(cips, i, x)
				if (nc < 64 && json_string_value(x))
					cands[nc++] = json_string_value(x);
		} else if (json_string_value(json_object_get(spec, "clusterIP")) && nc < 64) {
			cands[nc++] = json_string_value(json_object_get(spec, "clusterIP"));
		}
	}
	*family = 0;
	for (int j = 0; j < nc && n < max; j++) {
		struct l4s_addr a;
		__u8 fam;
		int dup = 0;

		/* "None", a placeholder, 0.0.0.0 or multicast (addr_check): not a VIP */
		if (parse_addr(cands[j], &a, &fam) || addr_check(&a, fam))
			continue;
		if (!*family)
			*family = fam;
		if (fam != *family)
			continue;
		for (int k = 0; k < n; k++)
			if (!memcmp(&vip[k], &a, sizeof(a)))
				dup = 1;
		if (!dup)
			vip[n++] = a;
	}
	l4s_err_clear();
	return n;
}

/* The track weights the Service asks for: those of l4split.io/weights (tracks it names
 * keep their weight even while they have no backend; others get 0), or, without the
 * annotation, every track with backends alike (1; a track already there keeps its
 * weight). Tracks nobody names and no backend uses go. */
static int agent_track_weights(struct svc_spec *s, const struct svc_config *c,
			       const struct svc_spec *before)
{
	for (int i = 0; c->has_weights && i < c->nw; i++)
		if (!spec_track_add(s, c->w[i].track, c->w[i].weight))
			return l4s_err(ENOMEM, "out of memory");
	for (int t = s->ntr - 1; t >= 0; t--) {
		struct spec_track *tr = &s->tr[t];
		int named = 0;

		for (int i = 0; c->has_weights && i < c->nw; i++)
			if (!strcmp(c->w[i].track, tr->name)) {
				tr->weight = c->w[i].weight;
				named = 1;
			}
		if (named)
			continue;
		if (!spec_track_used(s, tr->name)) {
			spec_track_del(tr, s);
			continue;
		}
		if (c->has_weights)
			tr->weight = 0;
		else if (!spec_track(before, tr->name))
			tr->weight = L4S_WEIGHT_ONE;
	}
	return 0;
}

/* Make one l4split service match one Service port. 1 when something was written. */
static int apply_port(struct agent *a, struct l4s_state *st, json_t *svc, const char *l4name,
		      const struct l4s_frontend_key *fe, int nfe, const struct svc_config *c,
		      const struct k8s_result *kr)
{
	struct write_opts wo = { .how = WRITE_UPSERT, .agent = 1 };
	struct merge_counts mc = {};
	struct svc_spec s = {}, before = {};
	struct write_result r;
	__u32 id;
	int err;

	if (svc_lookup(st, l4name, &id) == 0)
		err = service_spec(st, id, &s);
	else {
		spec_init(&s, l4name);
		err = 0;
	}
	if (!err)
		err = spec_copy(&before, &s);
	if (err) {
		spec_free(&s);
		return err;
	}
	free(s.fe);
	s.fe = NULL;
	s.nfe = 0;
	for (int i = 0; i < nfe && !err; i++)
		err = spec_add_frontend(&s, &fe[i]);
	s.flags = L4S_SVC_F_AGENT | (c->affinity ? L4S_SVC_F_AFFINITY_CLIENT_IP : 0);
	s.mode = c->mode;
	if (!err)
		err = spec_merge_endpoints(&s, kr->ep, kr->n, NULL, 0, &mc);
	if (!err)
		err = agent_track_weights(&s, c, &before);
	if (!err)
		err = service_apply(st, &s, &wo, &r);
	if (!err && r.changed) {
		char wl[256] = "";

		for (int t = 0; t < s.ntr; t++) {
			char wb[32];

			snprintf(wl + strlen(wl), sizeof(wl) - strlen(wl), " %s=%s", s.tr[t].name,
				 fmt_weight(wb, s.tr[t].weight));
		}
		agent_log("%s: %s%d added, %d drained, %d restored, %d removed; weights%s", l4name,
			  r.created ? "created; " : "", mc.added, mc.drained, mc.restored,
			  mc.removed, wl);
		if (r.starved)
			agent_log("%s: %d backends with a weight above 0 get no slot of the %u-slot "
				  "table", l4name, r.starved, s.table_size);
		a->st.commits++;
		ev_applied(&a->ev, svc, l4name, &before, &s, &r, kr);
	}
	spec_free(&s);
	spec_free(&before);
	return err ? err : r.changed;
}

/* The numbers of a Service's spec.ports[@i]: port, and targetPort when it is a number or
 * a string of digits (a name otherwise). 0, or -EINVAL with a message naming the field. */
static int service_port_check(json_t *port, size_t i)
{
	json_t *tp = json_object_get(port, "targetPort");
	char field[64];
	__u16 v;

	snprintf(field, sizeof(field), "spec.ports[%zu].port", i);
	if (k8s_port(json_object_get(port, "port"), field, &v))
		return -EINVAL;
	snprintf(field, sizeof(field), "spec.ports[%zu].targetPort", i);
	if (json_is_integer(tp))
		return k8s_port(tp, field, &v);
	if (json_is_string(tp))
		return parse_port_or_name(field, json_string_value(tp), &v) < 0 ? -EINVAL : 0;
	if (tp && !json_is_null(tp))
		return l4s_err(EINVAL, "%s: expected a port number or a port name", field);
	return 0;
}

static void reconcile_service(struct agent *a, struct l4s_state *st, json_t *svc, json_t *pods,
			      struct desired *keep)
{
	json_t *md = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	json_t *sel = json_object_get(spec, "selector"), *port;
	struct svc_config c;
	struct l4s_addr vips[16];
	char key[512], why[1024] = "";
	__u8 family;
	int nvip, bad = 0;
	size_t i;

	if (!ns || !name)
		return;
	l4s_err_clear(); /* a reason left by another service is not this one's */
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (svc_config_parse(json_object_get(md, "annotations"), &c)) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
		bad = 1;
		/* Keep every l4split service this one made, as it is. */
		json_array_foreach(json_object_get(spec, "ports"), i, port) {
			char pk[32], l4name[L4S_NAME_LEN];
			const char *pn = json_string_value(json_object_get(port, "name"));

			snprintf(pk, sizeof(pk), "%lld",
				 (long long)json_integer_value(json_object_get(port, "port")));
			svc_k8s_name(l4name, ns, name, pn && *pn ? pn : pk);
			desired_add(keep, l4name);
			agent_names_set(a, l4name, ns, name, pn && *pn ? pn : pk);
		}
		svc_error(a, svc, key, msg);
		svc_config_free(&c);
		return;
	}
	if (!c.managed)
		return;
	nvip = service_vips(svc, &c, vips, 16, &family);
	if (!nvip) {
		const char *type = json_string_value(json_object_get(spec, "type"));
		const char *cip = json_string_value(json_object_get(spec, "clusterIP"));

		if (type && !strcmp(type, "ExternalName"))
			svc_error(a, svc, key, "type ExternalName is a DNS alias with no VIP: l4split "
				  "cannot split it (remove the l4split annotations)");
		else if (cip && !strcmp(cip, "None") && c.vip_cluster)
			svc_error(a, svc, key, "headless (clusterIP None): no VIP to split; give it a "
				  "clusterIP, a LoadBalancer or externalIPs");
		else
			svc_error(a, svc, key, "no VIP yet (no LoadBalancer ingress IP, externalIP or "
				  "clusterIP of the kinds l4split.io/vips asks for)");
		svc_config_free(&c);
		return;
	}
	if (!json_object_size(sel))
		why_add(why, sizeof(why), "spec.selector is empty: l4split takes backends from the "
			"pods a selector picks, so it gets none (Endpoints made by hand are not read)");
	json_array_foreach(json_object_get(spec, "ports"), i, port) {
		const char *proto = json_string_value(json_object_get(port, "protocol"));
		const char *pn = json_string_value(json_object_get(port, "name"));
		json_t *tp = json_object_get(port, "targetPort");
		json_int_t pnum = json_integer_value(json_object_get(port, "port"));
		struct l4s_frontend_key fe[16];
		struct k8s_result kr = {};
		char pk[32], tps[64], l4name[L4S_NAME_LEN];
		struct k8s_opts ko = { .family = family, .track_label = c.track_label,
				       .track = c.track_label ? NULL : "default",
				       .default_port = (__u16)pnum };
		json_t *list = json_object(), *items = json_array(), *pod;
		const char *pkey;
		__u8 ipproto;
		int err;

		snprintf(pk, sizeof(pk), "%lld", (long long)pnum);
		svc_k8s_name(l4name, ns, name, pn && *pn ? pn : pk);
		if (!proto || !strcmp(proto, "TCP"))
			ipproto = IPPROTO_TCP;
		else if (!strcmp(proto, "UDP"))
			ipproto = IPPROTO_UDP;
		else {
			json_decref(list);
			json_decref(items);
			continue; /* SCTP: not for l4split */
		}
		if (service_port_check(port, i)) {
			json_decref(list);
			json_decref(items);
			desired_add(keep, l4name); /* what it made stays as it is */
			svc_error(a, svc, key, l4s_errmsg());
			bad = 1;
			continue;
		}
		ko.proto = ipproto;
		for (int v = 0; v < nvip; v++) {
			memset(&fe[v], 0, sizeof(fe[v]));
			fe[v].vip = vips[v];
			fe[v].port = htons((__u16)pnum);
			fe[v].proto = ipproto;
			fe[v].family = family;
		}
		if (json_is_integer(tp)) {
			snprintf(tps, sizeof(tps), "%lld", (long long)json_integer_value(tp));
			ko.port = tps;
		} else if (json_string_value(tp)) {
			snprintf(tps, sizeof(tps), "%s", json_string_value(tp));
			ko.port = tps;
		}
		json_object_foreach(pods, pkey, pod) {
			json_t *pmd = json_object_get(pod, "metadata");
			const char *pns = json_string_value(json_object_get(pmd, "namespace"));

			if (pns && !strcmp(pns, ns) &&
			    selector_matches(sel, json_object_get(pmd, "labels")))
				json_array_append(items, pod);
		}
		json_object_set_new(list, "kind", json_string("PodList"));
		json_object_set_new(list, "items", items);
		err = k8s_parse(list, &ko, &kr);
		json_decref(list);
		if (!err)
			port_why(why, sizeof(why), pn && *pn ? pn : pk, &c, &kr, family);
		if (!err)
			err = apply_port(a, st, svc, l4name, fe, nvip, &c, &kr);
		agent_names_set(a, l4name, ns, name, pn && *pn ? pn : pk);
		if (err > 0 && kr.note[0]) /* when it writes: not on every pass */
			agent_log("%s: %s", l4name, kr.note);
		k8s_result_free(&kr);
		desired_add(keep, l4name);
		if (err < 0) {
			char msg[600];

			snprintf(msg, sizeof(msg), "port %s: %s", pn && *pn ? pn : pk, l4s_errmsg());
			svc_error(a, svc, key, msg);
			bad = 1;
		}
	}
	if (!bad)
		svc_ok(a, key);
	svc_warn(a, svc, key, why[0] ? why : NULL);
	svc_config_free(&c);
}

static int reconcile_all(struct agent *a, json_t *svcs, json_t *pods)
{
	struct l4s_state st;
	struct desired keep = {};
	__u32 *ids = NULL;
	const char *k;
	json_t *svc;
	int n = 0, err;

	err = state_open(&st, a->pin_dir, STATE_CREATE | STATE_LOCK);
	if (err) {
		agent_log("cannot open the state: %s", l4s_errmsg());
		a->st.reconcile_errors++;
		return err;
	}
	json_object_foreach(svcs, k, svc)
		reconcile_service(a, &st, svc, pods, &keep);
	/* What the agent made and no Service asks for any more goes. */
	if (!svc_list(&st, &ids, &n)) {
		for (int i = 0; i < n; i++) {
			struct l4s_service s;

			if (state_service(&st, ids[i], &s) ||
			    !(s.flags & L4S_SVC_F_AGENT) || desired_has(&keep, s.name))
				continue;
			if (service_delete(&st, ids[i], NULL, NULL) == 0) {
				agent_log("%s: deleted (its Service, port or annotations are gone)",
					  s.name);
				a->st.commits++;
			}
		}
		free(ids);
	}
	a->st.managed = keep.n;
	agent_names_keep(a, (const char (*)[L4S_NAME_LEN])keep.names, keep.n);
	free(keep.names);
	state_close(&st);
	return 0;
}

int agent_run(struct agent *a)
{
	struct watcher w[RES_MAX];
	pthread_t th[RES_MAX];
	int started = 0;

	a->last_error = json_object();
	a->last_warning = json_object();
	a->ev = (struct ev_recorder){ .k = &a->k, .node = a->node, .mu = &a->mu, .log = agent_log };
	for (int r = 0; r < RES_MAX; r++)
		a->cache[r] = json_object();
	for (int r = 0; r < RES_MAX; r++) {
		w[r] = (struct watcher){ .a = a, .res = r };
		if (pthread_create(&th[r], NULL, watch_thread, &w[r]))
			break;
		started++;
	}
	agent_log("watching services and pods at %s%s%s (node %s)", a->k.server,
		  a->namespace ? ", namespace " : "", a->namespace ? a->namespace : "",
		  a->node ? a->node : "?");
	while (!a->stop && started == RES_MAX) {
		json_t *svcs, *pods;
		struct timespec dl;
		double t0;

		pthread_mutex_lock(&a->mu);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 30; /* and a full pass every 30 s, changes or not */
		while (!a->dirty && !a->stop)
			if (pthread_cond_timedwait(&a->cv, &a->mu, &dl))
				break;
		pthread_mutex_unlock(&a->mu);
		if (a->stop)
			break;
		nap(a, 50); /* a burst of events is one reconcile */
		pthread_mutex_lock(&a->mu);
		if (!a->synced[RES_SERVICES] || !a->synced[RES_PODS]) {
			pthread_mutex_unlock(&a->mu);
			continue;
		}
		a->dirty = 0;
		/* Copies: the watchers go on while the maps are written. */
		svcs = json_copy(a->cache[RES_SERVICES]);
		pods = json_copy(a->cache[RES_PODS]);
		pthread_mutex_unlock(&a->mu);
		t0 = now_s();
		reconcile_all(a, svcs, pods);
		pthread_mutex_lock(&a->mu);
		a->st.reconciles++;
		a->st.last_reconcile_seconds = now_s() - t0;
		a->st.reconcile_seconds_sum += a->st.last_reconcile_seconds;
		a->st.last_reconcile_at = (double)time(NULL);
		pthread_mutex_unlock(&a->mu);
		json_decref(svcs);
		json_decref(pods);
	}
	agent_stop(a); /* the watchers end their transfers at once */
	for (int r = 0; r < started; r++)
		pthread_join(th[r], NULL);
	for (int r = 0; r < RES_MAX; r++)
		json_decref(a->cache[r]);
	json_decref(a->last_error);
	json_decref(a->last_warning);
	ev_recorder_free(&a->ev);
	agent_names_free(a);
	return started == RES_MAX ? 0 : -EAGAIN;
}
