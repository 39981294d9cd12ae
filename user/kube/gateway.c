// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Gateway API translation (gateway.h): GatewayClasses, Gateways, TCPRoutes, UDPRoutes,
 * ReferenceGrants, Services and Namespaces in; desired l4split services and the status
 * bodies that differ from what the objects carry out. Every field is read through a
 * typed getter: a missing or wrong-typed field is a condition, never a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway.h"
#include "err.h"
#include "parse.h"

#define MSG_LEN 640
#define WEIGHT_MAX_UNITS 1000000 /* backendRef weight: 0..1,000,000 */

/* ---- JSON getters --------------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k); /* NULL when @o is not an object */

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string field with a default when absent; NULL when present with another type. */
static const char *jstr_def(json_t *o, const char *k, const char *def)
{
	json_t *v = json_object_get(o, k);

	if (!v || json_is_null(v))
		return def;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An integer field: 1 and *v when present and an integer, 0 when absent, -1 when wrong. */
static int jint(json_t *o, const char *k, json_int_t *v)
{
	json_t *x = json_object_get(o, k);

	if (!x || json_is_null(x))
		return 0;
	if (!json_is_integer(x))
		return -1;
	*v = json_integer_value(x);
	return 1;
}

static int streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* ---- objects -------------------------------------------------------------------------- */

struct obj {
	json_t *o;
	const char *ns, *name, *api, *created;
	json_int_t gen;
	int has_gen;
};

static int obj_read(json_t *o, struct obj *m)
{
	json_t *md = json_object_get(o, "metadata");

	memset(m, 0, sizeof(*m));
	m->o = o;
	m->name = jstr(md, "name");
	m->ns = jstr(md, "namespace");
	m->api = jstr(o, "apiVersion");
	m->created = jstr(md, "creationTimestamp");
	m->has_gen = jint(md, "generation", &m->gen) == 1;
	if (!m->ns)
		m->ns = "";
	if (!m->created)
		m->created = "";
	if (!m->api)
		m->api = "";
	return m->name && *m->name && strlen(m->name) < 254 && strlen(m->ns) < 64 ? 0 : -1;
}

/* Objects of a collection (array, or object of objects) that have a usable name. */
static int collect(json_t *c, struct obj **out, int *n)
{
	size_t cap = json_is_array(c) ? json_array_size(c) : json_is_object(c) ? json_object_size(c) : 0;
	struct obj *a = calloc(cap + 1, sizeof(*a));
	json_t *v;
	size_t i;
	const char *k;

	*out = a;
	*n = 0;
	if (!a)
		return -ENOMEM;
	if (json_is_array(c)) {
		json_array_foreach(c, i, v)
			if (json_is_object(v) && !obj_read(v, &a[*n]))
				(*n)++;
	} else if (json_is_object(c)) {
		json_object_foreach(c, k, v)
			if (json_is_object(v) && !obj_read(v, &a[*n]))
				(*n)++;
	}
	return 0;
}

static struct obj *obj_find(struct obj *a, int n, const char *ns, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(a[i].ns, ns ? ns : "") && streq(a[i].name, name))
			return &a[i];
	return NULL;
}

/* ---- names ---------------------------------------------------------------------------- */

static __u32 fnv(const char *s)
{
	__u32 h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* @full as a name: as it is when it fits and is clean, else a readable prefix (unclean
 * characters as '-') + @sep + a hash of all of it. */
static void short_name(char out[L4S_NAME_LEN], const char *full, char sep)
{
	size_t n = strlen(full);
	int clean = n > 0 && name_char((unsigned char)full[0]) && full[0] != '-' &&
		    full[0] != '.' && full[0] != '_';

	for (size_t i = 0; clean && i < n; i++)
		clean = name_char((unsigned char)full[i]);
	if (clean && n < L4S_NAME_LEN) {
		memcpy(out, full, n + 1);
		return;
	}
	snprintf(out, L4S_NAME_LEN, "%.22s%c%08x", full, sep, fnv(full));
	for (char *p = out; *p && p < out + 22; p++)
		if (!name_char((unsigned char)*p))
			*p = '-';
	if (!((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z') ||
	      (out[0] >= '0' && out[0] <= '9')))
		out[0] = 'x';
}

void gw_svc_name(char out[L4S_NAME_LEN], const char *prefix, const char *ns, const char *name,
		 const char *section)
{
	char full[640];

	snprintf(full, sizeof(full), "%s_%s.%s.%s", prefix, ns, name, section);
	short_name(out, full, '-');
}

/* A track named after a backend Service: the name itself when it fits (as track_name),
 * else shortened with '~' and a hash, as track_name does for long label values. */
static void gw_track_name(char out[L4S_NAME_LEN], const char *full)
{
	short_name(out, full, '~');
}

/* ---- conditions ----------------------------------------------------------------------- */

static json_t *cond(const char *type, int ok, const char *reason, const char *msg,
		    const struct obj *m, const char *now)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status",
			      ok ? "True" : "False", "reason", reason, "message", msg ? msg : "",
			      "lastTransitionTime", now ? now : "1970-01-01T00:00:00Z");

	if (c && m->has_gen)
		json_object_set_new(c, "observedGeneration", json_integer(m->gen));
	return c;
}

/* lastTransitionTime moves only when a condition's status does (meta.SetStatusCondition). */
static void keep_times(json_t *conds, json_t *old)
{
	size_t i, j;
	json_t *c, *o;

	json_array_foreach(conds, i, c) {
		json_array_foreach(old, j, o) {
			const char *t = jstr(o, "lastTransitionTime");

			if (streq(jstr(o, "type"), jstr(c, "type")) &&
			    streq(jstr(o, "status"), jstr(c, "status")) && t)
				json_object_set_new(c, "lastTransitionTime", json_string(t));
		}
	}
}

/* ---- result --------------------------------------------------------------------------- */

static int add_status(struct gw_result *r, const char *kind, const struct obj *m, json_t *status)
{
	json_t *old = json_object_get(m->o, "status");
	json_t *md, *body;
	struct gw_status_write *w, *tmp;
	const char *rv = jstr(json_object_get(m->o, "metadata"), "resourceVersion");

	if (old && json_equal(old, status)) {
		json_decref(status);
		return 0; /* nothing to write */
	}
	tmp = realloc(r->st, sizeof(*r->st) * (size_t)(r->nst + 1));
	if (!tmp) {
		json_decref(status);
		return -ENOMEM;
	}
	r->st = tmp;
	md = json_pack("{s:s}", "name", m->name);
	if (md && *m->ns)
		json_object_set_new(md, "namespace", json_string(m->ns));
	if (md && rv)
		json_object_set_new(md, "resourceVersion", json_string(rv));
	body = json_pack("{s:s, s:s, s:o*, s:o}", "apiVersion", m->api, "kind", kind, "metadata",
			 md, "status", status);
	if (!body)
		return -ENOMEM;
	w = &r->st[r->nst++];
	memset(w, 0, sizeof(*w));
	w->kind = kind;
	snprintf(w->api_version, sizeof(w->api_version), "%s", m->api);
	snprintf(w->ns, sizeof(w->ns), "%s", m->ns);
	snprintf(w->name, sizeof(w->name), "%s", m->name);
	w->body = body;
	return 0;
}

/* The object's status with @key replaced (other fields, other controllers' data kept). */
static json_t *status_with(const struct obj *m, const char *key, json_t *val)
{
	json_t *old = json_object_get(m->o, "status");
	json_t *s = json_is_object(old) ? json_deep_copy(old) : json_object();

	if (s)
		json_object_set_new(s, key, val);
	else
		json_decref(val);
	return s;
}

void gw_result_free(struct gw_result *r)
{
	for (int i = 0; i < r->nsvc; i++) {
		spec_free(&r->svc[i].spec);
		free(r->svc[i].ref);
	}
	for (int i = 0; i < r->nst; i++)
		json_decref(r->st[i].body);
	free(r->svc);
	free(r->st);
	memset(r, 0, sizeof(*r));
}

/* ---- model ---------------------------------------------------------------------------- */

struct listener {
	const char *name;
	json_int_t port;
	__u8 proto;
	int accepted, conflicted, bad_kinds, allows_kind; /* allows_kind: its route kind */
	const char *acc_reason;
	char acc_msg[MSG_LEN];
	const char *from;  /* Same, All, Selector, or another (admits nothing) */
	json_t *selector;
	int winner;        /* route index, -1 */
};

struct gateway {
	struct obj m;
	int class_accepted;
	struct l4s_addr vip[16];
	__u8 fam[16];
	int nvip;
	int bad_type;      /* an address of a type other than IPAddress */
	int bad_value;     /* an IPAddress that is not an address */
	char addr_msg[MSG_LEN];
	int listeners_ok;  /* spec.listeners is an array */
	struct listener *l;
	int nl;
};

struct bref {
	char ns[64], name[254];
	json_int_t port;
	json_int_t weight;
	int kind_ok, resolved;
	char track[L4S_NAME_LEN];
};

struct pstat {
	json_t *ref;
	const char *acc_reason;
	char acc_msg[MSG_LEN];
	int accepted;
};

struct route {
	struct obj m;
	const char *kind;
	__u8 proto;
	const char *bad;   /* UnsupportedValue: why (NULL: the route's spec is usable) */
	char bad_msg[MSG_LEN];
	struct bref *b;
	int nb;
	const char *rr_reason;
	char rr_msg[MSG_LEN];
	struct pstat *p;   /* our parentRefs, in spec order */
	int np;
};

struct mesh {
	struct obj *svc;
	json_int_t port;
	const char *port_name;
	__u8 proto;
	int route;
};

struct ctx {
	const struct gw_input *in;
	struct obj *cls, *gwo, *grants, *svcs, *nss;
	int ncls, ngwo, ngrants, nsvcs, nnss;
	struct gateway *gw;
	int ngw;
	struct route *rt;
	int nrt;
	struct mesh *mesh;
	int nmesh;
};

static const char *route_kind_of(__u8 proto)
{
	return proto == IPPROTO_UDP ? "UDPRoute" : "TCPRoute";
}

/* ---- GatewayClasses ------------------------------------------------------------------- */

static int class_accepted(struct ctx *x, const char *name, int *ours)
{
	struct obj *c = obj_find(x->cls, x->ncls, "", name);
	json_t *spec = c ? json_object_get(c->o, "spec") : NULL;

	*ours = c && streq(jstr(spec, "controllerName"), L4S_GW_CONTROLLER);
	/* parametersRef: l4split has no parameters to read */
	return *ours && !json_object_get(spec, "parametersRef");
}

static int classes_status(struct ctx *x, struct gw_result *r)
{
	for (int i = 0; i < x->ncls; i++) {
		struct obj *c = &x->cls[i];
		json_t *spec = json_object_get(c->o, "spec");
		json_t *conds, *old;
		int ok = !json_object_get(spec, "parametersRef");

		if (!streq(jstr(spec, "controllerName"), L4S_GW_CONTROLLER))
			continue; /* another controller's class */
		conds = json_array();
		json_array_append_new(conds, ok ? cond("Accepted", 1, "Accepted",
						       "l4split serves TCP and UDP listeners", c, x->in->now)
						  : cond("Accepted", 0, "InvalidParameters",
							 "l4split takes no parametersRef", c, x->in->now));
		old = json_object_get(json_object_get(c->o, "status"), "conditions");
		keep_times(conds, old);
		if (add_status(r, "GatewayClass", c, status_with(c, "conditions", conds)))
			return -ENOMEM;
	}
	return 0;
}

/* ---- Gateways ------------------------------------------------------------------------- */

static void listener_read(json_t *lj, struct listener *l)
{
	const char *proto = jstr(lj, "protocol");
	json_t *ar = json_object_get(lj, "allowedRoutes");
	json_t *nsj = json_object_get(ar, "namespaces");
	json_t *kinds = json_object_get(ar, "kinds");
	int r;

	memset(l, 0, sizeof(*l));
	l->winner = -1;
	l->name = jstr(lj, "name");
	r = jint(lj, "port", &l->port);
	l->accepted = 1;
	l->acc_reason = "Accepted";
	snprintf(l->acc_msg, MSG_LEN, "listener accepted");
	if (streq(proto, "TCP"))
		l->proto = IPPROTO_TCP;
	else if (streq(proto, "UDP"))
		l->proto = IPPROTO_UDP;
	if (r != 1 || l->port < 1 || l->port > 65535) {
		l->accepted = 0;
		l->acc_reason = "PortUnavailable";
		snprintf(l->acc_msg, MSG_LEN, "port must be a number from 1 to 65535");
	} else if (!l->proto) {
		l->accepted = 0;
		l->acc_reason = "UnsupportedProtocol";
		snprintf(l->acc_msg, MSG_LEN, "protocol %.40s is not supported: l4split serves TCP and UDP",
			 proto ? proto : "(missing)");
	}
	l->from = jstr_def(nsj, "from", "Same");
	l->selector = json_object_get(nsj, "selector");
	l->allows_kind = l->proto != 0;
	if (json_is_array(kinds)) {
		size_t i;
		json_t *k;

		l->allows_kind = 0;
		json_array_foreach(kinds, i, k) {
			const char *g = jstr_def(k, "group", L4S_GW_GROUP);

			if (l->proto && streq(g, L4S_GW_GROUP) &&
			    streq(jstr(k, "kind"), route_kind_of(l->proto)))
				l->allows_kind = 1;
			else
				l->bad_kinds = 1;
		}
	} else if (kinds && !json_is_null(kinds)) {
		l->bad_kinds = 1;
		l->allows_kind = 0;
	}
}

static int gateway_read(struct ctx *x, struct obj *m, struct gateway *g)
{
	json_t *spec = json_object_get(m->o, "spec");
	json_t *addrs = json_object_get(spec, "addresses");
	json_t *ls = json_object_get(spec, "listeners");
	json_t *v;
	size_t i;
	int ours;

	memset(g, 0, sizeof(*g));
	g->m = *m;
	g->class_accepted = class_accepted(x, jstr(spec, "gatewayClassName"), &ours);
	if (!ours)
		return 0;
	json_array_foreach(addrs, i, v) {
		const char *type = jstr_def(v, "type", "IPAddress");
		const char *val = jstr(v, "value");
		struct l4s_addr a;
		__u8 fam;

		if (!streq(type, "IPAddress")) {
			g->bad_type = 1;
			snprintf(g->addr_msg, MSG_LEN, "address type %.60s is not supported: "
				 "l4split takes IPAddress", type ? type : "(not a string)");
		} else if (!val || parse_addr(val, &a, &fam) || addr_check(&a, fam)) {
			g->bad_value = 1;
			snprintf(g->addr_msg, MSG_LEN, "address %.60s is not usable as a VIP",
				 val ? val : "(missing)");
		} else if (g->nvip < (int)(sizeof(g->vip) / sizeof(g->vip[0]))) {
			g->vip[g->nvip] = a;
			g->fam[g->nvip++] = fam;
		}
	}
	l4s_err_clear(); /* parse_addr's messages went into addr_msg */
	g->listeners_ok = json_is_array(ls) && json_array_size(ls) > 0;
	g->l = calloc(json_array_size(ls) + 1, sizeof(*g->l));
	if (!g->l)
		return -ENOMEM;
	json_array_foreach(ls, i, v)
		listener_read(v, &g->l[g->nl++]);
	/* Two usable listeners on one port and protocol: neither is served (a TCP or UDP
	 * listener has no hostname to tell them apart). */
	for (int a = 0; a < g->nl; a++)
		for (int b = a + 1; b < g->nl; b++)
			if (g->l[a].accepted && g->l[b].accepted && g->l[a].port == g->l[b].port &&
			    g->l[a].proto == g->l[b].proto)
				g->l[a].conflicted = g->l[b].conflicted = 1;
	return 0;
}

static int listener_usable(const struct gateway *g, const struct listener *l)
{
	return g->class_accepted && !g->bad_type && l->name && l->accepted && !l->conflicted;
}

/* ---- namespaces ----------------------------------------------------------------------- */

static int labels_match(json_t *labels, json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels");
	json_t *me = json_object_get(sel, "matchExpressions");
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(sel))
		return 0;
	json_object_foreach(ml, k, v)
		if (!json_is_string(v) || !streq(jstr(labels, k), json_string_value(v)))
			return 0;
	if (me && !json_is_array(me))
		return 0;
	json_array_foreach(me, i, v) {
		const char *key = jstr(v, "key"), *op = jstr(v, "operator");
		const char *have = key ? jstr(labels, key) : NULL;
		json_t *vals = json_object_get(v, "values"), *e;
		size_t j;
		int in = 0;

		if (!key || !op)
			return 0;
		json_array_foreach(vals, j, e)
			if (have && json_is_string(e) && !strcmp(have, json_string_value(e)))
				in = 1;
		if (streq(op, "In") ? !in : streq(op, "NotIn") ? in :
		    streq(op, "Exists") ? !have : streq(op, "DoesNotExist") ? !!have : 1)
			return 0;
	}
	return 1;
}

/* Does @l admit a route of @kind from namespace @ns? 1, or 0 with why in @why. */
static int listener_admits(struct ctx *x, const struct gateway *g, const struct listener *l,
			   const struct route *rt, char *why)
{
	if (!l->allows_kind || rt->proto != l->proto) { /* TCPRoute on TCP, UDPRoute on UDP */
		snprintf(why, MSG_LEN, "listener %.60s does not take %s", l->name, rt->kind);
		return 0;
	}
	if (streq(l->from, "All"))
		return 1;
	if (streq(l->from, "Same")) {
		if (!strcmp(rt->m.ns, g->m.ns))
			return 1;
		snprintf(why, MSG_LEN, "listener %.60s takes routes from namespace %.63s only",
			 l->name, g->m.ns);
		return 0;
	}
	if (streq(l->from, "Selector")) {
		struct obj *n;

		if (!x->in->namespaces) {
			snprintf(why, MSG_LEN, "listener %.60s selects namespaces by label, and "
				 "l4split does not read Namespaces here", l->name);
			return 0;
		}
		n = obj_find(x->nss, x->nnss, "", rt->m.ns);
		if (n && labels_match(json_object_get(json_object_get(n->o, "metadata"), "labels"),
				      l->selector))
			return 1;
		snprintf(why, MSG_LEN, "namespace %.63s is not selected by listener %.60s",
			 rt->m.ns, l->name);
		return 0;
	}
	snprintf(why, MSG_LEN, "listener %.60s: allowedRoutes.namespaces.from %.30s is not "
		 "supported", l->name, l->from ? l->from : "(not a string)");
	return 0;
}

/* ---- routes --------------------------------------------------------------------------- */

static int granted(struct ctx *x, const struct route *rt, const struct bref *b)
{
	for (int i = 0; i < x->ngrants; i++) {
		json_t *spec = json_object_get(x->grants[i].o, "spec");
		json_t *from = json_object_get(spec, "from"), *to = json_object_get(spec, "to");
		json_t *f, *t;
		size_t j, k;
		int from_ok = 0;

		if (strcmp(x->grants[i].ns, b->ns))
			continue;
		json_array_foreach(from, j, f)
			if (streq(jstr(f, "group"), L4S_GW_GROUP) && streq(jstr(f, "kind"), rt->kind) &&
			    streq(jstr(f, "namespace"), rt->m.ns))
				from_ok = 1;
		if (!from_ok)
			continue;
		json_array_foreach(to, k, t) {
			const char *n = jstr_def(t, "name", NULL);

			if (streq(jstr(t, "group"), "") && streq(jstr(t, "kind"), "Service") &&
			    (!json_object_get(t, "name") || json_is_null(json_object_get(t, "name")) ||
			     streq(n, b->name)))
				return 1;
		}
	}
	return 0;
}

static void route_bad(struct route *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void route_bad(struct route *rt, const char *fmt, ...)
{
	va_list ap;

	if (rt->bad)
		return; /* the first problem */
	rt->bad = "UnsupportedValue";
	va_start(ap, fmt);
	vsnprintf(rt->bad_msg, MSG_LEN, fmt, ap);
	va_end(ap);
}

static void route_unresolved(struct route *rt, const char *reason, const char *msg)
{
	if (rt->rr_reason)
		return; /* the first problem, in backendRefs order */
	rt->rr_reason = reason;
	snprintf(rt->rr_msg, MSG_LEN, "%s", msg);
}

/* spec.rules[0].backendRefs -> unique (namespace, Service, port) refs, weights summed. */
static int route_backends(struct ctx *x, struct route *rt)
{
	json_t *spec = json_object_get(rt->m.o, "spec");
	json_t *rules = json_object_get(spec, "rules");
	json_t *refs, *v;
	size_t i;
	char msg[MSG_LEN];

	if (!json_is_array(rules) || json_array_size(rules) != 1) {
		route_bad(rt, "l4split takes exactly one rule per route (this one has %zu)",
			  json_is_array(rules) ? json_array_size(rules) : 0);
		return 0;
	}
	refs = json_object_get(json_array_get(rules, 0), "backendRefs");
	if (refs && !json_is_array(refs) && !json_is_null(refs)) {
		route_bad(rt, "rules[0].backendRefs is not a list");
		return 0;
	}
	rt->b = calloc(json_array_size(refs) + 1, sizeof(*rt->b));
	if (!rt->b)
		return -ENOMEM;
	json_array_foreach(refs, i, v) {
		const char *group = jstr_def(v, "group", "");
		const char *kind = jstr_def(v, "kind", "Service");
		const char *ns = jstr_def(v, "namespace", rt->m.ns);
		const char *name = jstr(v, "name");
		json_int_t port = 0, weight = 1;
		int hp = jint(v, "port", &port), hw = jint(v, "weight", &weight);
		struct bref b = { 0 }, *have = NULL;

		if (!name || !*name || strlen(name) >= sizeof(b.name) || !ns || strlen(ns) >= sizeof(b.ns)) {
			route_bad(rt, "backendRefs[%zu] has no usable name or namespace", i);
			continue;
		}
		if (hw < 0 || weight < 0 || weight > WEIGHT_MAX_UNITS) {
			route_bad(rt, "backendRefs[%zu].weight must be 0 to 1000000", i);
			continue;
		}
		b.kind_ok = streq(group, "") && streq(kind, "Service");
		if (b.kind_ok && (hp != 1 || port < 1 || port > 65535)) {
			route_bad(rt, "backendRefs[%zu].port is required for a Service (1 to 65535)", i);
			continue;
		}
		snprintf(b.ns, sizeof(b.ns), "%s", ns);
		snprintf(b.name, sizeof(b.name), "%s", name);
		b.port = hp == 1 ? port : 0;
		b.weight = weight;
		b.resolved = b.kind_ok;
		if (!b.kind_ok) {
			snprintf(msg, MSG_LEN, "backendRefs[%zu]: %.60s/%.60s is not a core Service",
				 i, group ? group : "?", kind ? kind : "?");
			route_unresolved(rt, "InvalidKind", msg);
		} else if (strcmp(ns, rt->m.ns) && !granted(x, rt, &b)) {
			b.resolved = 0;
			snprintf(msg, MSG_LEN, "backendRefs[%zu]: no ReferenceGrant in namespace %.63s "
				 "lets %s from %.63s refer to Service %.100s", i, ns, rt->kind,
				 rt->m.ns, name);
			route_unresolved(rt, "RefNotPermitted", msg);
		} else if (!obj_find(x->svcs, x->nsvcs, ns, name)) {
			b.resolved = 0;
			snprintf(msg, MSG_LEN, "backendRefs[%zu]: Service %.63s/%.120s not found", i, ns,
				 name);
			route_unresolved(rt, "BackendNotFound", msg);
		}
		for (int j = 0; j < rt->nb; j++)
			if (!strcmp(rt->b[j].ns, b.ns) && !strcmp(rt->b[j].name, b.name) &&
			    rt->b[j].port == b.port && rt->b[j].kind_ok == b.kind_ok)
				have = &rt->b[j];
		if (have) {
			have->weight += b.weight;
			if (have->weight > WEIGHT_MAX_UNITS)
				route_bad(rt, "the weights of Service %.100s add up to more than 1000000",
					  b.name);
		} else {
			rt->b[rt->nb++] = b;
		}
	}
	/* Tracks: the Service's name; qualified with namespace and port when two refs of the
	 * route would have the same name. */
	for (int j = 0; j < rt->nb; j++) {
		int dup = 0;
		char full[400];

		for (int k = 0; k < rt->nb; k++)
			dup |= k != j && !strcmp(rt->b[k].name, rt->b[j].name);
		if (!dup) {
			gw_track_name(rt->b[j].track, rt->b[j].name);
			continue;
		}
		snprintf(full, sizeof(full), "%s.%s.%lld%s", rt->b[j].ns, rt->b[j].name,
			 (long long)rt->b[j].port, rt->b[j].kind_ok ? "" : ".x");
		gw_track_name(rt->b[j].track, full);
	}
	return 0;
}

static int route_read(struct ctx *x, struct obj *m, const char *kind, __u8 proto,
		      struct route *rt)
{
	json_t *prefs = json_object_get(json_object_get(m->o, "spec"), "parentRefs");

	memset(rt, 0, sizeof(*rt));
	rt->m = *m;
	rt->kind = kind;
	rt->proto = proto;
	if (!json_is_object(json_object_get(m->o, "spec")))
		route_bad(rt, "spec is missing");
	rt->p = calloc(json_array_size(prefs) + 1, sizeof(*rt->p));
	if (!rt->p)
		return -ENOMEM;
	return route_backends(x, rt);
}

/* v1 over v1alpha2 for the same object; then oldest first (creationTimestamp, then
 * namespace/name): the order in which routes claim listeners and Service ports. */
static int cmp_key_v1_first(const void *pa, const void *pb)
{
	const struct obj *a = pa, *b = pb;
	int c = strcmp(a->ns, b->ns);

	if (!c)
		c = strcmp(a->name, b->name);
	if (!c)
		c = (strcmp(b->api, L4S_GW_GROUP "/v1") == 0) - (strcmp(a->api, L4S_GW_GROUP "/v1") == 0);
	return c;
}

static int cmp_route_age(const void *pa, const void *pb)
{
	const struct route *a = pa, *b = pb;
	int c = strcmp(a->m.created, b->m.created); /* RFC 3339 UTC sorts as text */

	if (!c)
		c = strcmp(a->m.ns, b->m.ns);
	if (!c)
		c = strcmp(a->m.name, b->m.name);
	if (!c)
		c = strcmp(a->kind, b->kind);
	return c;
}

static int routes_read(struct ctx *x, json_t *coll, const char *kind, __u8 proto)
{
	struct obj *o;
	int n, rc;
	struct route *tmp;

	if (collect(coll, &o, &n))
		return -ENOMEM;
	qsort(o, (size_t)n, sizeof(*o), cmp_key_v1_first);
	tmp = realloc(x->rt, sizeof(*x->rt) * (size_t)(x->nrt + n + 1));
	if (!tmp) {
		free(o);
		return -ENOMEM;
	}
	x->rt = tmp;
	for (int i = 0; i < n; i++) {
		if (i && !strcmp(o[i].ns, o[i - 1].ns) && !strcmp(o[i].name, o[i - 1].name))
			continue; /* the same route under the other version */
		rc = route_read(x, &o[i], kind, proto, &x->rt[x->nrt]);
		x->nrt++;
		if (rc) {
			free(o);
			return rc;
		}
	}
	free(o);
	return 0;
}

/* ---- attaching ------------------------------------------------------------------------ */

static void pstat_set(struct pstat *p, int ok, const char *reason, const char *msg)
{
	p->accepted = ok;
	p->acc_reason = reason;
	snprintf(p->acc_msg, MSG_LEN, "%s", msg);
}

/* A parentRef to a Gateway: attach to every usable listener it selects and admits. */
static void attach_gateway(struct ctx *x, int ri, json_t *pref, const char *ns, const char *name)
{
	struct route *rt = &x->rt[ri];
	struct gateway *g = NULL;
	const char *section = jstr(pref, "sectionName");
	json_int_t port = 0;
	int hp = jint(pref, "port", &port);
	int matched = 0, admitted = 0, lost = 0;
	char why[MSG_LEN] = "", lost_msg[MSG_LEN] = "", msg[MSG_LEN];
	struct pstat *p;

	for (int i = 0; i < x->ngw; i++)
		if (!strcmp(x->gw[i].m.ns, ns) && !strcmp(x->gw[i].m.name, name) && x->gw[i].l)
			g = &x->gw[i];
	if (!g)
		return; /* not a Gateway of ours: another controller's, or none */
	p = &rt->p[rt->np++];
	p->ref = pref;
	if (rt->bad) {
		pstat_set(p, 0, rt->bad, rt->bad_msg);
		return;
	}
	if (hp < 0 || (json_object_get(pref, "sectionName") && !section &&
		       !json_is_null(json_object_get(pref, "sectionName")))) {
		pstat_set(p, 0, "UnsupportedValue", "parentRef sectionName or port has the wrong type");
		return;
	}
	for (int i = 0; i < g->nl; i++) {
		struct listener *l = &g->l[i];

		if (!listener_usable(g, l) || (section && !streq(l->name, section)) ||
		    (hp == 1 && l->port != port))
			continue;
		matched++;
		if (!listener_admits(x, g, l, rt, why))
			continue;
		admitted++;
		if (l->winner >= 0 && l->winner != ri) {
			const struct route *w = &x->rt[l->winner];

			lost++;
			snprintf(lost_msg, MSG_LEN, "listener %.60s already serves %s %.63s/%.100s, "
				 "which is older", l->name, w->kind, w->m.ns, w->m.name);
			continue;
		}
		l->winner = ri;
	}
	if (!matched) {
		snprintf(msg, MSG_LEN, "Gateway %.63s/%.100s has no usable listener that matches "
			 "the parentRef's sectionName and port", ns, name);
		pstat_set(p, 0, "NoMatchingParent", msg);
	} else if (!admitted) {
		pstat_set(p, 0, "NotAllowedByListeners", why);
	} else if (admitted == lost) {
		pstat_set(p, 0, "NotAllowedByListeners", lost_msg);
	} else {
		pstat_set(p, 1, "Accepted", "attached");
	}
}

/* A parentRef to a Service (GAMMA): claim each of its ports of the route's protocol that
 * the parentRef selects. Producer routes only (the route in the Service's namespace). */
static int attach_service(struct ctx *x, int ri, json_t *pref, const char *ns, const char *name)
{
	struct route *rt = &x->rt[ri];
	struct pstat *p = &rt->p[rt->np++];
	struct obj *s = obj_find(x->svcs, x->nsvcs, ns, name);
	json_t *spec = s ? json_object_get(s->o, "spec") : NULL;
	json_t *ports = json_object_get(spec, "ports"), *v;
	const char *section = jstr(pref, "sectionName");
	json_int_t port = 0;
	int hp = jint(pref, "port", &port), matched = 0, won = 0;
	char msg[MSG_LEN] = "";
	size_t i;

	p->ref = pref;
	if (rt->bad) {
		pstat_set(p, 0, rt->bad, rt->bad_msg);
		return 0;
	}
	if (strcmp(ns, rt->m.ns)) {
		pstat_set(p, 0, "UnsupportedValue", "a route in another namespace than its parent "
			  "Service (a consumer route) is not supported");
		return 0;
	}
	if (!s) {
		snprintf(msg, MSG_LEN, "Service %.63s/%.100s not found", ns, name);
		pstat_set(p, 0, "NoMatchingParent", msg);
		return 0;
	}
	json_array_foreach(ports, i, v) {
		const char *pn = jstr(v, "name");
		const char *pp = jstr_def(v, "protocol", "TCP");
		json_int_t num = 0;
		struct mesh *tmp, *have = NULL;

		if (jint(v, "port", &num) != 1 || num < 1 || num > 65535 ||
		    !streq(pp, rt->proto == IPPROTO_UDP ? "UDP" : "TCP") ||
		    (section && !streq(pn, section)) || (hp == 1 && num != port) || hp < 0)
			continue;
		matched++;
		for (int j = 0; j < x->nmesh; j++)
			if (x->mesh[j].svc == s && x->mesh[j].port == num && x->mesh[j].proto == rt->proto)
				have = &x->mesh[j];
		if (have && have->route != ri) {
			const struct route *w = &x->rt[have->route];

			snprintf(msg, MSG_LEN, "port %lld of Service %.63s/%.100s already has %s "
				 "%.63s/%.100s, which is older", (long long)num, ns, name, w->kind,
				 w->m.ns, w->m.name);
			continue;
		}
		won++;
		if (have)
			continue;
		tmp = realloc(x->mesh, sizeof(*x->mesh) * (size_t)(x->nmesh + 1));
		if (!tmp)
			return -ENOMEM;
		x->mesh = tmp;
		x->mesh[x->nmesh++] = (struct mesh){ .svc = s, .port = num, .port_name = pn,
						     .proto = rt->proto, .route = ri };
	}
	if (!matched) {
		snprintf(msg, MSG_LEN, "Service %.63s/%.100s has no %s port that matches the "
			 "parentRef's sectionName and port", ns, name,
			 rt->proto == IPPROTO_UDP ? "UDP" : "TCP");
		pstat_set(p, 0, "NoMatchingParent", msg);
	} else if (!won) {
		pstat_set(p, 0, "NotAllowedByListeners", msg);
	} else {
		pstat_set(p, 1, "Accepted", "attached");
	}
	return 0;
}

static int routes_attach(struct ctx *x)
{
	for (int ri = 0; ri < x->nrt; ri++) {
		json_t *prefs = json_object_get(json_object_get(x->rt[ri].m.o, "spec"), "parentRefs");
		json_t *pref;
		size_t i;

		json_array_foreach(prefs, i, pref) {
			const char *group = jstr_def(pref, "group", L4S_GW_GROUP);
			const char *kind = jstr_def(pref, "kind", "Gateway");
			const char *ns = jstr_def(pref, "namespace", x->rt[ri].m.ns);
			const char *name = jstr(pref, "name");

			if (!json_is_object(pref) || !name || !ns)
				continue; /* names nothing: no parent to report it to */
			if (streq(group, L4S_GW_GROUP) && streq(kind, "Gateway"))
				attach_gateway(x, ri, pref, ns, name);
			else if (streq(group, "") && streq(kind, "Service") &&
				 attach_service(x, ri, pref, ns, name))
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- services ------------------------------------------------------------------------- */

static int svc_new(struct gw_result *r, const char *name, const struct route *rt,
		   struct gw_service **out)
{
	struct gw_service *tmp = realloc(r->svc, sizeof(*r->svc) * (size_t)(r->nsvc + 1)), *s;

	if (!tmp)
		return -ENOMEM;
	r->svc = tmp;
	s = &r->svc[r->nsvc++];
	memset(s, 0, sizeof(*s));
	spec_init(&s->spec, name);
	s->spec.flags = L4S_SVC_F_AGENT;
	snprintf(s->route, sizeof(s->route), "%s %s/%s", rt->kind, rt->m.ns, rt->m.name);
	s->ref = calloc((size_t)rt->nb + 1, sizeof(*s->ref));
	if (!s->ref)
		return -ENOMEM;
	for (int i = 0; i < rt->nb; i++) {
		const struct bref *b = &rt->b[i];
		struct gw_track_ref *t = &s->ref[s->nref++];

		if (!spec_track_add(&s->spec, b->track, (__u64)b->weight * L4S_WEIGHT_ONE))
			return -ENOMEM;
		snprintf(t->track, sizeof(t->track), "%s", b->track);
		snprintf(t->ns, sizeof(t->ns), "%s", b->ns);
		snprintf(t->name, sizeof(t->name), "%s", b->name);
		t->port = (__u16)b->port;
		t->resolved = b->resolved;
	}
	*out = s;
	return 0;
}

static int fe_add(struct gw_service *s, const struct l4s_addr *a, __u8 fam, json_int_t port,
		  __u8 proto)
{
	struct l4s_frontend_key k;

	memset(&k, 0, sizeof(k));
	k.vip = *a;
	k.family = fam;
	k.port = htons((__u16)port);
	k.proto = proto;
	return spec_add_frontend(&s->spec, &k) ? -ENOMEM : 0;
}

static int services_build(struct ctx *x, struct gw_result *r)
{
	char name[L4S_NAME_LEN], port[16];
	struct gw_service *s;

	for (int i = 0; i < x->ngw; i++) {
		struct gateway *g = &x->gw[i];

		for (int j = 0; g->l && j < g->nl; j++) {
			struct listener *l = &g->l[j];

			if (l->winner < 0 || !g->nvip)
				continue; /* no route, or no VIP (Programmed False) */
			gw_svc_name(name, "gw", g->m.ns, g->m.name, l->name);
			if (svc_new(r, name, &x->rt[l->winner], &s))
				return -ENOMEM;
			for (int v = 0; v < g->nvip; v++)
				if (fe_add(s, &g->vip[v], g->fam[v], l->port, l->proto))
					return -ENOMEM;
		}
	}
	for (int i = 0; i < x->nmesh; i++) {
		struct mesh *m = &x->mesh[i];
		json_t *spec = json_object_get(m->svc->o, "spec");
		json_t *ips = json_object_get(spec, "clusterIPs"), *v;
		const char *one = jstr(spec, "clusterIP");
		size_t k;

		snprintf(port, sizeof(port), "%lld", (long long)m->port);
		gw_svc_name(name, "mesh", m->svc->ns, m->svc->name, port);
		if (svc_new(r, name, &x->rt[m->route], &s))
			return -ENOMEM;
		if (!json_is_array(ips) || !json_array_size(ips)) {
			ips = NULL;
		}
		for (k = 0; k < (ips ? json_array_size(ips) : 1); k++) {
			const char *ip = ips ? json_string_value(json_array_get(ips, k)) : one;
			struct l4s_addr a;
			__u8 fam;

			(void)v;
			if (ip && !parse_addr(ip, &a, &fam) && !addr_check(&a, fam) &&
			    fe_add(s, &a, fam, m->port, m->proto))
				return -ENOMEM;
		}
		l4s_err_clear();
		/* A headless Service ("None") has no frontend: it serves nothing. */
	}
	return 0;
}

/* ---- status --------------------------------------------------------------------------- */

static json_t *kinds_json(const struct listener *l)
{
	json_t *a = json_array();

	if (l->allows_kind)
		json_array_append_new(a, json_pack("{s:s, s:s}", "group", L4S_GW_GROUP, "kind",
						   route_kind_of(l->proto)));
	return a;
}

static int gateways_status(struct ctx *x, struct gw_result *r)
{
	for (int i = 0; i < x->ngw; i++) {
		struct gateway *g = &x->gw[i];
		const struct obj *m = &g->m;
		json_t *old = json_object_get(m->o, "status");
		json_t *oldl = json_object_get(old, "listeners");
		json_t *conds, *addrs, *ls, *st;
		int usable = 0, invalid = 0;
		char buf[L4S_ADDRSTRLEN], msg[MSG_LEN];

		if (!g->l)
			continue; /* not ours */
		conds = json_array();
		addrs = json_array();
		ls = json_array();
		for (int j = 0; j < g->nl; j++) {
			struct listener *l = &g->l[j];
			json_t *lc, *le;
			size_t k;
			int prog = listener_usable(g, l) && g->nvip;

			if (listener_usable(g, l))
				usable++;
			else
				invalid++;
			if (!l->name)
				continue; /* no name: no status entry can name it */
			lc = json_array();
			json_array_append_new(lc, cond("Accepted", l->accepted, l->acc_reason, l->acc_msg,
						       m, x->in->now));
			json_array_append_new(lc, l->conflicted
				? cond("Conflicted", 1, "HostnameConflict", "another listener has the "
				       "same port and protocol", m, x->in->now)
				: cond("Conflicted", 0, "NoConflicts", "", m, x->in->now));
			json_array_append_new(lc, l->bad_kinds
				? cond("ResolvedRefs", 0, "InvalidRouteKinds", "allowedRoutes.kinds has a "
				       "kind this listener cannot serve", m, x->in->now)
				: cond("ResolvedRefs", 1, "ResolvedRefs", "", m, x->in->now));
			json_array_append_new(lc, prog ? cond("Programmed", 1, "Programmed", "", m, x->in->now)
				: cond("Programmed", 0, listener_usable(g, l) ? "Pending" : "Invalid",
				       listener_usable(g, l) ? "the Gateway has no usable address" :
				       "the listener is not accepted or conflicts", m, x->in->now));
			json_array_foreach(oldl, k, le)
				if (streq(jstr(le, "name"), l->name))
					keep_times(lc, json_object_get(le, "conditions"));
			json_array_append_new(ls, json_pack("{s:s, s:o, s:i, s:o}", "name", l->name,
							    "supportedKinds", kinds_json(l), "attachedRoutes",
							    l->winner >= 0 ? 1 : 0, "conditions", lc));
		}
		for (int v = 0; v < g->nvip; v++)
			json_array_append_new(addrs, json_pack("{s:s, s:s}", "type", "IPAddress", "value",
							       fmt_addr(buf, &g->vip[v], g->fam[v])));
		if (!g->class_accepted)
			json_array_append_new(conds, cond("Accepted", 0, "Pending", "the GatewayClass is "
							  "not accepted", m, x->in->now));
		else if (g->bad_type)
			json_array_append_new(conds, cond("Accepted", 0, "UnsupportedAddress", g->addr_msg,
							  m, x->in->now));
		else if (!usable)
			json_array_append_new(conds, cond("Accepted", 0, "ListenersNotValid",
							  "no listener is usable", m, x->in->now));
		else if (invalid)
			json_array_append_new(conds, cond("Accepted", 1, "ListenersNotValid",
							  "some listeners are not usable", m, x->in->now));
		else
			json_array_append_new(conds, cond("Accepted", 1, "Accepted", "", m, x->in->now));
		if (g->class_accepted && !g->bad_type && usable && g->nvip) {
			json_array_append_new(conds, cond("Programmed", 1, "Programmed", "", m, x->in->now));
		} else if (g->class_accepted && !g->bad_type && usable) {
			snprintf(msg, MSG_LEN, "%s", g->bad_value ? g->addr_msg :
				 "spec.addresses has no IPAddress: l4split has no VIP to serve");
			json_array_append_new(conds, cond("Programmed", 0, g->bad_value ?
							  "AddressNotUsable" : "AddressNotAssigned",
							  msg, m, x->in->now));
		} else {
			json_array_append_new(conds, cond("Programmed", 0, "Invalid", "the Gateway is "
							  "not accepted", m, x->in->now));
		}
		keep_times(conds, json_object_get(old, "conditions"));
		st = status_with(m, "conditions", conds);
		if (st) {
			json_object_set_new(st, "addresses", addrs);
			json_object_set_new(st, "listeners", ls);
		} else {
			json_decref(addrs);
			json_decref(ls);
		}
		if (!st || add_status(r, "Gateway", m, st))
			return -ENOMEM;
	}
	return 0;
}

static int routes_status(struct ctx *x, struct gw_result *r)
{
	for (int ri = 0; ri < x->nrt; ri++) {
		struct route *rt = &x->rt[ri];
		json_t *oldp = json_object_get(json_object_get(rt->m.o, "status"), "parents");
		json_t *parents = json_array(), *e, *st;
		size_t i;
		int had_ours = 0;

		json_array_foreach(oldp, i, e) {
			if (streq(jstr(e, "controllerName"), L4S_GW_CONTROLLER))
				had_ours = 1;
			else
				json_array_append(parents, e); /* another controller's entry */
		}
		if (!rt->np && !had_ours) {
			json_decref(parents);
			continue;
		}
		for (int j = 0; j < rt->np; j++) {
			struct pstat *p = &rt->p[j];
			json_t *conds = json_array();

			json_array_append_new(conds, cond("Accepted", p->accepted, p->acc_reason,
							  p->acc_msg, &rt->m, x->in->now));
			json_array_append_new(conds, rt->rr_reason
				? cond("ResolvedRefs", 0, rt->rr_reason, rt->rr_msg, &rt->m, x->in->now)
				: cond("ResolvedRefs", 1, "ResolvedRefs", "", &rt->m, x->in->now));
			json_array_foreach(oldp, i, e)
				if (streq(jstr(e, "controllerName"), L4S_GW_CONTROLLER) &&
				    json_equal(json_object_get(e, "parentRef"), p->ref))
					keep_times(conds, json_object_get(e, "conditions"));
			json_array_append_new(parents, json_pack("{s:O, s:s, s:o}", "parentRef", p->ref,
								 "controllerName", L4S_GW_CONTROLLER,
								 "conditions", conds));
		}
		st = status_with(&rt->m, "parents", parents);
		if (!st || add_status(r, rt->kind, &rt->m, st))
			return -ENOMEM;
	}
	return 0;
}

/* ---- entry ---------------------------------------------------------------------------- */

static void ctx_free(struct ctx *x)
{
	for (int i = 0; i < x->ngw; i++)
		free(x->gw[i].l);
	for (int i = 0; i < x->nrt; i++) {
		free(x->rt[i].b);
		free(x->rt[i].p);
	}
	free(x->gw);
	free(x->rt);
	free(x->mesh);
	free(x->cls);
	free(x->gwo);
	free(x->grants);
	free(x->svcs);
	free(x->nss);
}

int gw_translate(const struct gw_input *in, struct gw_result *out)
{
	struct ctx x = { .in = in };
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (collect(in->gateway_classes, &x.cls, &x.ncls) || collect(in->gateways, &x.gwo, &x.ngwo) ||
	    collect(in->reference_grants, &x.grants, &x.ngrants) ||
	    collect(in->services, &x.svcs, &x.nsvcs) || collect(in->namespaces, &x.nss, &x.nnss))
		goto out;
	x.gw = calloc((size_t)x.ngwo + 1, sizeof(*x.gw));
	if (!x.gw)
		goto out;
	for (int i = 0; i < x.ngwo; i++)
		if (gateway_read(&x, &x.gwo[i], &x.gw[x.ngw++]))
			goto out;
	if (routes_read(&x, in->tcproutes, "TCPRoute", IPPROTO_TCP) ||
	    routes_read(&x, in->udproutes, "UDPRoute", IPPROTO_UDP))
		goto out;
	qsort(x.rt, (size_t)x.nrt, sizeof(*x.rt), cmp_route_age);
	if (routes_attach(&x) || services_build(&x, out) || classes_status(&x, out) ||
	    gateways_status(&x, out) || routes_status(&x, out))
		goto out;
	rc = 0;
out:
	ctx_free(&x);
	if (rc)
		gw_result_free(out);
	return rc;
}
