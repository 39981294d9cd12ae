// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Gateway API -> l4split services and status (gateway.h), on tests/fixtures/gateway. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "agent.h"
#include "gateway.h"
#include "parse.h"

#define FIX "tests/fixtures/gateway/"
#define NOW "2026-06-02T12:00:00Z"

struct fx {
	json_t *cls, *gw, *tcp, *tcp1a2, *udp, *udp1a2, *grants, *svcs, *nss;
	json_t *tcp_all, *udp_all; /* both versions, as the agent's caches would hold them */
	struct gw_input in;
	struct gw_result r;
};

static json_t *items(const char *file)
{
	json_error_t e;
	json_t *doc = json_load_file(file, 0, &e), *it;

	if (!doc)
		print_message("# %s: %s\n", file, e.text);
	assert_non_null(doc);
	it = json_incref(json_object_get(doc, "items"));
	assert_true(json_is_array(it));
	json_decref(doc);
	return it;
}

static json_t *concat(json_t *a, json_t *b)
{
	json_t *c = json_array();

	json_array_extend(c, a);
	json_array_extend(c, b);
	return c;
}

static void fx_load(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->cls = items(FIX "gatewayclasses.json");
	f->gw = items(FIX "gateways.json");
	f->tcp = items(FIX "tcproutes-v1.json");
	f->tcp1a2 = items(FIX "tcproutes-v1alpha2.json");
	f->udp = items(FIX "udproutes-v1.json");
	f->udp1a2 = items(FIX "udproutes-v1alpha2.json");
	f->grants = items(FIX "referencegrants.json");
	f->svcs = items(FIX "services.json");
	f->nss = items(FIX "namespaces.json");
	f->tcp_all = concat(f->tcp1a2, f->tcp); /* v1alpha2 first: the v1 copy must still win */
	f->udp_all = concat(f->udp1a2, f->udp);
	f->in = (struct gw_input){ .gateway_classes = f->cls, .gateways = f->gw,
				   .tcproutes = f->tcp_all, .udproutes = f->udp_all,
				   .reference_grants = f->grants, .services = f->svcs,
				   .namespaces = f->nss, .now = NOW };
}

static void fx_run(struct fx *f)
{
	gw_result_free(&f->r);
	assert_int_equal(gw_translate(&f->in, &f->r), 0);
}

static void fx_free(struct fx *f)
{
	gw_result_free(&f->r);
	json_decref(f->cls);
	json_decref(f->gw);
	json_decref(f->tcp);
	json_decref(f->tcp1a2);
	json_decref(f->udp);
	json_decref(f->udp1a2);
	json_decref(f->grants);
	json_decref(f->svcs);
	json_decref(f->nss);
	json_decref(f->tcp_all);
	json_decref(f->udp_all);
}

static json_t *by_name(json_t *arr, const char *ns, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o) {
		json_t *md = json_object_get(o, "metadata");
		const char *n = json_string_value(json_object_get(md, "namespace"));

		if (!strcmp(json_string_value(json_object_get(md, "name")), name) &&
		    !strcmp(n ? n : "", ns))
			return o;
	}
	fail_msg("no %s/%s", ns, name);
	return NULL;
}

static const struct gw_service *svc(const struct fx *f, const char *name)
{
	for (int i = 0; i < f->r.nsvc; i++)
		if (!strcmp(f->r.svc[i].spec.name, name))
			return &f->r.svc[i];
	return NULL;
}

static double tweight(const struct gw_service *s, const char *track)
{
	const struct spec_track *t = spec_track(&s->spec, track);

	assert_non_null(t);
	return (double)t->weight / L4S_WEIGHT_ONE;
}

static const struct gw_track_ref *tref(const struct gw_service *s, const char *track)
{
	for (int i = 0; i < s->nref; i++)
		if (!strcmp(s->ref[i].track, track))
			return &s->ref[i];
	fail_msg("no track %s", track);
	return NULL;
}

static int nwrites(const struct fx *f, const char *kind, const char *ns, const char *name)
{
	int n = 0;

	for (int i = 0; i < f->r.nst; i++)
		n += !strcmp(f->r.st[i].kind, kind) && !strcmp(f->r.st[i].ns, ns) &&
		     !strcmp(f->r.st[i].name, name);
	return n;
}

static json_t *written(const struct fx *f, const char *kind, const char *ns, const char *name)
{
	for (int i = 0; i < f->r.nst; i++)
		if (!strcmp(f->r.st[i].kind, kind) && !strcmp(f->r.st[i].ns, ns) &&
		    !strcmp(f->r.st[i].name, name))
			return json_object_get(f->r.st[i].body, "status");
	return NULL;
}

static json_t *cond_of(json_t *conds, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(conds, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "type")), type))
			return c;
	return NULL;
}

static char g_msg[700]; /* the message of the last route_cond */

/* "True/Reason" of a condition of our parent entry for a Gateway/Service @parent. */
static const char *route_cond(const struct fx *f, const char *kind, const char *ns,
			      const char *name, const char *parent, const char *type)
{
	static char buf[128];
	json_t *st = written(f, kind, ns, name), *e, *c;
	size_t i;

	assert_non_null(st);
	json_array_foreach(json_object_get(st, "parents"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "controllerName")), L4S_GW_CONTROLLER) ||
		    strcmp(json_string_value(json_object_get(json_object_get(e, "parentRef"), "name")),
			   parent))
			continue;
		c = cond_of(json_object_get(e, "conditions"), type);
		assert_non_null(c);
		snprintf(buf, sizeof(buf), "%s/%s", json_string_value(json_object_get(c, "status")),
			 json_string_value(json_object_get(c, "reason")));
		snprintf(g_msg, sizeof(g_msg), "%s", json_string_value(json_object_get(c, "message")));
		return buf;
	}
	fail_msg("%s %s/%s has no entry of ours for %s", kind, ns, name, parent);
	return NULL;
}

static json_t *listener_st(const struct fx *f, const char *lname)
{
	json_t *st = written(f, "Gateway", "default", "edge"), *l;
	size_t i;

	assert_non_null(st);
	json_array_foreach(json_object_get(st, "listeners"), i, l)
		if (!strcmp(json_string_value(json_object_get(l, "name")), lname))
			return l;
	fail_msg("no listener %s", lname);
	return NULL;
}

static void set_weights(json_t *routes, const char *ns, const char *name, int w0, int w1)
{
	json_t *r = by_name(routes, ns, name);
	json_t *refs = json_object_get(json_array_get(json_object_get(json_object_get(r, "spec"),
								    "rules"), 0), "backendRefs");

	json_object_set_new(json_array_get(refs, 0), "weight", json_integer(w0));
	json_object_set_new(json_array_get(refs, 1), "weight", json_integer(w1));
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_north_south(void **state)
{
	struct fx f;
	const struct gw_service *s;
	char buf[L4S_ADDRSTRLEN];

	(void)state;
	fx_load(&f);
	fx_run(&f);
	s = svc(&f, "gw_default.edge.tcp-app");
	assert_non_null(s);
	assert_int_equal(s->spec.nfe, 1);
	assert_string_equal(fmt_addr(buf, &s->spec.fe[0].vip, s->spec.fe[0].family), "192.0.2.10");
	assert_int_equal(ntohs(s->spec.fe[0].port), 8080);
	assert_int_equal(s->spec.fe[0].proto, IPPROTO_TCP);
	assert_int_equal(s->spec.ntr, 2);
	assert_true(tweight(s, "nginx-v1") == 90 && tweight(s, "nginx-v2") == 10);
	assert_string_equal(tref(s, "nginx-v2")->name, "nginx-v2");
	assert_string_equal(tref(s, "nginx-v2")->ns, "default");
	assert_int_equal(tref(s, "nginx-v2")->port, 80);
	assert_true(tref(s, "nginx-v2")->resolved);
	assert_int_equal(s->spec.nbe, 0); /* backends: the agent's, from EndpointSlices */
	assert_string_equal(s->route, "TCPRoute default/app");

	s = svc(&f, "gw_default.edge.udp-dns");
	assert_non_null(s);
	assert_int_equal(s->spec.fe[0].proto, IPPROTO_UDP);
	assert_int_equal(ntohs(s->spec.fe[0].port), 5353);
	assert_true(tweight(s, "coredns-old") == 1 && tweight(s, "coredns-new") == 1); /* default 1 */

	/* Served under v1 and v1alpha2: one route, one status write, through v1. */
	assert_int_equal(nwrites(&f, "TCPRoute", "default", "app"), 1);
	assert_int_equal(nwrites(&f, "UDPRoute", "default", "dns"), 1);
	for (int i = 0; i < f.r.nst; i++)
		if (!strcmp(f.r.st[i].name, "app"))
			assert_string_equal(f.r.st[i].api_version, "gateway.networking.k8s.io/v1");
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "True/Accepted");
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "ResolvedRefs"),
			    "True/ResolvedRefs");
	assert_int_equal(json_integer_value(json_object_get(listener_st(&f, "tcp-app"),
							    "attachedRoutes")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
		listener_st(&f, "tcp-app"), "supportedKinds"), 0), "kind")), "TCPRoute");
	/* Gateway and class: accepted, programmed, the VIP in status.addresses. */
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(
		written(&f, "Gateway", "default", "edge"), "conditions"), "Programmed"), "status")), "True");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
		written(&f, "Gateway", "default", "edge"), "addresses"), 0), "value")), "192.0.2.10");
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(
		written(&f, "GatewayClass", "", "l4split"), "conditions"), "Accepted"), "reason")),
		"Accepted");
	fx_free(&f);
}

static void test_weights_change(void **state)
{
	struct fx f;
	const struct gw_service *s;

	(void)state;
	fx_load(&f);
	/* A weight patch, as Argo's plugin sends it (the server shows it under both versions). */
	set_weights(f.tcp, "default", "app", 0, 100);
	set_weights(f.tcp1a2, "default", "app", 0, 100);
	fx_run(&f);
	s = svc(&f, "gw_default.edge.tcp-app");
	assert_non_null(s);
	assert_int_equal(s->spec.ntr, 2); /* weight 0: a track that gets nothing, still there */
	assert_true(tweight(s, "nginx-v1") == 0 && tweight(s, "nginx-v2") == 100);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "True/Accepted");
	/* Out of range: refused, no service. */
	set_weights(f.tcp, "default", "app", 0, 1000001);
	set_weights(f.tcp1a2, "default", "app", 0, 1000001);
	fx_run(&f);
	assert_null(svc(&f, "gw_default.edge.tcp-app"));
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "False/UnsupportedValue");
	fx_free(&f);
}

static void test_same_service_summed(void **state)
{
	struct fx f;
	const struct gw_service *s;
	json_t *refs;

	(void)state;
	fx_load(&f);
	refs = json_object_get(json_array_get(json_object_get(json_object_get(
		by_name(f.tcp, "default", "app"), "spec"), "rules"), 0), "backendRefs");
	json_array_append_new(refs, json_pack("{s:s, s:i, s:i}", "name", "nginx-v2", "port", 80,
					      "weight", 15));
	json_object_del(json_array_get(f.tcp_all, 0), "metadata"); /* drop the v1alpha2 copy */
	fx_run(&f);
	s = svc(&f, "gw_default.edge.tcp-app");
	assert_non_null(s);
	assert_int_equal(s->spec.ntr, 2);
	assert_true(tweight(s, "nginx-v2") == 25);
	fx_free(&f);
}

static void test_allowed_routes(void **state)
{
	struct fx f;

	(void)state;
	fx_load(&f);
	fx_run(&f);
	/* namespaces.from Same: a route from team-b is refused */
	assert_string_equal(route_cond(&f, "TCPRoute", "team-b", "team-b-app", "edge", "Accepted"),
			    "False/NotAllowedByListeners");
	/* kinds: a UDPRoute on a TCP listener (refused for its kind, not for a taken listener) */
	assert_string_equal(route_cond(&f, "UDPRoute", "default", "dns-on-tcp", "edge", "Accepted"),
			    "False/NotAllowedByListeners");
	assert_non_null(strstr(g_msg, "does not take UDPRoute"));
	/* Selector: team-b carries the label */
	assert_string_equal(route_cond(&f, "TCPRoute", "team-b", "teams", "edge", "Accepted"),
			    "True/Accepted");
	assert_non_null(svc(&f, "gw_default.edge.tcp-teams"));
	/* default does not: db (port 9000 = tcp-teams) is refused */
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "db", "edge", "Accepted"),
			    "False/NotAllowedByListeners");
	/* No Namespaces given: a Selector admits nothing, and says so */
	f.in.namespaces = NULL;
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "team-b", "teams", "edge", "Accepted"),
			    "False/NotAllowedByListeners");
	assert_null(svc(&f, "gw_default.edge.tcp-teams"));
	/* sectionName naming no listener */
	json_object_set_new(json_array_get(json_object_get(json_object_get(
		by_name(f.tcp, "team-b", "teams"), "spec"), "parentRefs"), 0), "sectionName",
		json_string("nope"));
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "team-b", "teams", "edge", "Accepted"),
			    "False/NoMatchingParent");
	fx_free(&f);
}

static void test_backend_not_found(void **state)
{
	struct fx f;
	const struct gw_service *s;
	json_t *ref;

	(void)state;
	fx_load(&f);
	for (int v = 0; v < 2; v++) {
		ref = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(
			by_name(v ? f.tcp : f.tcp1a2, "default", "app"), "spec"), "rules"), 0),
			"backendRefs"), 1);
		json_object_set_new(ref, "name", json_string("nginx-v3"));
	}
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "ResolvedRefs"),
			    "False/BackendNotFound");
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "True/Accepted");
	s = svc(&f, "gw_default.edge.tcp-app");
	assert_non_null(s);
	assert_true(tref(s, "nginx-v1")->resolved);
	assert_false(tref(s, "nginx-v3")->resolved); /* no backends for it */
	fx_free(&f);
}

static void test_cross_namespace(void **state)
{
	struct fx f;
	const struct gw_service *s;
	json_t *grants;

	(void)state;
	fx_load(&f);
	/* Let default in through the Selector: db (older than teams) takes tcp-teams. */
	json_object_set_new(json_object_get(json_object_get(by_name(f.nss, "", "default"), "metadata"),
					    "labels"), "l4split.io/gateway-access", json_string("edge"));
	grants = f.in.reference_grants;
	f.in.reference_grants = NULL;
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "db", "edge", "ResolvedRefs"),
			    "False/RefNotPermitted");
	s = svc(&f, "gw_default.edge.tcp-teams");
	assert_non_null(s);
	assert_false(tref(s, "postgres")->resolved);
	/* The older route wins the listener; the other is told why. */
	assert_string_equal(route_cond(&f, "TCPRoute", "team-b", "teams", "edge", "Accepted"),
			    "False/NotAllowedByListeners");
	assert_string_equal(s->route, "TCPRoute default/db");

	f.in.reference_grants = grants;
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "db", "edge", "ResolvedRefs"),
			    "True/ResolvedRefs");
	s = svc(&f, "gw_default.edge.tcp-teams");
	assert_true(tref(s, "postgres")->resolved);
	assert_string_equal(tref(s, "postgres")->ns, "data");
	assert_int_equal(tref(s, "postgres")->port, 5432);
	/* A grant for another Service name does not count. */
	json_object_set_new(json_array_get(json_object_get(json_object_get(json_array_get(grants, 0),
		"spec"), "to"), 0), "name", json_string("mysql"));
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "db", "edge", "ResolvedRefs"),
			    "False/RefNotPermitted");
	fx_free(&f);
}

static void test_gamma(void **state)
{
	struct fx f;
	const struct gw_service *s;
	char buf[L4S_ADDRSTRLEN], agent_name[L4S_NAME_LEN];

	(void)state;
	fx_load(&f);
	fx_run(&f);
	s = svc(&f, "mesh_default.nginx.80");
	assert_non_null(s);
	assert_int_equal(s->spec.nfe, 1);
	assert_string_equal(fmt_addr(buf, &s->spec.fe[0].vip, s->spec.fe[0].family), "10.96.0.20");
	assert_int_equal(ntohs(s->spec.fe[0].port), 80);
	assert_true(tweight(s, "nginx-v1") == 80 && tweight(s, "nginx-v2") == 20);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "mesh-nginx", "nginx", "Accepted"),
			    "True/Accepted");
	svc_k8s_name(agent_name, "default", "nginx", "http");
	assert_string_not_equal(agent_name, s->spec.name);
	svc_k8s_name(agent_name, "default", "nginx", "80");
	assert_string_not_equal(agent_name, s->spec.name);
	/* Port of no Service port: NoMatchingParent */
	json_object_set_new(json_array_get(json_object_get(json_object_get(
		by_name(f.tcp, "default", "mesh-nginx"), "spec"), "parentRefs"), 0), "port",
		json_integer(81));
	fx_run(&f);
	assert_null(svc(&f, "mesh_default.nginx.80"));
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "mesh-nginx", "nginx", "Accepted"),
			    "False/NoMatchingParent");
	fx_free(&f);
}

/* Write back what was written; the next pass has nothing to write. */
static void apply_writes(struct fx *f)
{
	json_t *colls[] = { f->cls, f->gw, f->tcp, f->tcp1a2, f->udp, f->udp1a2 };

	for (int i = 0; i < f->r.nst; i++) {
		json_t *b = f->r.st[i].body;

		for (size_t c = 0; c < sizeof(colls) / sizeof(colls[0]); c++) {
			size_t j;
			json_t *o;

			json_array_foreach(colls[c], j, o) {
				json_t *md = json_object_get(o, "metadata");
				const char *ns = json_string_value(json_object_get(md, "namespace"));

				if (!strcmp(json_string_value(json_object_get(o, "kind")), f->r.st[i].kind) &&
				    !strcmp(json_string_value(json_object_get(md, "name")), f->r.st[i].name) &&
				    !strcmp(ns ? ns : "", f->r.st[i].ns))
					json_object_set(o, "status", json_object_get(b, "status"));
			}
		}
	}
}

static void test_status_unchanged(void **state)
{
	struct fx f;
	json_t *st, *e;
	size_t i;
	int envoy = 0;

	(void)state;
	fx_load(&f);
	fx_run(&f);
	assert_true(f.r.nst > 0);
	/* Another controller's entry is kept as it was. */
	st = written(&f, "TCPRoute", "default", "app");
	json_array_foreach(json_object_get(st, "parents"), i, e)
		envoy += !strcmp(json_string_value(json_object_get(e, "controllerName")),
				 "gateway.envoyproxy.io/gatewayclass-controller");
	assert_int_equal(envoy, 1);
	apply_writes(&f);
	f.in.now = "2026-06-02T12:05:00Z";
	fx_run(&f);
	for (int j = 0; j < f.r.nst; j++)
		print_message("# still written: %s %s/%s\n", f.r.st[j].kind, f.r.st[j].ns,
			      f.r.st[j].name);
	assert_int_equal(f.r.nst, 0);
	/* A change rewrites that route only, and keeps lastTransitionTime of what stayed. */
	set_weights(f.tcp, "default", "app", 0, 1000001);
	set_weights(f.tcp1a2, "default", "app", 0, 1000001);
	fx_run(&f);
	assert_int_equal(nwrites(&f, "TCPRoute", "default", "app"), 1);
	assert_int_equal(nwrites(&f, "Gateway", "default", "edge"), 1); /* attachedRoutes 1 -> 0 */
	assert_int_equal(f.r.nst, 2);
	st = written(&f, "TCPRoute", "default", "app");
	json_array_foreach(json_object_get(st, "parents"), i, e) {
		json_t *conds = json_object_get(e, "conditions");

		if (strcmp(json_string_value(json_object_get(e, "controllerName")), L4S_GW_CONTROLLER))
			continue;
		assert_string_equal(json_string_value(json_object_get(cond_of(conds, "Accepted"),
								      "lastTransitionTime")), "2026-06-02T12:05:00Z");
		assert_string_equal(json_string_value(json_object_get(cond_of(conds, "ResolvedRefs"),
								      "lastTransitionTime")), NOW);
	}
	fx_free(&f);
}

static void test_listener_conflict(void **state)
{
	struct fx f;
	json_t *ls, *l;

	(void)state;
	fx_load(&f);
	ls = json_object_get(json_object_get(by_name(f.gw, "default", "edge"), "spec"), "listeners");
	json_array_append_new(ls, json_pack("{s:s, s:i, s:s}", "name", "tcp-app-2", "port", 8080,
					    "protocol", "TCP"));
	json_array_append_new(ls, json_pack("{s:s, s:i, s:s}", "name", "http", "port", 80,
					    "protocol", "HTTP"));
	fx_run(&f);
	l = listener_st(&f, "tcp-app");
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(l, "conditions"),
								      "Conflicted"), "status")), "True");
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(
		listener_st(&f, "tcp-app-2"), "conditions"), "Conflicted"), "status")), "True");
	assert_null(svc(&f, "gw_default.edge.tcp-app"));
	assert_non_null(svc(&f, "gw_default.edge.udp-dns")); /* the others still serve */
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "False/NoMatchingParent");
	l = listener_st(&f, "http");
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(l, "conditions"),
								      "Accepted"), "reason")),
			    "UnsupportedProtocol");
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(
		written(&f, "Gateway", "default", "edge"), "conditions"), "Accepted"), "reason")),
		"ListenersNotValid");
	fx_free(&f);
}

static void test_foreign_class(void **state)
{
	struct fx f;
	json_t *st, *e;
	size_t i;

	(void)state;
	fx_load(&f);
	fx_run(&f);
	assert_int_equal(nwrites(&f, "GatewayClass", "", "envoy"), 0);
	assert_int_equal(nwrites(&f, "Gateway", "default", "envoy-edge"), 0);
	for (int j = 0; j < f.r.nsvc; j++)
		assert_null(strstr(f.r.svc[j].spec.name, "envoy"));
	st = written(&f, "TCPRoute", "default", "app");
	json_array_foreach(json_object_get(st, "parents"), i, e)
		if (!strcmp(json_string_value(json_object_get(json_object_get(e, "parentRef"), "name")),
			    "envoy-edge"))
			assert_string_not_equal(json_string_value(json_object_get(e, "controllerName")),
						L4S_GW_CONTROLLER);
	fx_free(&f);
}

static void test_rules_and_no_address(void **state)
{
	struct fx f;
	json_t *rules, *spec;

	(void)state;
	fx_load(&f);
	for (int v = 0; v < 2; v++) {
		rules = json_object_get(json_object_get(by_name(v ? f.tcp : f.tcp1a2, "default", "app"),
							"spec"), "rules");
		json_array_append(rules, json_array_get(rules, 0));
	}
	spec = json_object_get(by_name(f.gw, "default", "edge"), "spec");
	json_object_del(spec, "addresses");
	fx_run(&f);
	assert_string_equal(route_cond(&f, "TCPRoute", "default", "app", "edge", "Accepted"),
			    "False/UnsupportedValue");
	assert_int_equal(f.r.nsvc, 1); /* only the GAMMA route: no VIP, no gateway service */
	assert_string_equal(json_string_value(json_object_get(cond_of(json_object_get(
		written(&f, "Gateway", "default", "edge"), "conditions"), "Programmed"), "reason")),
		"AddressNotAssigned");
	fx_free(&f);
}

static void test_names(void **state)
{
	char a[L4S_NAME_LEN], b[L4S_NAME_LEN];

	(void)state;
	gw_svc_name(a, "gw", "payments-production", "checkout-gateway", "tcp-main");
	gw_svc_name(b, "gw", "payments-production", "checkout-gateway", "tcp-alt");
	assert_true(strlen(a) < L4S_NAME_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(parse_name("service", a), 0);
	assert_non_null(strchr(a, '_'));
	gw_svc_name(b, "gw", "payments-production", "checkout-gateway", "tcp-main");
	assert_string_equal(a, b);
}

/* Every field of every fixture object removed, or given the wrong type, one at a time:
 * translation returns 0 and nothing crashes (run under ASan in make asan). */
static struct fx *g_fx;
static long g_runs;

static void run_once(void)
{
	struct gw_result r;

	assert_int_equal(gw_translate(&g_fx->in, &r), 0);
	gw_result_free(&r);
	g_runs++;
}

static void mutate(json_t *v)
{
	json_t *c, *tmp, *keys;
	const char *k;
	size_t i;

	if (json_is_object(v)) {
		/* keys first: setting a key again moves it to the end of the iteration */
		keys = json_array();
		json_object_foreach(v, k, c)
			json_array_append_new(keys, json_string(k));
		json_array_foreach(keys, i, tmp) {
			const char *key = json_string_value(tmp);

			c = json_incref(json_object_get(v, key));
			json_object_del(v, key);
			run_once();
			json_object_set_new(v, key, json_integer(7));
			run_once();
			json_object_set_new(v, key, json_string("x"));
			run_once();
			json_object_set(v, key, c);
			mutate(c);
			json_decref(c);
		}
		json_decref(keys);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) {
			tmp = json_incref(c);
			json_array_set_new(v, i, json_null());
			run_once();
			json_array_set(v, i, tmp);
			mutate(tmp);
			json_decref(tmp);
		}
	}
}

static void test_fuzz_fields(void **state)
{
	struct fx f;

	(void)state;
	fx_load(&f);
	g_fx = &f;
	json_t *all[] = { f.cls, f.gw, f.tcp, f.tcp1a2, f.udp1a2, f.grants, f.svcs, f.nss };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		mutate(all[i]);
	print_message("# %ld translations\n", g_runs);
	assert_true(g_runs > 500);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_north_south),
		cmocka_unit_test(test_weights_change),
		cmocka_unit_test(test_same_service_summed),
		cmocka_unit_test(test_allowed_routes),
		cmocka_unit_test(test_backend_not_found),
		cmocka_unit_test(test_cross_namespace),
		cmocka_unit_test(test_gamma),
		cmocka_unit_test(test_status_unchanged),
		cmocka_unit_test(test_listener_conflict),
		cmocka_unit_test(test_foreign_class),
		cmocka_unit_test(test_rules_and_no_address),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_fuzz_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
