// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's Gateway API glue: which versions the API server serves (discovery, at
 * start and every GW_DISCOVERY_S), informers for GatewayClasses, Gateways, TCPRoutes,
 * UDPRoutes, ReferenceGrants and Namespaces, and on every reconcile pass gw_translate
 * (gateway.c, pure) whose services are applied through the agent's own apply_port (the one
 * writer) with backends resolved by port_endpoints exactly as l4split.io/tracks resolves
 * them, and whose status bodies only the leader writes (PUT .../status with the
 * resourceVersion it read; a 409 is re-read on the next pass).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent.h"
#include "err.h"
#include "gateway.h"
#include "k8s.h"
#include "model.h"
#include "state.h"
#include "util.h"

#define GW_DISCOVERY_S 180.0 /* how often the served versions are asked again */
#define GW_DISCOVERY_RETRY_S 5.0 /* ... after a discovery the API server did not answer */

enum { GW_CLASSES, GW_GATEWAYS, GW_TCP, GW_UDP, GW_GRANTS, GW_NAMESPACES, GW_NINF };

static const struct {
	const char *res, *kind;
	int cluster;               /* cluster-scoped */
	const char *versions[3];   /* in the order they are preferred; NULL: core v1 */
} gw_res[GW_NINF] = {
	[GW_CLASSES] = { "gatewayclasses", "GatewayClass", 1, { "v1", "v1beta1" } },
	[GW_GATEWAYS] = { "gateways", "Gateway", 0, { "v1", "v1beta1" } },
	/* v1 preferred; v1alpha2 when v1 is not served (an older install): one storage,
	 * so one watch sees every route whichever version wrote it */
	[GW_TCP] = { "tcproutes", "TCPRoute", 0, { "v1", "v1alpha2" } },
	[GW_UDP] = { "udproutes", "UDPRoute", 0, { "v1", "v1alpha2" } },
	[GW_GRANTS] = { "referencegrants", "ReferenceGrant", 0, { "v1beta1", "v1" } },
	[GW_NAMESPACES] = { "namespaces", "Namespace", 1, { NULL } },
};

struct agent_gw {
	struct informer inf[GW_NINF];
	char gv[GW_NINF][64];    /* the group/version watched ("" : not watched) */
	unsigned long relists[GW_NINF], restarts[GW_NINF], events[GW_NINF];
	unsigned long long bytes[GW_NINF];
	double next_discovery;
	int served;              /* the API server serves Gateways and at least one route kind */
	int known;               /* a discovery succeeded: served is what the server said */
	json_t *said;            /* what was logged last, per subject: said once */
	struct gw_result pend;   /* the last pass's status writes (st only), for agent_gw_after */
};

/* Log @msg about @subject unless it is what was logged about it last. */
static void say(struct agent_gw *g, const char *subject, const char *msg)
{
	const char *prev = json_string_value(json_object_get(g->said, subject));

	if (prev && !strcmp(prev, msg))
		return;
	json_object_set_new(g->said, subject, json_string(msg));
	agent_log("%s: %s", subject, msg);
}

/* Does GROUP/VERSION serve @res? 1, 0, or -errno (the API server did not answer). */
static int served_in(struct agent *a, json_t *lists, const char *version, const char *res)
{
	json_t *rl = json_object_get(lists, version), *r;
	size_t i;

	if (!rl) {
		char path[128];
		long status = 0;
		int err;

		snprintf(path, sizeof(path), "/apis/" L4S_GW_GROUP "/%s", version);
		err = kube_get(&a->k, path, &rl, &status);
		if (err == -ENOENT)
			rl = json_object(); /* the version is not served */
		else if (err)
			return err;
		json_object_set_new(lists, version, rl);
	}
	json_array_foreach(json_object_get(rl, "resources"), i, r)
		if (!strcmp(json_string_value(json_object_get(r, "name")) ?: "", res))
			return 1;
	return 0;
}

static void informer_begin(struct agent *a, struct agent_gw *g, int i, const char *gv)
{
	struct informer *in = &g->inf[i];

	memset(in, 0, sizeof(*in));
	in->name = gw_res[i].res;
	if (gw_res[i].cluster || !a->namespace)
		snprintf(in->path, sizeof(in->path), "%s%s/%s", strcmp(gv, "v1") ? "/apis/" : "/api/",
			 gv, gw_res[i].res);
	else
		snprintf(in->path, sizeof(in->path), "/apis/%s/namespaces/%s/%s", gv, a->namespace,
			 gw_res[i].res);
	in->mu = &a->mu;
	in->cv = &a->cv;
	in->dirty = &a->dirty;
	in->relists = &g->relists[i];
	in->watch_restarts = &g->restarts[i];
	in->events = &g->events[i];
	in->rx_bytes = &g->bytes[i];
	in->log = agent_log;
	if (informer_start(in, &a->k)) {
		agent_log("gateway api: %s", l4s_errmsg());
		return;
	}
	snprintf(g->gv[i], sizeof(g->gv[i]), "%.63s", gv);
}

/*
 * Ask which versions of the Gateway API are served, and start, move or stop the informers
 * to match. A discovery that fails (the API server did not answer) changes nothing.
 */
static void gw_discover(struct agent *a, struct agent_gw *g)
{
	json_t *group = NULL, *lists = json_object();
	char want[GW_NINF][64] = {};
	long status = 0;
	int err, served;

	g->next_discovery = mono_now() + GW_DISCOVERY_S;
	err = kube_get(&a->k, "/apis/" L4S_GW_GROUP, &group, &status);
	if (err && err != -ENOENT) {
		g->next_discovery = mono_now() + GW_DISCOVERY_RETRY_S;
		say(g, "gateway api", "discovery failed: the API server did not answer; what is "
		    "served stays as it was, asked again in a few seconds");
		json_decref(lists);
		return;
	}
	for (int i = 0; !err && i < GW_NINF; i++) {
		if (!gw_res[i].versions[0]) {
			snprintf(want[i], sizeof(want[i]), "v1");
			continue;
		}
		for (int v = 0; v < 3 && gw_res[i].versions[v]; v++) {
			int r = served_in(a, lists, gw_res[i].versions[v], gw_res[i].res);

			if (r < 0) {
				g->next_discovery = mono_now() + GW_DISCOVERY_RETRY_S;
				say(g, "gateway api", "discovery failed: the API server did not "
				    "answer; what is served stays as it was, asked again in a few "
				    "seconds");
				json_decref(lists);
				json_decref(group);
				return;
			}
			if (r) {
				snprintf(want[i], sizeof(want[i]), L4S_GW_GROUP "/%s",
					 gw_res[i].versions[v]);
				break;
			}
		}
	}
	json_decref(lists);
	json_decref(group);
	served = !err && want[GW_GATEWAYS][0] && (want[GW_TCP][0] || want[GW_UDP][0]);
	for (int i = 0; i < GW_NINF; i++) {
		if (!served)
			want[i][0] = 0;
		if (!strcmp(want[i], g->gv[i]))
			continue;
		if (g->gv[i][0]) {
			informer_stop(&g->inf[i]);
			g->gv[i][0] = 0;
		}
		if (want[i][0])
			informer_begin(a, g, i, want[i]);
	}
	if (served) {
		char msg[300];

		snprintf(msg, sizeof(msg), "watching gateways (%s), tcproutes (%s), udproutes (%s)",
			 g->gv[GW_GATEWAYS], g->gv[GW_TCP][0] ? g->gv[GW_TCP] : "not served",
			 g->gv[GW_UDP][0] ? g->gv[GW_UDP] : "not served");
		say(g, "gateway api", msg);
	} else {
		say(g, "gateway api", "not served by the API server (no Gateway API CRDs): "
		    "nothing to watch; asked again every few minutes");
	}
	g->served = served;
	g->known = 1;
	pthread_mutex_lock(&a->mu);
	a->dirty = 1;
	pthread_mutex_unlock(&a->mu);
}

int agent_gw_start(struct agent *a)
{
	struct agent_gw *g = calloc(1, sizeof(*g));

	if (!g)
		return l4s_err(ENOMEM, "out of memory");
	g->said = json_object();
	a->gw = g;
	gw_discover(a, g);
	return 0;
}

void agent_gw_stop(struct agent *a)
{
	struct agent_gw *g = a->gw;

	if (!g)
		return;
	for (int i = 0; i < GW_NINF; i++)
		if (g->gv[i][0])
			informer_stop(&g->inf[i]);
	json_decref(g->said);
	gw_result_free(&g->pend);
	free(g);
	a->gw = NULL;
}

/* A copy of a cache, each object with the apiVersion and kind of the watch that read it
 * (a list's items have none), or NULL when not watched. Under a->mu. */
static json_t *cache_copy(struct agent_gw *g, int i)
{
	json_t *c, *o;
	const char *k;

	if (!g->gv[i][0])
		return NULL;
	c = json_deep_copy(g->inf[i].cache);
	json_object_foreach(c, k, o) {
		if (!json_object_get(o, "apiVersion"))
			json_object_set_new(o, "apiVersion", json_string(g->gv[i]));
		if (!json_object_get(o, "kind"))
			json_object_set_new(o, "kind", json_string(gw_res[i].kind));
	}
	return c;
}

/* Keep every gw_ and mesh_ service as it is (the informers have not all listed yet). */
static void keep_existing(struct l4s_state *st, struct desired *keep)
{
	__u32 *ids = NULL;
	int n = 0;

	if (svc_list(st, &ids, &n))
		return;
	for (int i = 0; i < n; i++) {
		struct l4s_service s;

		if (!state_service(st, ids[i], &s) && (s.flags & L4S_SVC_F_AGENT) &&
		    (!strncmp(s.name, "gw_", 3) || !strncmp(s.name, "mesh_", 5)))
			desired_add(keep, s.name);
	}
	free(ids);
}

/*
 * The endpoints of a gw service's tracks, of @family: each track's backendRef Service's
 * EndpointSlice endpoints, through port_endpoints as l4split.io/tracks resolves them (a
 * backendRef's port is the Service port: matched by number and protocol). Refs that are
 * not permitted or name no Service have none.
 */
static int gw_endpoints(const struct reconcile_in *in, const struct gw_service *s, __u8 family,
			__u8 proto, int fallback, struct k8s_result *out)
{
	memset(out, 0, sizeof(*out));
	for (int r = 0; r < s->nref; r++) {
		const struct gw_track_ref *ref = &s->ref[r];
		struct svc_track tr = {};
		struct svc_config c = { .managed = 1, .tr = &tr, .ntr = 1 };
		struct k8s_result kr;
		json_t *front, *port;
		int err;

		if (!ref->resolved || strlen(ref->name) >= sizeof(tr.service))
			continue; /* (a Service name has at most 63 characters) */
		snprintf(tr.track, sizeof(tr.track), "%s", ref->track);
		snprintf(tr.service, sizeof(tr.service), "%.63s", ref->name);
		/* the backend's namespace is the "front" one port_endpoints looks in */
		front = json_pack("{s:{s:s, s:s}}", "metadata", "namespace", ref->ns, "name",
				  s->spec.name);
		port = json_pack("{s:i}", "port", (int)ref->port);
		err = front && port ? port_endpoints(in, front, &c, port, family, proto, NULL,
						     fallback, 0, &kr, NULL, 0)
				    : l4s_err(ENOMEM, "out of memory");
		json_decref(front);
		json_decref(port);
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

static void gw_apply(struct agent *a, struct l4s_state *st, const struct reconcile_in *in,
		     const struct gw_service *s)
{
	struct svc_config c = { .managed = 1, .has_weights = 1 };
	struct k8s_result kr;
	__u8 family = s->spec.nfe ? s->spec.fe[0].family : L4S_AF_INET;
	__u8 proto = s->spec.nfe ? s->spec.fe[0].proto : IPPROTO_TCP;
	int err, got, ready = 0;

	c.w = calloc((size_t)s->spec.ntr + 1, sizeof(*c.w));
	if (!c.w)
		return;
	for (int t = 0; t < s->spec.ntr; t++) {
		snprintf(c.w[t].track, sizeof(c.w[t].track), "%s", s->spec.tr[t].name);
		c.w[t].weight = s->spec.tr[t].weight;
	}
	c.nw = s->spec.ntr;
	l4s_err_clear();
	err = gw_endpoints(in, s, family, proto, 0, &kr);
	for (int e = 0; !err && e < kr.n; e++)
		ready += kr.ep[e].state == EP_READY;
	/* KEP-1669, as for Services: no ready endpoint: serving terminating ones take flows */
	if (!err && !ready && kr.serving_terminating) {
		k8s_result_free(&kr);
		err = gw_endpoints(in, s, family, proto, 1, &kr);
	}
	got = !err;
	if (!err)
		err = apply_port(a, st, NULL, s->spec.name, s->spec.fe, s->spec.nfe, &c, NULL, &kr);
	if (got)
		k8s_result_free(&kr);
	if (err < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "%s: %s; its last good configuration stays in force",
			 s->route, l4s_errmsg());
		say(a->gw, s->spec.name, msg);
		a->st.reconcile_errors++;
	} else {
		say(a->gw, s->spec.name, s->route);
	}
	free(c.w);
}

/* PUT one status body to the object's status subresource: only the leader does. */
static void gw_status_put(struct agent *a, const struct gw_status_write *w, const char *res,
			  const char *gv)
{
	char path[700], subject[400];
	long status = 0;
	int err;

	if (*w->ns)
		snprintf(path, sizeof(path), "/apis/%s/namespaces/%s/%s/%s/status", gv, w->ns, res,
			 w->name);
	else
		snprintf(path, sizeof(path), "/apis/%s/%s/%s/status", gv, res, w->name);
	snprintf(subject, sizeof(subject), "%s %s%s%s status", w->kind, w->ns, *w->ns ? "/" : "",
		 w->name);
	json_object_set_new(w->body, "apiVersion", json_string(gv));
	err = kube_put(&a->k, path, w->body, NULL, &status);
	if (err == -ESTALE)
		say(a->gw, subject, "changed since it was read (409 Conflict): read again and "
		    "written on the next pass");
	else if (err)
		say(a->gw, subject, l4s_errmsg());
	else
		say(a->gw, subject, "written");
}

void agent_gw_reconcile(struct agent *a, struct l4s_state *st, const struct reconcile_in *in,
			struct desired *keep)
{
	struct agent_gw *g = a->gw;
	struct gw_input gi = { .services = in->svcs };
	struct gw_result r = {};
	char now[32];
	int synced = 1;
	time_t t = time(NULL);
	struct tm tm;

	if (!g)
		return;
	if (!g->known) { /* not asked yet: what the agent made before stays */
		keep_existing(st, keep);
		return;
	}
	if (!g->served)
		return; /* what gw_ and mesh_ services there were go */
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < GW_NINF; i++)
		if (g->gv[i][0] && !g->inf[i].synced)
			synced = 0;
	if (synced) {
		gi.gateway_classes = cache_copy(g, GW_CLASSES);
		gi.gateways = cache_copy(g, GW_GATEWAYS);
		gi.tcproutes = cache_copy(g, GW_TCP);
		gi.udproutes = cache_copy(g, GW_UDP);
		gi.reference_grants = cache_copy(g, GW_GRANTS);
		gi.namespaces = cache_copy(g, GW_NAMESPACES);
	}
	pthread_mutex_unlock(&a->mu);
	if (!synced) {
		keep_existing(st, keep);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	gi.now = now;
	if (gw_translate(&gi, &r)) {
		agent_log("gateway api: out of memory");
		keep_existing(st, keep);
	} else {
		for (int i = 0; i < r.nsvc; i++) {
			desired_add(keep, r.svc[i].spec.name);
			gw_apply(a, st, in, &r.svc[i]);
		}
		/* Status after the maps, and out of the state's lock (agent_gw_after). */
		gw_result_free(&g->pend);
		g->pend.st = r.st;
		g->pend.nst = r.nst;
		r.st = NULL;
		r.nst = 0;
	}
	gw_result_free(&r);
	json_decref(gi.gateway_classes);
	json_decref(gi.gateways);
	json_decref(gi.tcproutes);
	json_decref(gi.udproutes);
	json_decref(gi.reference_grants);
	json_decref(gi.namespaces);
}

void agent_gw_after(struct agent *a)
{
	struct agent_gw *g = a->gw;

	if (!g)
		return;
	/* Only the leader writes; every agent computed the same statuses. */
	for (int i = 0; agent_leading(a) && i < g->pend.nst; i++) {
		const struct gw_status_write *w = &g->pend.st[i];
		int k = !strcmp(w->kind, "GatewayClass") ? GW_CLASSES :
			!strcmp(w->kind, "Gateway") ? GW_GATEWAYS :
			!strcmp(w->kind, "TCPRoute") ? GW_TCP : GW_UDP;

		if (g->gv[k][0])
			gw_status_put(a, w, gw_res[k].res, g->gv[k]);
	}
	gw_result_free(&g->pend);
	if (mono_now() >= g->next_discovery)
		gw_discover(a, g);
}
