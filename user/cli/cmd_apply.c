// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split apply FILE|-: make the state equal to a declarative document. The whole
 * document is validated first (a bad field is named by its path); then every
 * service is written with the CLI's transactions. `status --json` output is a
 * valid document (its read-only fields are ignored).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cmd.h"
#include "err.h"
#include "k8s.h"
#include "model.h"
#include "parse.h"
#include "reconcile.h"
#include "state.h"
#include "svc.h"

#define MAX_FE 64

struct doc_be {
	struct l4s_addr addr;
	__u8 family;
	__u16 port;
	char track[L4S_NAME_LEN];
	__u64 weight;
};

struct doc_track {
	char name[L4S_NAME_LEN];
	__u64 weight;
};

struct doc_svc {
	char name[L4S_NAME_LEN];
	struct l4s_frontend_key fe[MAX_FE];
	int nfe;
	int affinity;
	__u8 mode;
	__u32 table_size;
	struct doc_track *tr;
	int ntr;
	struct doc_be *be;
	int nbe;
};

int help_apply(void)
{
	printf("Usage: l4split apply FILE|- [--prune] [--dry-run]\n"
	       "  Make the services in FILE exist exactly as written (frontends, affinity,\n"
	       "  track weights, backends and their weights):\n"
	       "    {\"services\": [{\"name\": \"web\", \"vip\": \"10.96.0.10:80/tcp\",\n"
	       "                   \"affinity\": \"none\", \"mode\": \"auto\",\n"
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

static void doc_free(struct doc_svc *s, int n)
{
	for (int i = 0; i < n; i++) {
		free(s[i].tr);
		free(s[i].be);
	}
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
	return 0;
}

/* Parse and check one service; @p is its path ("services[3]"). */
static int parse_svc(json_t *js, const char *p, struct doc_svc *s)
{
	static const char *const svc_keys[] = { "name", "vip", "frontends", "affinity", "mode",
						"table_size",
						"tracks", "backends", "track_shares", NULL };
	static const char *const be_keys[] = { "addr", "track", "weight", "share", "slots",
					       "flows", "id", NULL };
	json_t *v, *fes, *tracks, *bes;
	const char *str, *tn;
	char path[256];
	size_t i;
	int err;

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

	/* Frontends: "vip" and/or "frontends" (status prints both, vip = the first). */
	fes = json_array();
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
		s->fe[s->nfe++] = k;
	}
	json_decref(fes);
	if (err)
		return err;
	if (!s->nfe)
		return l4s_err(EINVAL, "%s: no frontend: give \"vip\": \"VIP:PORT/tcp\"", p);

	str = json_string_value(json_object_get(js, "affinity"));
	if (json_object_get(js, "affinity") && (!str || (strcmp(str, "none") &&
							 strcmp(str, "client-ip"))))
		return l4s_err(EINVAL, "%s.affinity: expected \"none\" or \"client-ip\"", p);
	s->affinity = str && !strcmp(str, "client-ip");
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

	tracks = json_object_get(js, "tracks");
	if (tracks && !json_is_object(tracks))
		return l4s_err(EINVAL, "%s.tracks: expected an object {\"TRACK\": WEIGHT}", p);
	s->tr = calloc(json_object_size(tracks) + 1, sizeof(*s->tr));
	if (!s->tr)
		return l4s_err(ENOMEM, "out of memory");
	json_object_foreach(tracks, tn, v) {
		snprintf(path, sizeof(path), "%s.tracks.%s", p, tn);
		if (parse_name("track", tn))
			return l4s_err_prefix("%s", path);
		err = weight_of(v, path, &s->tr[s->ntr].weight);
		if (err)
			return err;
		snprintf(s->tr[s->ntr++].name, L4S_NAME_LEN, "%s", tn);
	}

	bes = json_object_get(js, "backends");
	if (bes && !json_is_array(bes))
		return l4s_err(EINVAL, "%s.backends: expected an array", p);
	if (json_array_size(bes) > L4S_MAX_BACKENDS_PER_SVC)
		return l4s_err(E2BIG, "%s.backends: %zu backends, a service may have at most %d", p,
			       json_array_size(bes), L4S_MAX_BACKENDS_PER_SVC);
	s->be = calloc(json_array_size(bes) + 1, sizeof(*s->be));
	if (!s->be)
		return l4s_err(ENOMEM, "out of memory");
	json_array_foreach(bes, i, v) {
		struct doc_be *b = &s->be[s->nbe];
		const char *tr;
		int known = 0;

		snprintf(path, sizeof(path), "%s.backends[%zu]", p, i);
		if (!json_is_object(v))
			return l4s_err(EINVAL, "%s: expected an object", path);
		err = keys_known(v, path, be_keys);
		if (err)
			return err;
		str = json_string_value(json_object_get(v, "addr"));
		if (!str || parse_addr_port(str, &b->addr, &b->family, &b->port))
			return str ? l4s_err_prefix("%s.addr", path) :
				     l4s_err(EINVAL, "%s.addr: missing (\"ADDR:PORT\")", path);
		if (b->family != s->fe[0].family)
			return l4s_err(EINVAL, "%s.addr: %s is not of the service's address family",
				       path, str);
		for (int j = 0; j < s->nbe; j++)
			if (!memcmp(&s->be[j].addr, &b->addr, sizeof(b->addr)) &&
			    s->be[j].port == b->port)
				return l4s_err(EEXIST, "%s.addr: %s is listed twice", path, str);
		tr = json_object_get(v, "track") ? json_string_value(json_object_get(v, "track")) :
						   "default";
		if (!tr || parse_name("track", tr))
			return tr ? l4s_err_prefix("%s.track", path) :
				    l4s_err(EINVAL, "%s.track: expected a string", path);
		snprintf(b->track, sizeof(b->track), "%s", tr);
		b->weight = L4S_WEIGHT_ONE;
		if (json_object_get(v, "weight")) {
			snprintf(path + strlen(path), sizeof(path) - strlen(path), ".weight");
			err = weight_of(json_object_get(v, "weight"), path, &b->weight);
			if (err)
				return err;
		}
		for (int t = 0; t < s->ntr; t++)
			if (!strcmp(s->tr[t].name, tr))
				known = 1;
		if (!known && tracks)
			return l4s_err(EINVAL, "%s.backends[%zu].track: \"%s\" has no weight in %s.tracks",
				       p, i, tr, p);
		if (!known) { /* no "tracks" at all: every track weighs 1 */
			struct doc_track *nt = realloc(s->tr, sizeof(*nt) * (size_t)(s->ntr + 1));

			if (!nt)
				return l4s_err(ENOMEM, "out of memory");
			s->tr = nt;
			snprintf(s->tr[s->ntr].name, L4S_NAME_LEN, "%s", tr);
			s->tr[s->ntr++].weight = L4S_WEIGHT_ONE;
		}
		s->nbe++;
	}
	return 0;
}

static int parse_doc(json_t *doc, struct doc_svc **out, int *n)
{
	static const char *const top_keys[] = { "services", "attached", "cgroups",
						"flow_table_size", NULL };
	json_t *svcs = json_object_get(doc, "services"), *js;
	struct doc_svc *s;
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
		for (int j = 0; j < *n - 1; j++) {
			if (!strcmp(s[j].name, s[*n - 1].name)) {
				err = l4s_err(EEXIST, "%s.name: \"%s\" is also services[%d]", p,
					      s[j].name, j);
				goto bad;
			}
			for (int a = 0; a < s[j].nfe; a++)
				for (int b = 0; b < s[*n - 1].nfe; b++)
					if (!memcmp(&s[j].fe[a], &s[*n - 1].fe[b], sizeof(s[j].fe[a]))) {
						char buf[96];

						err = l4s_err(EEXIST, "%s: frontend %s is also one of "
							      "services[%d] (\"%s\")", p,
							      fmt_frontend(buf, &s[j].fe[a]), j, s[j].name);
						goto bad;
					}
		}
	}
	*out = s;
	return 0;
bad:
	doc_free(s, *n);
	*n = 0;
	return err;
}

static const struct doc_svc *doc_find(const struct doc_svc *s, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strncmp(s[i].name, name, L4S_NAME_LEN))
			return &s[i];
	return NULL;
}

/* Checks against the live state: frontends owned by services the document keeps. */
static int check_state(struct l4s_state *st, const struct doc_svc *s, int n, int prune)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < s[i].nfe; j++) {
			struct l4s_frontend f;
			struct l4s_service owner;
			char buf[96];

			if (bpf_map_lookup_elem(st->frontends, &s[i].fe[j], &f) ||
			    bpf_map_lookup_elem(st->services, &f.svc_id, &owner))
				continue;
			if (!strncmp(owner.name, s[i].name, L4S_NAME_LEN))
				continue;
			if (prune && !doc_find(s, n, owner.name))
				continue; /* its owner is deleted first */
			if (doc_find(s, n, owner.name)) {
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

/* Does @m (as edited) differ from what the maps hold: backends, their tracks and
 * weights, track weights? */
static int model_differs(struct l4s_state *st, const struct model *m)
{
	struct model cur;
	int nbe = 0, ntr = 0, differs = 0;

	if (model_load(st, m->id, &cur))
		return 1;
	for (int i = 0; i < m->nbe && !differs; i++) {
		const struct model_backend *b = &m->be[i];
		const struct model_backend *c;

		if (b->removed)
			continue;
		nbe++;
		c = model_backend_find(&cur, &b->be.addr, b->be.family, ntohs(b->be.port));
		differs = !c || c->weight != b->weight || strcmp(c->be.track, b->be.track);
	}
	for (int t = 0; t < m->ntr && !differs; t++) {
		struct model_track *c;

		if (m->tr[t].removed)
			continue;
		ntr++;
		c = model_track(&cur, m->tr[t].name);
		differs = !c || c->weight != m->tr[t].weight;
	}
	differs |= nbe != cur.nbe || ntr != cur.ntr;
	model_free(&cur);
	return differs;
}

/* Will the backends fit? Counted before anything is written. */
static int check_capacity(struct l4s_state *st, const struct doc_svc *s, int n, int prune)
{
	const struct l4s_backend *all = state_backends(st);
	const struct l4s_service *svcs = state_services(st);
	long used = 0, want = 0;

	if (!all || !svcs)
		return -EIO;
	for (__u32 i = 0; i < L4S_MAX_BACKENDS; i++) {
		const struct l4s_service *o;

		if (!(all[i].flags & L4S_BE_F_IN_USE))
			continue;
		o = all[i].svc_id < L4S_MAX_SERVICES ? &svcs[all[i].svc_id] : NULL;
		/* Backends of listed services are replaced by the document's; of unlisted
		 * ones, they stay unless pruned. */
		if (o && (doc_find(s, n, o->name) || prune))
			continue;
		used++;
	}
	for (int i = 0; i < n; i++)
		want += s[i].nbe;
	if (used + want > L4S_MAX_BACKENDS) {
		l4s_err(ENOSPC, "the document needs %ld backends and %ld stay in use: more than "
			"the %d backend slots", want, used, L4S_MAX_BACKENDS);
		l4s_hint("split the services over fewer backends, or --prune what is not listed");
		return -ENOSPC;
	}
	return 0;
}

struct counts {
	int created, updated, unchanged, deleted;
};

static int apply_svc(struct l4s_state *st, const struct doc_svc *d, int dry, struct counts *c)
{
	struct model m = {};
	struct reconcile rec = {};
	struct k8s_result kr = {};
	__u32 id, flags = d->affinity ? L4S_SVC_F_AFFINITY_CLIENT_IP : 0;
	int err, created = 0, changed = 0;

	if (svc_find(st, d->name, &id)) {
		l4s_err_clear();
		if (dry) {
			c->created++;
			return 0;
		}
		/* The record only: the table is built once, by the commit below, and the
		 * frontends come last, so the service is never reachable half-made. */
		err = svc_reserve(st, d->name, d->fe, d->nfe, flags, d->table_size, &id);
		if (err)
			return err;
		created = 1;
	}
	err = model_load(st, id, &m);
	if (err)
		return err;
	if (m.svc.table_size != d->table_size) {
		l4s_err(EINVAL, "service \"%s\": table_size %u cannot change to %u in place", d->name,
			m.svc.table_size, d->table_size);
		l4s_hint("delete the service first ('l4split service del %s'), or keep its size",
			 d->name);
		model_free(&m);
		return -EINVAL;
	}
	if ((m.svc.flags & L4S_SVC_F_AFFINITY_CLIENT_IP) != flags) {
		changed = 1;
		flags |= m.svc.flags & ~(L4S_SVC_F_IN_USE | L4S_SVC_F_AFFINITY_CLIENT_IP);
		if (!dry && (err = svc_set_flags(st, id, flags)))
			goto out;
	}
	if (!created && !svc_frontends_equal(&m, d->fe, d->nfe)) {
		changed = 1;
		/* The model follows, or the commit below would name the old VIP in the
		 * backend index again. */
		if (!dry && ((err = svc_set_frontends(st, id, d->fe, d->nfe)) ||
			     (err = model_set_frontends(&m, d->fe, d->nfe))))
			goto out;
	}
	if (m.svc.mode != d->mode) {
		changed = 1;
		if (!dry && (err = svc_set_mode(st, id, d->mode)))
			goto out;
		m.svc.mode = d->mode; /* the commit below keeps l4s_bindex in step */
	}
	/* Backends: the document's list is the whole list. */
	kr.ep = calloc((size_t)d->nbe + 1, sizeof(*kr.ep));
	if (!kr.ep) {
		err = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < d->nbe; i++) {
		kr.ep[i].addr = d->be[i].addr;
		kr.ep[i].family = d->be[i].family;
		kr.ep[i].port = d->be[i].port;
		kr.ep[i].state = EP_READY;
		memcpy(kr.ep[i].track, d->be[i].track, L4S_NAME_LEN);
	}
	kr.n = d->nbe;
	err = reconcile_backends(st, &m, kr.ep, kr.n, NULL, &rec);
	if (err)
		goto out;
	for (int i = 0; i < m.nbe; i++) {
		struct model_backend *b = &m.be[i];

		for (int j = 0; j < d->nbe && !b->removed; j++)
			if (!memcmp(&b->be.addr, &d->be[j].addr, sizeof(b->be.addr)) &&
			    ntohs(b->be.port) == d->be[j].port)
				b->weight = d->be[j].weight;
	}
	for (int t = 0; t < d->ntr; t++) {
		struct model_track *mt = model_track(&m, d->tr[t].name);

		if (!mt && !model_track_add(&m, d->tr[t].name, d->tr[t].weight)) {
			err = l4s_err(ENOMEM, "out of memory");
			goto out;
		}
		if (mt)
			mt->weight = d->tr[t].weight;
	}
	reconcile_prune_tracks(&m, &rec);
	changed |= created || model_differs(st, &m);
	if (changed && !dry)
		err = model_commit(st, &m);
	if (!err && created)
		err = svc_set_frontends(st, id, d->fe, d->nfe);
	if (!err) {
		if (created)
			c->created++;
		else if (changed)
			c->updated++;
		else
			c->unchanged++;
	}
out:
	if (err && created) { /* take back what this service wrote: none of it went live */
		char msg[512], hint[512];

		snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
		snprintf(hint, sizeof(hint), "%s", l4s_errhint() ? l4s_errhint() : "");
		svc_delete(st, id, NULL, NULL);
		l4s_err(err, "%s", msg);
		if (hint[0])
			l4s_hint("%s", hint);
	}
	free(kr.ep);
	reconcile_free(&rec);
	model_free(&m);
	return err;
}

int do_apply(int argc, char **argv)
{
	const char *file = NULL;
	int prune = 0, dry = 0, n = 0, rc = 1;
	struct doc_svc *s = NULL;
	struct counts c = {};
	struct l4s_state st;
	json_error_t jerr;
	json_t *doc;
	__u32 *ids = NULL;
	int nids = 0;

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_apply();
		if (!strcmp(argv[i], "--prune"))
			prune = 1;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = 1;
		else if (argv[i][0] == '-' && strcmp(argv[i], "-"))
			return usage_error("unknown apply option \"%s\"", argv[i]);
		else if (file)
			return usage_error("apply takes one FILE (or - for stdin)");
		else
			file = argv[i];
	}
	if (!file) {
		usage_help(help_apply);
		return usage_error("apply needs a FILE (or - for stdin)");
	}
	doc = json_load_arg(file, &jerr);
	if (!doc && jerr.line < 0) /* could not be read: exit 1, said by json_load_arg */
		return cmd_fail(1);
	if (!doc) {
		l4s_err(EINVAL, "%s: line %d, column %d: %s", strcmp(file, "-") ? file : "stdin",
			jerr.line, jerr.column, jerr.text);
		return cmd_fail(EXIT_USAGE);
	}
	if (parse_doc(doc, &s, &n)) {
		json_decref(doc);
		return cmd_fail(EXIT_USAGE);
	}
	json_decref(doc);
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK)) {
		doc_free(s, n);
		return cmd_fail(1);
	}
	if (check_state(&st, s, n, prune) || check_capacity(&st, s, n, prune) ||
	    svc_list(&st, &ids, &nids))
		goto out;
	if (prune)
		for (int i = 0; i < nids; i++) {
			struct l4s_service sv;

			if (bpf_map_lookup_elem(st.services, &ids[i], &sv) || doc_find(s, n, sv.name))
				continue;
			if (!dry && svc_delete(&st, ids[i], NULL, NULL))
				goto out;
			c.deleted++;
		}
	for (int i = 0; i < n; i++)
		if ((l4s_err_clear(), apply_svc(&st, &s[i], dry, &c))) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
			l4s_err(EIO, "services[%d] (\"%s\"): %s%s", i, s[i].name, msg,
				dry ? "" : "; the services before it are applied, the rest are not");
			goto out;
		}
	rc = 0;
	if (l4s_json)
		json_print(json_pack("{s:b, s:i, s:i, s:i, s:i}", "dry_run", dry, "created", c.created,
				     "updated", c.updated, "unchanged", c.unchanged, "deleted",
				     c.deleted));
	else
		printf("%s%d created, %d updated, %d unchanged, %d deleted\n", dry ? "dry run: " : "",
		       c.created, c.updated, c.unchanged, c.deleted);
out:
	free(ids);
	state_close(&st);
	doc_free(s, n);
	return rc ? cmd_fail(1) : 0;
}
