// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Informers (informer.c, one thread each) keep caches of Services, EndpointSlices and,
 * while a Service uses l4split.io/track-label, pod metadata; the reconciler (the calling
 * thread) turns annotated Services into l4split services whenever a cache changes,
 * through the same transactions as the CLI.
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
#include "healthsrv.h"
#include "k8s.h"
#include "model.h"
#include "parse.h"
#include "state.h"
#include "svcfields.h"
#include "writer.h"
#include "util.h"

const char *const agent_res_name[RES_MAX] = { "services", "endpointslices", "pods", "nodes" };
/* Collection paths: all namespaces, or (a->namespace) GROUP/namespaces/NS/RESOURCE. */
static const char *const res_path[RES_MAX] = { "/api/v1/services",
	"/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods", "/api/v1/nodes" };
static const char *const res_group[RES_MAX] = { "/api/v1", "/apis/discovery.k8s.io/v1",
	"/api/v1", NULL /* cluster-scoped */ };
/* Pods as metadata only: labels without specs and statuses (what kube-state-metrics and
 * controller-runtime's metadata informers ask for). */
#define ACCEPT_META_LIST "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#define ACCEPT_META "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

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

/* ---- annotations ------------------------------------------------------------------- */

/* A Service name: a DNS-1035 label (lower case letters, digits, '-'; a letter first). */
static int dns1035(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > 63 || n[0] < 'a' || n[0] > 'z' || n[len - 1] == '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '-'))
			return 0;
	return 1;
}

/* l4split.io/tracks: "TRACK=SERVICE,..." (spaces around items allowed). */
int svc_tracks_parse(const char *v, struct svc_config *c)
{
	const char *p = v;

	while (*p) {
		size_t len = strcspn(p, ",");
		char item[160], *eq, *name, *svc, tname[L4S_NAME_LEN];
		struct svc_track *nt;

		snprintf(item, sizeof(item), "%.*s", (int)(len < sizeof(item) ? len : 0), p);
		name = item + strspn(item, " ");
		while (*name && name[strlen(name) - 1] == ' ')
			name[strlen(name) - 1] = 0;
		eq = strchr(name, '=');
		if (!*name || !eq || eq == name || !eq[1])
			return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected TRACK=SERVICE,"
				       "... such as \"old=nginx-v1,new=nginx-v2\"", ANN_TRACKS, v);
		*eq = 0;
		svc = eq + 1;
		if (track_name(tname, name) != 0)
			return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: \"%s\" is not a track "
				       "name (at most %d characters: letters, digits, '-', '_', "
				       "'.')", ANN_TRACKS, v, name, L4S_NAME_LEN - 1);
		if (!dns1035(svc))
			return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: \"%s\" is not a "
				       "Service name", ANN_TRACKS, v, svc);
		for (int i = 0; i < c->ntr; i++) {
			if (!strcmp(c->tr[i].track, tname))
				return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: track \"%s\" "
					       "is given twice", ANN_TRACKS, v, tname);
			if (!strcmp(c->tr[i].service, svc))
				return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: Service "
					       "\"%s\" is named by two tracks", ANN_TRACKS, v, svc);
		}
		nt = realloc(c->tr, sizeof(*nt) * (size_t)(c->ntr + 1));
		if (!nt)
			return l4s_err(ENOMEM, "out of memory");
		c->tr = nt;
		snprintf(c->tr[c->ntr].track, sizeof(c->tr[c->ntr].track), "%s", tname);
		snprintf(c->tr[c->ntr].service, sizeof(c->tr[c->ntr].service), "%s", svc);
		c->ntr++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!c->ntr)
		return l4s_err(EINVAL, "annotation %s \"%s\" is wrong: expected TRACK=SERVICE,... "
			       "such as \"old=nginx-v1,new=nginx-v2\"", ANN_TRACKS, v);
	return 0;
}

void svc_config_free(struct svc_config *c)
{
	free(c->w);
	free(c->tr);
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
	const char *trs = json_string_value(json_object_get(ann, ANN_TRACKS));

	memset(c, 0, sizeof(*c));
	c->managed = w || tl || trs || (en && !strcmp(en, "true"));
	if (!c->managed)
		return 0;
	if (trs && tl)
		return l4s_err(EINVAL, "annotations %s and %s are both set: a track comes from a "
			       "backend Service or from a pod label, not both", ANN_TRACKS,
			       ANN_TRACK_LABEL);
	if (trs && svc_tracks_parse(trs, c))
		return -EINVAL;
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

/* ---- reconcile ------------------------------------------------------------------------- */

void desired_add(struct desired *d, const char *name)
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


/* The part of an l4split service's name after NS.NAME.: the port's name (its number when
 * unnamed), ".local" for a group of this node's endpoints only (svcf_group_suffix; a
 * dot, as no port name has one: "http-local" may be a port's name), and ".v6" (".v4")
 * for the family that is not the Service's first. */
static void port_key(char *out, size_t len, json_t *port, const char *suffix, __u8 family,
		     __u8 first_family)
{
	const char *pn = json_string_value(json_object_get(port, "name"));
	char num[16];

	snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(port,
										     "port")));
	snprintf(out, len, "%s%s%s%s", pn && *pn ? pn : num, *suffix ? "." : "", suffix,
		 family == first_family ? "" : family == L4S_AF_INET6 ? ".v6" : ".v4");
}

/* Keep every l4split service a Service port made, as it is (its configuration is wrong,
 * or what it needs is not there yet). */
static void port_keep_all(struct agent *a, json_t *svc, json_t *port, struct desired *keep)
{
	json_t *md = json_object_get(svc, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *pn = json_string_value(json_object_get(port, "name"));
	static const __u8 fam[3][2] = { { 0, 0 }, { L4S_AF_INET6, L4S_AF_INET },
					{ L4S_AF_INET, L4S_AF_INET6 } };

	for (int f = 0; f < 3; f++)
		for (int local = 0; local < 2; local++) {
			char pk[48], l4name[L4S_NAME_LEN];

			port_key(pk, sizeof(pk), port, local ? "local" : "", fam[f][0], fam[f][1]);
			svc_k8s_name(l4name, ns, name, pk);
			desired_add(keep, l4name);
			/* its metrics keep their labels (the port's name or number, no family) */
			snprintf(pk, sizeof(pk), "%lld",
				 (long long)json_integer_value(json_object_get(port, "port")));
			agent_names_set(a, l4name, ns, name, pn && *pn ? pn : pk);
		}
}

static void svc_keep_all(struct agent *a, json_t *svc, struct desired *keep)
{
	json_t *port;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, port)
		port_keep_all(a, svc, port, keep);
}

/* The reasons one l4split service (a port of one family) can get no traffic, from what
 * the EndpointSlice reader saw. */
static void port_why(char *why, size_t len, const char *port, const struct svc_config *c,
		     const struct k8s_result *kr, __u8 family)
{
	int ready = 0;

	for (int i = 0; i < kr->n; i++)
		ready += kr->ep[i].state == EP_READY;
	if (!ready && kr->skipped_family)
		why_add(why, len, "port %s: its endpoints have no IPv%d address, the family of its "
			"VIPs (l4split serves each family of a Service's VIPs with its own service)",
			port, family);
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
int apply_port(struct agent *a, struct l4s_state *st, json_t *svc, const char *l4name,
		      const struct l4s_frontend_key *fe, int nfe, const struct svc_config *c,
		      const struct svcf_affinity *af, const struct k8s_result *kr)
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
	/* spec.sessionAffinity ClientIP (with its timeout), or l4split.io/affinity client-ip
	 * (hash-only: no timeout): svcf_affinity */
	s.flags = L4S_SVC_F_AGENT | (af && af->on ? L4S_SVC_F_AFFINITY_CLIENT_IP : 0);
	s.affinity_timeout = af && af->on ? af->timeout_s : 0;
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

/* What one reconcile pass gives the health check server: one entry per Service with a
 * healthCheckNodePort to answer (healthsrv.h). */
struct health_out {
	struct healthsrv_entry *e;
	int n, cap;
};

static void health_add(struct health_out *h, __u16 port, const char *ns, const char *name,
		       int local)
{
	for (int i = 0; i < h->n; i++)
		if (h->e[i].port == port && !strcmp(h->e[i].ns, ns) && !strcmp(h->e[i].name, name)) {
			if (local > h->e[i].local_endpoints) /* ports, families: the most */
				h->e[i].local_endpoints = local;
			return;
		}
	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 16;
		void *ne = realloc(h->e, sizeof(*h->e) * (size_t)cap);

		if (!ne)
			return;
		h->e = ne;
		h->cap = cap;
	}
	h->e[h->n++] = (struct healthsrv_entry){ .port = port, .ns = ns, .name = name,
						 .local_endpoints = local };
}

/* The endpoints of @slices on node @node only (EndpointSlice endpoints' nodeName): a
 * new reference. */
static json_t *slices_on_node(json_t *slices, const char *node)
{
	json_t *out = json_array(), *sl;
	size_t i;

	json_array_foreach(slices, i, sl) {
		json_t *c = json_deep_copy(sl), *eps = json_array(), *ep;
		size_t j;

		json_array_foreach(json_object_get(sl, "endpoints"), j, ep) {
			const char *nn = json_string_value(json_object_get(ep, "nodeName"));

			if (node && nn && !strcmp(nn, node))
				json_array_append(eps, ep);
		}
		json_object_set_new(c, "endpoints", eps);
		json_array_append_new(out, c);
	}
	return out;
}

/* The port of backend Service @b that the front Service's @port means: the one of the
 * same name, else the one of the same number (and protocol). Its name into @out ("" for
 * the one unnamed port). 0, or -ENOENT. */
static int backend_port(json_t *b, json_t *port, const char *proto, char *out, size_t len)
{
	const char *pn = json_string_value(json_object_get(port, "name"));
	json_int_t num = json_integer_value(json_object_get(port, "port"));
	json_t *bp, *by_num = NULL;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(b, "spec"), "ports"), i, bp) {
		const char *bn = json_string_value(json_object_get(bp, "name"));
		const char *bpr = json_string_value(json_object_get(bp, "protocol"));

		if (strcmp(bpr ? bpr : "TCP", proto))
			continue;
		if (pn && *pn && bn && !strcmp(bn, pn)) {
			snprintf(out, len, "%s", bn);
			return 0;
		}
		if (!by_num && json_integer_value(json_object_get(bp, "port")) == num)
			by_num = bp;
	}
	if (!by_num)
		return -ENOENT;
	snprintf(out, len, "%s", json_string_value(json_object_get(by_num, "name")) ?: "");
	return 0;
}

int result_append(struct k8s_result *out, const struct k8s_result *kr)
{
	struct spec_endpoint *ep;

	if (kr->n) {
		ep = realloc(out->ep, sizeof(*ep) * (size_t)(out->n + kr->n));
		if (!ep)
			return l4s_err(ENOMEM, "out of memory");
		out->ep = ep;
		memcpy(out->ep + out->n, kr->ep, sizeof(*ep) * (size_t)kr->n);
		out->n += kr->n;
	}
	out->skipped_no_ip += kr->skipped_no_ip;
	out->skipped_family += kr->skipped_family;
	out->skipped_no_track += kr->skipped_no_track;
	out->skipped_bad_addr += kr->skipped_bad_addr;
	out->tracks_shortened += kr->tracks_shortened;
	out->serving_terminating += kr->serving_terminating;
	if (!out->warning[0])
		memcpy(out->warning, kr->warning, sizeof(out->warning));
	if (!out->note[0])
		memcpy(out->note, kr->note, sizeof(out->note));
	return 0;
}

/*
 * The endpoints of one Service port, of one family, over its tracks: each track's are
 * those of its backend Service's EndpointSlices (l4split.io/tracks), or, without that
 * annotation, the Service's own slices on track "default" or by pod label. @why gets
 * what keeps a track without backends (when @why is not NULL). 0 or -errno with a message.
 */
int port_endpoints(const struct reconcile_in *in, json_t *svc, const struct svc_config *c,
			  json_t *port, __u8 family, __u8 ipproto, json_t *pods, int fallback,
			  int local_only, struct k8s_result *out, char *why, size_t wlen)
{
	json_t *md = json_object_get(svc, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *proto = ipproto == IPPROTO_UDP ? "UDP" : "TCP";
	int ntr = c->ntr ? c->ntr : 1;

	memset(out, 0, sizeof(*out));
	for (int t = 0; t < ntr; t++) {
		const char *bname = c->ntr ? c->tr[t].service : name;
		struct k8s_opts ko = {
			.family = family, .proto = ipproto,
			.track_label = c->ntr ? NULL : c->track_label,
			.track = c->ntr ? c->tr[t].track : c->track_label ? NULL : "default",
			.default_port = (__u16)json_integer_value(json_object_get(port, "port")),
			.pods = c->ntr ? NULL : pods, .slice_skip_port = 1, .fallback = fallback,
		};
		struct k8s_result kr = {};
		char key[512], pname[64];
		json_t *b, *list, *sl;
		int err;

		snprintf(key, sizeof(key), "%s/%s", ns, bname);
		b = c->ntr ? json_object_get(in->svcs, key) : svc;
		if (!b) {
			if (why)
				why_add(why, wlen, "track %s: Service %s/%s (l4split.io/tracks) does "
					"not exist: the track gets no backends", c->tr[t].track, ns,
					bname);
			continue;
		}
		if (c->ntr) {
			if (backend_port(b, port, proto, pname, sizeof(pname))) {
				if (why)
					why_add(why, wlen, "track %s: Service %s/%s has no %s port "
						"named %s or numbered %d: the track gets no backends",
						c->tr[t].track, ns, bname, proto,
						json_string_value(json_object_get(port, "name")) ?: "\"\"",
						ko.default_port);
				continue;
			}
		} else {
			snprintf(pname, sizeof(pname), "%s",
				 json_string_value(json_object_get(port, "name")) ?: "");
		}
		ko.port = pname[0] ? pname : NULL;
		sl = json_object_get(in->slices, key);
		/* A traffic policy Local: only the endpoints on this node */
		sl = local_only ? slices_on_node(sl, in->node_name) : json_incref(sl);
		list = json_pack("{s:s, s:O}", "kind", "EndpointSliceList", "items",
				 sl ? sl : json_array());
		if (!sl)
			json_decref(json_object_get(list, "items")); /* O took a reference */
		json_decref(sl);
		err = list ? k8s_parse(list, &ko, &kr) : l4s_err(ENOMEM, "out of memory");
		json_decref(list);
		if (!err)
			err = result_append(out, &kr);
		k8s_result_free(&kr);
		if (err) {
			k8s_result_free(out);
			return err;
		}
	}
	return 0;
}

/* The family whose l4split services keep the name NS.NAME.PORT: the Service's primary
 * one (spec.ipFamilies[0]), else its first group's. */
static __u8 first_family(json_t *svc, const struct svcf_frontends *f)
{
	const char *fam = json_string_value(json_array_get(json_object_get(json_object_get(svc,
		"spec"), "ipFamilies"), 0));

	if (fam && !strcmp(fam, "IPv4"))
		return L4S_AF_INET;
	if (fam && !strcmp(fam, "IPv6"))
		return L4S_AF_INET6;
	return f->ng ? f->g[0].family : L4S_AF_INET;
}

static void reconcile_service(struct agent *a, struct l4s_state *st, const struct reconcile_in *in,
			      json_t *svc, struct desired *keep, struct health_out *health)
{
	json_t *md = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *type = json_string_value(json_object_get(spec, "type"));
	json_t *sel = json_object_get(spec, "selector"), *port, *pods = NULL;
	struct svc_config c;
	struct svcf_affinity af;
	struct svcf_vips vips;
	char key[512], why[1024] = "";
	int bad = 0, nfe = 0;
	size_t i;

	if (!ns || !name)
		return;
	l4s_err_clear(); /* a reason left by another service is not this one's */
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (svc_config_parse(json_object_get(md, "annotations"), &c) ||
	    (c.managed && svcf_affinity(svc, &af))) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
		bad = 1;
		/* Keep every l4split service this one made, as it is. */
		svc_keep_all(a, svc, keep);
		svc_error(a, svc, key, msg);
		svc_config_free(&c);
		return;
	}
	if (!c.managed)
		return;
	if (c.track_label) {
		pods = json_object_get(in->pods, c.track_label);
		if (!pods) { /* its pod metadata informer has not listed yet: later */
			svc_keep_all(a, svc, keep);
			svc_config_free(&c);
			return;
		}
	}
	if (type && !strcmp(type, "ExternalName")) {
		svc_error(a, svc, key, "type ExternalName is a DNS alias with no VIP: l4split "
			  "cannot split it (remove the l4split annotations)");
		svc_config_free(&c);
		return;
	}
	vips = (struct svcf_vips){ c.vip_lb, c.vip_external, c.vip_cluster };
	if (!c.ntr && !json_object_size(sel) && !json_object_get(in->slices, key))
		why_add(why, sizeof(why), "spec.selector is empty and no EndpointSlice is labelled "
			"kubernetes.io/service-name=%s: it gets no backends", name);
	json_array_foreach(json_object_get(spec, "ports"), i, port) {
		const char *proto = json_string_value(json_object_get(port, "protocol"));
		const char *pn = json_string_value(json_object_get(port, "name"));
		json_int_t pnum = json_integer_value(json_object_get(port, "port"));
		struct svcf_frontends f;
		char pk0[32];
		__u8 fam0;

		if (proto && !strcmp(proto, "SCTP"))
			continue; /* not for l4split */
		snprintf(pk0, sizeof(pk0), "%lld", (long long)pnum);
		if (service_port_check(port, i) || svcf_frontends(svc, i, in->node, &vips, &f)) {
			char msg[600];

			/* what it made stays as it is */
			snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
			port_keep_all(a, svc, port, keep);
			svc_error(a, svc, key, msg);
			bad = 1;
			continue;
		}
		fam0 = first_family(svc, &f);
		nfe += f.ng;
		for (int g = 0; g < f.ng; g++) {
			const struct svcf_group *gr = &f.g[g];
			struct k8s_result kr = {};
			char pk[48], l4name[L4S_NAME_LEN];
			int err, ready = 0, main = !gr->local_only && gr->family == fam0;

			/* The first family keeps NS.NAME.PORT; the other one is NS.NAME.PORT.v6
			 * (or .v4), a group of this node's endpoints NS.NAME.PORT.local: no
			 * Service, namespace or port name has a dot. */
			port_key(pk, sizeof(pk), port, svcf_group_suffix(gr), gr->family, fam0);
			svc_k8s_name(l4name, ns, name, pk);
			desired_add(keep, l4name);
			if (gr->local_only && !in->node_name)
				why_add(why, sizeof(why), "port %s: a traffic policy Local takes this "
					"node's endpoints only, and the agent has no --node-name: none",
					pk);
			err = port_endpoints(in, svc, &c, port, gr->family, f.proto, pods, 0,
					     gr->local_only, &kr, main ? why : NULL, sizeof(why));
			for (int e = 0; !err && e < kr.n; e++)
				ready += kr.ep[e].state == EP_READY;
			/* KEP-1669: no ready endpoint in this service: serving terminating ones
			 * take the new flows, as kube-proxy does. */
			if (!err && !ready && kr.serving_terminating) {
				k8s_result_free(&kr);
				err = port_endpoints(in, svc, &c, port, gr->family, f.proto, pods, 1,
						     gr->local_only, &kr, NULL, 0);
			}
			if (!err && gr->local_only && f.health_check_node_port)
				health_add(health, f.health_check_node_port, ns, name, ready);
			if (!err && !gr->local_only)
				port_why(why, sizeof(why), pk, &c, &kr, gr->family);
			if (!err)
				err = apply_port(a, st, svc, l4name, gr->fe, gr->nfe, &c, &af, &kr);
			agent_names_set(a, l4name, ns, name, pn && *pn ? pn : pk0);
			if (err > 0 && kr.note[0]) /* when it writes: not on every pass */
				agent_log("%s: %s", l4name, kr.note);
			if (err > 0 && af.note[0])
				agent_log("%s: %s", l4name, af.note);
			k8s_result_free(&kr);
			if (err < 0) {
				char msg[600];

				snprintf(msg, sizeof(msg), "port %s: %s", pk, l4s_errmsg());
				svc_error(a, svc, key, msg);
				bad = 1;
			}
		}
	}
	if (!nfe && !bad) {
		const char *cip = json_string_value(json_object_get(spec, "clusterIP"));

		if (cip && !strcmp(cip, "None") && c.vip_cluster)
			svc_error(a, svc, key, "headless (clusterIP None): no VIP to split; give it a "
				  "clusterIP, a LoadBalancer or externalIPs");
		else
			svc_error(a, svc, key, "no VIP yet (no LoadBalancer ingress IP, externalIP or "
				  "clusterIP of the kinds l4split.io/vips asks for)");
		svc_config_free(&c);
		return;
	}
	if (!bad)
		svc_ok(a, key);
	svc_warn(a, svc, key, why[0] ? why : NULL);
	svc_config_free(&c);
}

/* healthsrv_sync, and a port it cannot serve logged once (each pass tries it again),
 * and once more when it is served again. */
static void health_sync(struct agent *a, const struct health_out *h)
{
	int *errs = calloc((size_t)h->n + 1, sizeof(*errs));
	json_t *seen = json_object(), *v;
	const char *k;
	void *tmp;

	if (!errs || !seen) {
		free(errs);
		json_decref(seen);
		return;
	}
	healthsrv_sync(a->hs, h->e, h->n, errs);
	for (int i = 0; i < h->n; i++) {
		char key[400], msg[200];

		if (!errs[i])
			continue;
		snprintf(key, sizeof(key), "health:%u %s/%s", h->e[i].port, h->e[i].ns, h->e[i].name);
		snprintf(msg, sizeof(msg), "%s", strerror(-errs[i]));
		json_object_set_new(seen, key, json_true());
		if (json_object_get(a->last_warning, key))
			continue;
		json_object_set_new(a->last_warning, key, json_string(msg));
		agent_log("service %s/%s: healthCheckNodePort %u not served: %s", h->e[i].ns,
			  h->e[i].name, h->e[i].port, msg);
	}
	json_object_foreach_safe(a->last_warning, tmp, k, v)
		if (!strncmp(k, "health:", 7) && !json_object_get(seen, k)) {
			agent_log("%s: healthCheckNodePort served (or no longer asked for)", k + 7);
			json_object_del(a->last_warning, k);
		}
	json_decref(seen);
	free(errs);
}

static int reconcile_all(struct agent *a, const struct reconcile_in *in)
{
	struct l4s_state st;
	struct desired keep = {};
	struct health_out health = {};
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
	json_object_foreach(in->svcs, k, svc)
		reconcile_service(a, &st, in, svc, &keep, &health);
	agent_gw_reconcile(a, &st, in, &keep); /* Gateway API: its services, the leader's status */
	/* The health check node ports answer what this pass applied. */
	if (a->hs)
		health_sync(a, &health);
	free(health.e);
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

/* EndpointSlices by the Service they belong to: "ns/service-name" -> [slices]. */
static json_t *slices_by_service(json_t *slices)
{
	json_t *by = json_object(), *sl;
	const char *k;

	json_object_foreach(slices, k, sl) {
		json_t *md = json_object_get(sl, "metadata");
		const char *ns = json_string_value(json_object_get(md, "namespace"));
		const char *svc = json_string_value(json_object_get(json_object_get(md, "labels"),
								    "kubernetes.io/service-name"));
		char key[512];
		json_t *arr;

		if (!ns || !svc)
			continue;
		snprintf(key, sizeof(key), "%s/%s", ns, svc);
		arr = json_object_get(by, key);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by, key, arr);
		}
		json_array_append(arr, sl);
	}
	/* The same order whatever the informer's: slices sorted by name. */
	json_object_foreach(by, k, sl) {
		size_t n = json_array_size(sl);

		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0; j--) {
				const char *x = json_string_value(json_object_get(json_object_get(
					json_array_get(sl, j - 1), "metadata"), "name")) ?: "";
				const char *y = json_string_value(json_object_get(json_object_get(
					json_array_get(sl, j), "metadata"), "name")) ?: "";
				json_t *t;

				if (strcmp(x, y) <= 0)
					break;
				t = json_incref(json_array_get(sl, j - 1));
				json_array_set(sl, j - 1, json_array_get(sl, j));
				json_array_set_new(sl, j, t);
			}
	}
	return by;
}

static void informer_setup(struct agent *a, struct informer *in, int res)
{
	in->name = agent_res_name[res];
	if (a->namespace && res_group[res])
		snprintf(in->path, sizeof(in->path), "%s/namespaces/%s/%s", res_group[res],
			 a->namespace, agent_res_name[res]);
	else
		snprintf(in->path, sizeof(in->path), "%s", res_path[res]);
	in->mu = &a->mu;
	in->cv = &a->cv;
	in->dirty = &a->dirty;
	in->relists = &a->st.relists[res];
	in->watch_restarts = &a->st.watch_restarts[res];
	in->events = &a->st.events[res];
	in->rx_bytes = &a->st.api_bytes[res];
	in->log = agent_log;
}

/* A label key as a labelSelector query value ("has this label"): %-encoded. */
static void selector_has(char *out, size_t len, const char *key)
{
	size_t o = (size_t)snprintf(out, len, "labelSelector=");

	for (const char *p = key; *p && o + 4 < len; p++) {
		unsigned char ch = (unsigned char)*p;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", ch);
	}
	out[o] = 0;
}

/*
 * Pod metadata informers, one per l4split.io/track-label key some managed Service uses
 * (a labelSelector ANDs its requirements, so "has key a or key b" is two watches). Each
 * lists and watches only pods that carry the key, as PartialObjectMetadata: labels, no
 * spec or status. Started when a Service starts using a key, stopped when none does.
 */
static void pod_informers_update(struct agent *a, json_t *svcs)
{
	json_t *want = json_object(), *svc;
	const char *k;

	json_object_foreach(svcs, k, svc) {
		struct svc_config c;

		if (!svc_config_parse(json_object_get(json_object_get(svc, "metadata"),
						      "annotations"), &c) && c.managed && c.track_label)
			json_object_set_new(want, c.track_label, json_true());
		svc_config_free(&c);
	}
	l4s_err_clear();
	for (int i = 0; i < AGENT_TRACK_KEYS; i++)
		if (a->pod_key[i][0] && !json_object_get(want, a->pod_key[i])) {
			agent_log("no Service uses track label %s any more: pod metadata watch "
				  "stopped", a->pod_key[i]);
			informer_stop(&a->pods[i]);
			a->pod_key[i][0] = 0;
		}
	json_object_foreach(want, k, svc) {
		int i, free_slot = -1;

		for (i = 0; i < AGENT_TRACK_KEYS; i++) {
			if (!strcmp(a->pod_key[i], k))
				break;
			if (!a->pod_key[i][0] && free_slot < 0)
				free_slot = i;
		}
		if (i < AGENT_TRACK_KEYS)
			continue;
		if (free_slot < 0) {
			agent_log("track label %s: more than %d track-label keys in use; its Services "
				  "wait for one to go", k, AGENT_TRACK_KEYS);
			continue;
		}
		i = free_slot;
		memset(&a->pods[i], 0, sizeof(a->pods[i]));
		informer_setup(a, &a->pods[i], RES_PODS);
		a->pods[i].name = "pods (metadata)";
		selector_has(a->pods[i].selector, sizeof(a->pods[i].selector), k);
		a->pods[i].accept_list = ACCEPT_META_LIST;
		a->pods[i].accept_watch = ACCEPT_META;
		snprintf(a->pod_key[i], sizeof(a->pod_key[i]), "%s", k);
		if (informer_start(&a->pods[i], &a->k)) {
			agent_log("track label %s: %s", k, l4s_errmsg());
			a->pod_key[i][0] = 0;
			continue;
		}
		agent_log("track label %s: watching the metadata of pods that have it", k);
	}
	json_decref(want);
}

/* The lease thread's news: log it and wake the reconciler (a leader's work may start). */
static void on_leading(int leading, void *ctx)
{
	struct agent *a = ctx;

	agent_log("%s the leader (Lease %s/%s)", leading ? "became" : "is no longer",
		  a->lease.ns, a->lease.name);
	pthread_mutex_lock(&a->mu);
	a->dirty = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int agent_leading(struct agent *a)
{
	return a->leader_elect && lease_leading(&a->lease);
}

/* Start what the Service fields need: with --nodeport-addresses "primary" (the default)
 * and a node name, an informer on this node's Node object alone (fieldSelector
 * metadata.name=NODE: one small object, not every node of the cluster); the health check
 * server of externalTrafficPolicy Local Services. Failures are logged: the agent serves
 * without node ports or health answers rather than not at all. */
void agent_fields_start(struct agent *a)
{
	if (a->np.primary && a->node && *a->node) {
		struct informer *in = &a->node_inf;

		memset(in, 0, sizeof(*in));
		informer_setup(a, in, RES_NODES);
		snprintf(in->selector, sizeof(in->selector), "fieldSelector=metadata.name%%3D%s",
			 a->node);
		if (informer_start(in, &a->k))
			agent_log("node %s: %s; node ports get no frontend", a->node, l4s_errmsg());
		else
			a->node_inf_on = 1;
	} else if (a->np.primary) {
		agent_log("no --node-name (or NODE_NAME): node ports get no frontend");
	}
	a->hs = healthsrv_new(NULL); /* health_sync logs, once per port */
	if (!a->hs)
		agent_log("health check node ports not served: %s", l4s_errmsg());
}

void agent_fields_stop(struct agent *a)
{
	if (a->node_inf_on)
		informer_stop(&a->node_inf);
	a->node_inf_on = 0;
	healthsrv_free(a->hs);
	a->hs = NULL;
}

/* This node's addresses for node-port frontends (none until its Node object is listed).
 * A Node object or an interface list that cannot be read is logged when its message
 * changes. */
static void node_addrs(struct agent *a, struct nodeaddr *out)
{
	static char last[256];
	int err = 0;

	memset(out, 0, sizeof(*out));
	l4s_err_clear();
	if (!a->np.primary) {
		err = nodeaddr_local(&a->np, out);
	} else if (a->node_inf_on) {
		char key[320];
		json_t *node;

		snprintf(key, sizeof(key), "/%s", a->node);
		pthread_mutex_lock(&a->mu);
		node = json_incref(json_object_get(a->node_inf.cache, key));
		pthread_mutex_unlock(&a->mu);
		if (node)
			err = nodeaddr_from_node(node, out);
		json_decref(node);
	}
	if (err && strcmp(last, l4s_errmsg())) {
		snprintf(last, sizeof(last), "%s", l4s_errmsg());
		agent_log("node %s: its addresses for node ports: %s", a->node ? a->node : "?", last);
	} else if (!err) {
		last[0] = 0;
	}
	if (err)
		memset(out, 0, sizeof(*out));
	l4s_err_clear();
}

int agent_run(struct agent *a)
{
	int started = 0, leasing = 0;

	a->last_error = json_object();
	a->last_warning = json_object();
	a->ev = (struct ev_recorder){ .k = &a->k, .node = a->node, .mu = &a->mu, .log = agent_log };
	for (int r = 0; r < RES_PODS; r++) {
		informer_setup(a, &a->inf[r], r);
		if (informer_start(&a->inf[r], &a->k)) {
			agent_log("%s", l4s_errmsg());
			break;
		}
		started++;
	}
	if (started == RES_PODS)
		agent_fields_start(a);
	agent_log("watching services and endpointslices at %s%s%s (node %s)", a->k.server,
		  a->namespace ? ", namespace " : "", a->namespace ? a->namespace : "",
		  a->node ? a->node : "?");
	if (a->leader_elect && started == RES_PODS) {
		char host[256] = "";

		if (!a->node || !*a->node)
			gethostname(host, sizeof(host) - 1);
		lease_init(&a->lease, &a->k, a->lease_ns, "l4split-agent",
			   a->node && *a->node ? a->node : host);
		a->lease.on_change = on_leading;
		a->lease.ctx = a;
		leasing = !lease_start(&a->lease);
		if (!leasing)
			agent_log("%s: this agent never leads", l4s_errmsg());
	}
	if (started == RES_PODS && agent_gw_start(a))
		agent_log("gateway api: %s", l4s_errmsg());
	while (!a->stop && started == RES_PODS) {
		struct reconcile_in in;
		struct nodeaddr node;
		json_t *slices;
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
		nap_or_stop(&a->stop, a->stop_rd, 0.05); /* a burst of events is one reconcile */
		pthread_mutex_lock(&a->mu);
		if (!a->inf[RES_SERVICES].synced || !a->inf[RES_SLICES].synced) {
			pthread_mutex_unlock(&a->mu);
			continue;
		}
		a->dirty = 0;
		/* Copies: the informers go on while the maps are written. */
		in.svcs = json_copy(a->inf[RES_SERVICES].cache);
		slices = json_copy(a->inf[RES_SLICES].cache);
		pthread_mutex_unlock(&a->mu);
		pod_informers_update(a, in.svcs);
		in.pods = json_object();
		pthread_mutex_lock(&a->mu);
		for (int i = 0; i < AGENT_TRACK_KEYS; i++)
			if (a->pod_key[i][0] && a->pods[i].synced)
				json_object_set_new(in.pods, a->pod_key[i],
						    json_copy(a->pods[i].cache));
		pthread_mutex_unlock(&a->mu);
		in.slices = slices_by_service(slices);
		json_decref(slices);
		node_addrs(a, &node);
		in.node = &node;
		in.node_name = a->node;
		t0 = mono_now();
		reconcile_all(a, &in);
		agent_gw_after(a); /* the leader's Gateway API status, out of the state's lock */
		pthread_mutex_lock(&a->mu);
		a->st.reconciles++;
		a->st.last_reconcile_seconds = mono_now() - t0;
		a->st.reconcile_seconds_sum += a->st.last_reconcile_seconds;
		a->st.last_reconcile_at = (double)time(NULL);
		pthread_mutex_unlock(&a->mu);
		json_decref(in.svcs);
		json_decref(in.slices);
		json_decref(in.pods);
	}
	agent_stop(a); /* the informers end their transfers at once */
	if (leasing)
		lease_join(&a->lease); /* gives the Lease up: the next leader takes over at once */
	agent_fields_stop(a);
	for (int r = 0; r < started; r++)
		informer_stop(&a->inf[r]);
	agent_gw_stop(a);
	for (int i = 0; i < AGENT_TRACK_KEYS; i++)
		if (a->pod_key[i][0]) {
			informer_stop(&a->pods[i]);
			a->pod_key[i][0] = 0;
		}
	json_decref(a->last_error);
	json_decref(a->last_warning);
	ev_recorder_free(&a->ev);
	agent_names_free(a);
	return started == RES_PODS ? 0 : -EAGAIN;
}
