// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split apply FILE|-: make the state equal to a declarative document. The whole
 * document is validated first (a bad field is named by its path) and checked against
 * the state (frontends, capacity); then every service goes through the one writer. `status --json` output is a
 * valid document (its read-only fields are ignored).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"
#include "writer.h"

#define MAX_FE 64

int help_apply(void)
{
	printf("Usage: l4split apply FILE|- [--prune] [--dry-run]\n"
	       "  Make the services in FILE exist exactly as written (frontends, affinity,\n"
	       "  track weights, backends and their weights):\n"
	       "    {\"services\": [{\"name\": \"web\", \"vip\": \"10.96.0.10:80/tcp\",\n"
	       "                   \"affinity\": \"none\", \"mode\": \"auto\",\n"
	       "                   (\"affinity\": \"client-ip\", \"affinity_timeout\": 10800,)\n"
	       "                   \"tracks\": {\"old\": 99, \"new\": 1},\n"
	       "                   \"backends\": [{\"addr\": \"10.1.0.11:80\", \"track\": \"old\"},\n"
	       "                                {\"addr\": \"10.1.0.12:80\", \"track\": \"new\",\n"
	       "                                 \"weight\": 1}]}]}\n"
	       "  'l4split status --json' prints such a document. The whole document is checked\n"
	       "  before anything is written; an error names the field (services[2].backends[0].addr).\n"
	       "  --prune    also delete the services the document does not list\n"
	       "  --dry-run  check and say what would change, change nothing\n");
	return 0;
}

static void doc_free(struct svc_spec *s, int n)
{
	for (int i = 0; i < n; i++)
		spec_free(&s[i]);
	free(s);
}

/* Keys a field may have: the writable ones, then those `status --json` adds. */
static int keys_known(json_t *obj, const char *path, const char *const *ok)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		int known = 0;

		for (const char *const *o = ok; *o; o++)
			if (!strcmp(*o, k))
				known = 1;
		if (!known)
			return l4s_err(EINVAL, "%s: unknown field \"%s\"", path, k);
	}
	return 0;
}

static int weight_of(json_t *v, const char *path, __u64 *w)
{
	double d;

	if (!json_is_number(v))
		return l4s_err(EINVAL, "%s: expected a number (a weight), got %s", path,
			       json_is_string(v) ? "a string" : "something else");
	d = json_number_value(v);
	if (!(d >= 0) || d > (double)(L4S_WEIGHT_MAX / L4S_WEIGHT_ONE))
		return l4s_err(ERANGE, "%s: weight %g is wrong: from 0 to %llu", path, d,
			       (unsigned long long)(L4S_WEIGHT_MAX / L4S_WEIGHT_ONE));
	*w = (__u64)llround(d * (double)L4S_WEIGHT_ONE);
	if (d > 0 && !*w)
		return l4s_err(ERANGE, "%s: weight %g is wrong: the smallest above 0 is 0.000001",
			       path, d);
	return 0;
}

/* "vip" and/or "frontends" (status prints both, vip = the first), in the order written. */
static int parse_frontends(json_t *js, const char *p, struct svc_spec *s)
{
	json_t *fes = json_array(), *v;
	char path[256];
	size_t i;
	int err = 0;

	if ((v = json_object_get(js, "vip"))) {
		if (!json_is_string(v))
			return json_decref(fes), l4s_err(EINVAL, "%s.vip: expected a string", p);
		json_array_append(fes, v);
	}
	if ((v = json_object_get(js, "frontends"))) {
		if (!json_is_array(v))
			return json_decref(fes), l4s_err(EINVAL, "%s.frontends: expected an array", p);
		json_array_extend(fes, v);
	}
	json_array_foreach(fes, i, v) {
		struct l4s_frontend_key k;
		int dup = 0;

		snprintf(path, sizeof(path), "%s.%s", p, i == 0 && json_object_get(js, "vip") ?
						    "vip" : "frontends[]");
		if (!json_is_string(v) || parse_frontend(json_string_value(v), &k)) {
			err = json_is_string(v) ? l4s_err_prefix("%s", path) :
				l4s_err(EINVAL, "%s: expected VIP:PORT/tcp|udp", path);
			break;
		}
		for (int j = 0; j < s->nfe; j++)
			if (!memcmp(&s->fe[j], &k, sizeof(k)))
				dup = 1;
		if (dup)
			continue;
		if (s->nfe && (k.proto != s->fe[0].proto || k.family != s->fe[0].family)) {
			err = l4s_err(EINVAL, "%s: \"%s\": all frontends of a service share one "
				      "protocol and address family", path, json_string_value(v));
			break;
		}
		if (s->nfe == MAX_FE) {
			err = l4s_err(E2BIG, "%s: at most %d frontends", path, MAX_FE);
			break;
		}
		err = spec_add_frontend(s, &k);
		if (err)
			break;
	}
	json_decref(fes);
	if (!err && !s->nfe)
		err = l4s_err(EINVAL, "%s: no frontend: give \"vip\": \"VIP:PORT/tcp\"", p);
	return err;
}

/* affinity, mode, table_size, owner. */
static int parse_options(json_t *js, const char *p, struct svc_spec *s)
{
	const char *str = json_string_value(json_object_get(js, "affinity"));
	json_t *v;

	if (json_object_get(js, "affinity") && (!str || (strcmp(str, "none") &&
							 strcmp(str, "client-ip"))))
		return l4s_err(EINVAL, "%s.affinity: expected \"none\" or \"client-ip\"", p);
	if (str && !strcmp(str, "client-ip"))
		s->flags |= L4S_SVC_F_AFFINITY_CLIENT_IP;
	if ((v = json_object_get(js, "affinity_timeout"))) {
		json_int_t t = json_integer_value(v);

		if (!json_is_integer(v) || t < 0 || t > L4S_AFFINITY_TIMEOUT_MAX)
			return l4s_err(EINVAL, "%s.affinity_timeout: expected seconds from 0 to %d",
				       p, L4S_AFFINITY_TIMEOUT_MAX);
		if (t && !(s->flags & L4S_SVC_F_AFFINITY_CLIENT_IP))
			return l4s_err(EINVAL, "%s.affinity_timeout: needs \"affinity\": "
				       "\"client-ip\"", p);
		s->affinity_timeout = (__u32)t;
	}
	s->mode = L4S_MODE_AUTO;
	if (json_object_get(js, "mode")) {
		str = json_string_value(json_object_get(js, "mode"));
		if (!str || parse_mode(str, &s->mode))
			return l4s_err(EINVAL, "%s.mode: expected \"auto\", \"nat\", \"snat\" or "
				       "\"dsr\"", p);
	}
	s->table_size = L4S_TABLE_DEFAULT;
	if ((v = json_object_get(js, "table_size"))) {
		json_int_t t = json_integer_value(v);

		if (!json_is_integer(v) || t < 3 || t > L4S_TABLE_MAX || !is_prime((__u32)t))
			return l4s_err(EINVAL, "%s.table_size: expected a prime from 3 to %d", p,
				       L4S_TABLE_MAX);
		s->table_size = (__u32)t;
	}
	/* Who keeps the service: "agent" (status prints it) survives a restore. */
	if ((v = json_object_get(js, "owner"))) {
		str = json_string_value(v);
		if (!str || (strcmp(str, "agent") && strcmp(str, "cli")))
			return l4s_err(EINVAL, "%s.owner: expected \"cli\" or \"agent\"", p);
		if (!strcmp(str, "agent"))
			s->flags |= L4S_SVC_F_AGENT;
	}
	return 0;
}

/* "tracks": {"NAME": WEIGHT}: every track of the service, with or without backends. */
static int parse_tracks(json_t *tracks, const char *p, struct svc_spec *s)
{
	const char *tn;
	char path[256];
	json_t *v;

	if (tracks && !json_is_object(tracks))
		return l4s_err(EINVAL, "%s.tracks: expected an object {\"TRACK\": WEIGHT}", p);
	json_object_foreach(tracks, tn, v) {
		__u64 w;
		int err;

		snprintf(path, sizeof(path), "%s.tracks.%s", p, tn);
		if (parse_name("track", tn))
			return l4s_err_prefix("%s", path);
		err = weight_of(v, path, &w);
		if (err)
			return err;
		if (!spec_track_add(s, tn, w))
			return l4s_err(ENOMEM, "out of memory");
	}
	return 0;
}

static int parse_backend(json_t *v, const char *path, json_t *tracks, const char *p,
			 struct svc_spec *s)
{
	static const char *const be_keys[] = { "addr", "track", "weight", "share", "slots",
					       "flows", "id", NULL };
	const char *str, *tr;
	struct l4s_addr addr;
	__u8 family;
	__u16 port;
	__u64 weight = L4S_WEIGHT_ONE;
	char wpath[300];
	int err;

	if (!json_is_object(v))
		return l4s_err(EINVAL, "%s: expected an object", path);
	err = keys_known(v, path, be_keys);
	if (err)
		return err;
	str = json_string_value(json_object_get(v, "addr"));
	if (!str || parse_addr_port(str, &addr, &family, &port))
		return str ? l4s_err_prefix("%s.addr", path) :
			     l4s_err(EINVAL, "%s.addr: missing (\"ADDR:PORT\")", path);
	if (family != s->fe[0].family)
		return l4s_err(EINVAL, "%s.addr: %s is not of the service's address family", path,
			       str);
	tr = json_object_get(v, "track") ? json_string_value(json_object_get(v, "track")) :
					   "default";
	if (!tr || parse_name("track", tr))
		return tr ? l4s_err_prefix("%s.track", path) :
			    l4s_err(EINVAL, "%s.track: expected a string", path);
	if (json_object_get(v, "weight")) {
		snprintf(wpath, sizeof(wpath), "%s.weight", path);
		err = weight_of(json_object_get(v, "weight"), wpath, &weight);
		if (err)
			return err;
	}
	if (!spec_track(s, tr)) {
		if (tracks)
			return l4s_err(EINVAL, "%s.track: \"%s\" has no weight in %s.tracks", path, tr,
				       p);
		/* no "tracks" at all: every track weighs 1 */
		if (!spec_track_add(s, tr, L4S_WEIGHT_ONE))
			return l4s_err(ENOMEM, "out of memory");
	}
	if (!spec_backend_add(s, &addr, family, port, tr, weight))
		return l4s_err(ENOMEM, "out of memory");
	return 0;
}

/* Parse and check one service; @p is its path ("services[3]"). */
static int parse_svc(json_t *js, const char *p, struct svc_spec *s)
{
	static const char *const svc_keys[] = { "name", "vip", "frontends", "affinity",
						"affinity_timeout", "mode",
						"table_size", "owner", "tracks", "backends",
						"track_shares", NULL };
	json_t *tracks, *bes, *v;
	const char *str;
	char path[256];
	size_t i;
	int err;

	spec_init(s, NULL);
	if (!json_is_object(js))
		return l4s_err(EINVAL, "%s: expected an object", p);
	err = keys_known(js, p, svc_keys);
	if (err)
		return err;
	str = json_string_value(json_object_get(js, "name"));
	if (!str)
		return l4s_err(EINVAL, "%s.name: missing (a string)", p);
	if (parse_name("service", str))
		return l4s_err_prefix("%s.name", p);
	snprintf(s->name, sizeof(s->name), "%s", str);
	err = parse_frontends(js, p, s);
	if (!err)
		err = parse_options(js, p, s);
	tracks = json_object_get(js, "tracks");
	if (!err)
		err = parse_tracks(tracks, p, s);
	if (err)
		return err;
	bes = json_object_get(js, "backends");
	if (bes && !json_is_array(bes))
		return l4s_err(EINVAL, "%s.backends: expected an array", p);
	if (json_array_size(bes) > L4S_MAX_BACKENDS_PER_SVC)
		return l4s_err(E2BIG, "%s.backends: %zu backends, a service may have at most %d", p,
			       json_array_size(bes), L4S_MAX_BACKENDS_PER_SVC);
	json_array_foreach(bes, i, v) {
		snprintf(path, sizeof(path), "%s.backends[%zu]", p, i);
		err = parse_backend(v, path, tracks, p, s);
		if (err)
			return err;
	}
	/* The rest (backends listed twice, limits) as the writer sees it, named by path. */
	if (spec_validate(s))
		return l4s_err_prefix("%s", p);
	return 0;
}

/* Names and frontends of the document, sorted, to find duplicates and services by name
 * in O(log n) (30,000 services were 8 s of dry run with pairwise checks). */
struct doc_index {
	const struct svc_spec **by_name;
	struct doc_fe { struct l4s_frontend_key k; int svc; } *fe;
	int n, nfe;
};

static int cmp_by_name(const void *a, const void *b)
{
	return strncmp((*(const struct svc_spec *const *)a)->name,
		       (*(const struct svc_spec *const *)b)->name, L4S_NAME_LEN);
}

static int cmp_doc_fe(const void *a, const void *b)
{
	const struct doc_fe *x = a, *y = b;
	int c = memcmp(&x->k, &y->k, sizeof(x->k));

	return c ? c : x->svc - y->svc;
}

static void doc_index_free(struct doc_index *x)
{
	free(x->by_name);
	free(x->fe);
	memset(x, 0, sizeof(*x));
}

static int doc_index_build(struct doc_index *x, const struct svc_spec *s, int n)
{
	int nfe = 0;

	memset(x, 0, sizeof(*x));
	for (int i = 0; i < n; i++)
		nfe += s[i].nfe;
	x->by_name = calloc((size_t)n + 1, sizeof(*x->by_name));
	x->fe = calloc((size_t)nfe + 1, sizeof(*x->fe));
	if (!x->by_name || !x->fe) {
		doc_index_free(x);
		return l4s_err(ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		x->by_name[i] = &s[i];
		for (int j = 0; j < s[i].nfe; j++) {
			x->fe[x->nfe].k = s[i].fe[j];
			x->fe[x->nfe++].svc = i;
		}
	}
	x->n = n;
	qsort(x->by_name, (size_t)n, sizeof(*x->by_name), cmp_by_name);
	qsort(x->fe, (size_t)x->nfe, sizeof(*x->fe), cmp_doc_fe);
	for (int i = 1; i < n; i++)
		if (!cmp_by_name(&x->by_name[i - 1], &x->by_name[i])) {
			const struct svc_spec *a = x->by_name[i - 1], *b = x->by_name[i];

			if (a > b) {
				const struct svc_spec *t = a;

				a = b;
				b = t;
			}
			doc_index_free(x);
			return l4s_err(EEXIST, "services[%d].name: \"%s\" is also services[%d]",
				       (int)(b - s), b->name, (int)(a - s));
		}
	for (int i = 1; i < x->nfe; i++)
		if (!memcmp(&x->fe[i - 1].k, &x->fe[i].k, sizeof(x->fe[i].k))) {
			char buf[96];
			int a = x->fe[i - 1].svc, b = x->fe[i].svc;

			doc_index_free(x);
			return l4s_err(EEXIST, "services[%d]: frontend %s is also one of services[%d] "
				       "(\"%s\")", b, fmt_frontend(buf, &s[b].fe[0]) ? buf : "", a,
				       s[a].name);
		}
	return 0;
}

static const struct svc_spec *doc_find(const struct doc_index *x, const char *name)
{
	struct svc_spec key;
	const struct svc_spec *kp = &key, **hit;

	snprintf(key.name, sizeof(key.name), "%s", name);
	hit = bsearch(&kp, x->by_name, (size_t)x->n, sizeof(*x->by_name), cmp_by_name);
	return hit ? *hit : NULL;
}

static int parse_doc(json_t *doc, struct svc_spec **out, int *n, struct doc_index *x)
{
	static const char *const top_keys[] = { "services", "attached", "cgroups",
						"flow_table_size", "backend_capacity", NULL };
	json_t *svcs = json_object_get(doc, "services"), *js;
	struct svc_spec *s;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	if (!json_is_object(doc))
		return l4s_err(EINVAL, "the document is not a JSON object");
	err = keys_known(doc, "the document", top_keys);
	if (err)
		return err;
	if (!json_is_array(svcs))
		return l4s_err(EINVAL, "services: missing (an array of services)");
	s = calloc(json_array_size(svcs) + 1, sizeof(*s));
	if (!s)
		return l4s_err(ENOMEM, "out of memory");
	json_array_foreach(svcs, i, js) {
		char p[64];

		snprintf(p, sizeof(p), "services[%zu]", i);
		err = parse_svc(js, p, &s[*n]);
		(*n)++;
		if (err)
			goto bad;
	}
	err = doc_index_build(x, s, *n);
	if (err)
		goto bad;
	*out = s;
	return 0;
bad:
	doc_free(s, *n);
	*n = 0;
	return err;
}

/* Checks against the live state: frontends owned by services the document keeps. */
static int check_state(struct l4s_state *st, const struct svc_spec *s, int n,
		       const struct doc_index *x, int prune)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < s[i].nfe; j++) {
			struct l4s_service owner;
			char buf[96];
			__u32 oid;

			if (state_frontend_svc(st, &s[i].fe[j], &oid) || state_service(st, oid, &owner))
				continue;
			if (!strncmp(owner.name, s[i].name, L4S_NAME_LEN))
				continue;
			if (prune && !doc_find(x, owner.name))
				continue; /* its owner is deleted first */
			if (doc_find(x, owner.name)) {
				/* It moves from one listed service to another: the order of writes
				 * would matter; ask for two steps instead. */
				l4s_err(EEXIST, "services[%d]: frontend %s belongs to service \"%s\" "
					"now; moving a frontend between services takes two applies",
					i, fmt_frontend(buf, &s[i].fe[j]), owner.name);
				return -EEXIST;
			}
			l4s_err(EEXIST, "services[%d]: frontend %s is used by service \"%s\", which "
				"the document does not list", i, fmt_frontend(buf, &s[i].fe[j]),
				owner.name);
			l4s_hint("add --prune to delete the services the document does not list");
			return -EEXIST;
		}
	return 0;
}

/* Will the services and backends fit? Counted before anything is written. */
static int check_capacity(struct l4s_state *st, const struct svc_spec *s, int n,
			  const struct doc_index *x, int prune)
{
	const struct l4s_backend *all = state_backends(st);
	const struct l4s_service *svcs = state_services(st);
	long used = 0, want = 0, svc_used = 0, svc_new = 0;

	if (!all || !svcs)
		return -EIO;
	for (__u32 i = 0; i < L4S_MAX_SERVICES; i++) {
		if (!(svcs[i].flags & L4S_SVC_F_IN_USE))
			continue;
		/* Listed ones are updated in place; unlisted ones stay unless pruned. */
		if (!doc_find(x, svcs[i].name) && !prune)
			svc_used++;
	}
	for (int i = 0; i < n; i++) {
		__u32 id;

		if (svc_lookup(st, s[i].name, &id))
			svc_new++;
		else
			svc_used++;
	}
	if (svc_used + svc_new > L4S_MAX_SERVICES) {
		l4s_err(ENOSPC, "the document needs %ld new services and %ld stay in use: more than "
			"the %d service slots", svc_new, svc_used - (n - svc_new), L4S_MAX_SERVICES);
		l4s_hint("--prune what is not listed, or apply fewer services");
		return -ENOSPC;
	}
	for (__u32 i = 0; i < st->be_max; i++) {
		const struct l4s_service *o;

		if (!(all[i].flags & L4S_BE_F_IN_USE))
			continue;
		o = all[i].svc_id < L4S_MAX_SERVICES ? &svcs[all[i].svc_id] : NULL;
		/* Backends of listed services are replaced by the document's; of unlisted
		 * ones, they stay unless pruned. */
		if (o && (doc_find(x, o->name) || prune))
			continue;
		used++;
	}
	for (int i = 0; i < n; i++)
		want += s[i].nbe;
	if (used + want > st->be_max) {
		l4s_err(ENOSPC, "the document needs %ld backends and %ld stay in use: more than "
			"the %u backend slots", want, used, st->be_max);
		l4s_hint("split the services over fewer backends, --prune what is not listed, or "
			 "make the state with room for more (detach --all --purge, then attach "
			 "--backends N)");
		return -ENOSPC;
	}
	return 0;
}

struct counts {
	int created, updated, unchanged, deleted;
	json_t *names; /* {"created": [...], "updated": [...], "deleted": [...]} */
};

static void count_name(struct counts *c, const char *what, const char *name)
{
	json_t *a = json_object_get(c->names, what);

	if (!a) {
		a = json_array();
		json_object_set_new(c->names, what, a);
	}
	json_array_append_new(a, json_string(name));
}

static void count_result(struct counts *c, const struct svc_spec *s, const struct write_result *r)
{
	if (r->created) {
		c->created++;
		count_name(c, "created", s->name);
	} else if (r->changed) {
		c->updated++;
		count_name(c, "updated", s->name);
	} else {
		c->unchanged++;
	}
	note_starved(s, r);
}

static int apply_one(struct l4s_state *st, const struct svc_spec *s, int dry,
		     struct counts *c)
{
	struct write_opts wo = { .how = WRITE_UPSERT, .dry_run = dry };
	struct write_result r;
	int err = service_apply(st, s, &wo, &r);

	if (!err)
		count_result(c, s, &r);
	return err;
}

/* Every service of the document through the one writer, new ones together (their
 * tables go in with one outer-map update per batch). */
static int apply_all(struct l4s_state *st, const struct svc_spec *s, int n, int dry,
		     struct counts *c)
{
	struct write_opts wo = { .how = WRITE_UPSERT, .dry_run = dry };
	struct write_result *r = calloc((size_t)n + 1, sizeof(*r));
	int failed = -1, err;

	if (!r)
		return l4s_err(ENOMEM, "out of memory");
	l4s_err_clear();
	err = service_apply_many(st, s, n, &wo, r, &failed);
	for (int i = 0; i < (err ? failed : n); i++)
		count_result(c, &s[i], &r[i]);
	free(r);
	if (err) {
		char msg[512], hint[512];

		snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
		snprintf(hint, sizeof(hint), "%s", l4s_errhint() ? l4s_errhint() : "");
		l4s_err(err, "services[%d] (\"%s\"): %s%s", failed, failed >= 0 ? s[failed].name : "?",
			msg, dry ? "" : "; the services before it are applied, the rest are not");
		if (hint[0])
			l4s_hint("%s", hint);
	}
	return err;
}

static void print_names(const struct counts *c, const char *what)
{
	json_t *a = json_object_get(c->names, what), *v;
	size_t i;

	if (!json_array_size(a))
		return;
	printf("  %s:", what);
	json_array_foreach(a, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

int do_apply(int argc, char **argv)
{
	const char *file = NULL;
	int prune = 0, dry = 0, n = 0, rc = 1;
	struct svc_spec *s = NULL;
	struct counts c = { .names = json_object() };
	struct doc_index x = {};
	struct l4s_state st;
	json_error_t jerr;
	json_t *doc;
	__u32 *ids = NULL;
	int nids = 0;

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			json_decref(c.names);
			return help_apply();
		}
		if (!strcmp(argv[i], "--prune"))
			prune = 1;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = 1;
		else if (argv[i][0] == '-' && strcmp(argv[i], "-"))
			rc = usage_error("unknown apply option \"%s\"", argv[i]);
		else if (file)
			rc = usage_error("apply takes one FILE (or - for stdin)");
		else
			file = argv[i];
		if (rc == EXIT_USAGE) {
			json_decref(c.names);
			return rc;
		}
	}
	if (!file) {
		json_decref(c.names);
		usage_help(help_apply);
		return usage_error("apply needs a FILE (or - for stdin)");
	}
	doc = json_load_arg(file, &jerr);
	if (!doc && jerr.line < 0) { /* could not be read: exit 1, said by json_load_arg */
		json_decref(c.names);
		return cmd_fail(1);
	}
	if (!doc) {
		json_decref(c.names);
		l4s_err(EINVAL, "%s: line %d, column %d: %s", strcmp(file, "-") ? file : "stdin",
			jerr.line, jerr.column, jerr.text);
		return cmd_fail(EXIT_USAGE);
	}
	if (parse_doc(doc, &s, &n, &x)) {
		json_decref(c.names);
		json_decref(doc);
		return cmd_fail(EXIT_USAGE);
	}
	json_decref(doc);
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK)) {
		doc_index_free(&x);
		doc_free(s, n);
		json_decref(c.names);
		return cmd_fail(1);
	}
	if (check_state(&st, s, n, &x, prune) || check_capacity(&st, s, n, &x, prune) ||
	    svc_list(&st, &ids, &nids))
		goto out;
	/* A dry run asks the writer about every service, as the real run would, before
	 * the real run writes anything: what it refuses is refused up front. */
	for (int i = 0; i < n; i++) {
		struct counts dc = { .names = json_object() };
		int err;

		l4s_err_clear(); /* a reason left by another service is not this one's */
		err = apply_one(&st, &s[i], 1, &dc);
		json_decref(dc.names);
		if (err) {
			l4s_err_prefix("services[%d] (\"%s\")", i, s[i].name);
			goto out;
		}
	}
	if (prune)
		for (int i = 0; i < nids; i++) {
			struct l4s_service sv;

			if (state_service(&st, ids[i], &sv))
				continue;
			if (doc_find(&x, sv.name))
				continue;
			if (!dry && service_delete(&st, ids[i], NULL, NULL))
				goto out;
			c.deleted++;
			count_name(&c, "deleted", sv.name);
		}
	if (apply_all(&st, s, n, dry, &c))
		goto out;
	rc = 0;
	if (l4s_json) {
		json_t *o = json_pack("{s:b, s:i, s:i, s:i, s:i}", "dry_run", dry, "created",
				      c.created, "updated", c.updated, "unchanged", c.unchanged,
				      "deleted", c.deleted);

		json_object_set(o, "services", c.names);
		json_print(o);
	} else {
		printf("%s%d created, %d updated, %d unchanged, %d deleted\n", dry ? "dry run: " : "",
		       c.created, c.updated, c.unchanged, c.deleted);
		if (dry) {
			print_names(&c, "created");
			print_names(&c, "updated");
			print_names(&c, "deleted");
		}
	}
out:
	free(ids);
	state_close(&st);
	doc_index_free(&x);
	doc_free(s, n);
	json_decref(c.names);
	return rc ? cmd_fail(1) : 0;
}
