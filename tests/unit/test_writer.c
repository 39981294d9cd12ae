// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The one writer, golden cases (tests/fixtures/writer/NN-*.json, see the README there):
 * specs in, the pinned maps' contents out, read back from the maps. Needs root (a
 * bpffs pin directory of its own under /run, removed at the end).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cmocka.h>
#include <jansson.h>
#include "err.h"
#include "mapscan.h"
#include "model.h"
#include "parse.h"
#include "spec.h"
#include "state.h"
#include "svc.h"
#include "writer.h"

#define FIXTURES "tests/fixtures/writer"

static char pin_dir[] = "/run/l4s-writer-XXXXXX";
static struct l4s_state st;
static int have_state;

static __u64 weight_of(json_t *v)
{
	return (__u64)llround(json_number_value(v) * (double)L4S_WEIGHT_ONE);
}

static void spec_from_json(json_t *j, struct svc_spec *s)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *mode = json_string_value(json_object_get(j, "mode"));
	json_t *v, *be;
	const char *k;
	size_t i;

	spec_init(s, name);
	json_array_foreach(json_object_get(j, "fe"), i, v) {
		struct l4s_frontend_key fk;

		assert_int_equal(parse_frontend(json_string_value(v), &fk), 0);
		assert_int_equal(spec_add_frontend(s, &fk), 0);
	}
	json_object_foreach(json_object_get(j, "tracks"), k, v)
		assert_non_null(spec_track_add(s, k, weight_of(v)));
	json_array_foreach(json_object_get(j, "be"), i, be) {
		struct l4s_addr a;
		__u8 fam;
		__u16 port;

		assert_int_equal(parse_addr_port(json_string_value(json_array_get(be, 0)), &a, &fam,
						 &port), 0);
		assert_non_null(spec_backend_add(s, &a, fam, port,
						 json_string_value(json_array_get(be, 1)),
						 weight_of(json_array_get(be, 2))));
	}
	if (json_integer_value(json_object_get(j, "table_size")))
		s->table_size = (__u32)json_integer_value(json_object_get(j, "table_size"));
	if (mode)
		assert_int_equal(parse_mode(mode, &s->mode), 0);
	if (json_is_true(json_object_get(j, "affinity")))
		s->flags |= L4S_SVC_F_AFFINITY_CLIENT_IP;
	if (json_is_true(json_object_get(j, "agent")))
		s->flags |= L4S_SVC_F_AGENT;
}

/* What a killed writer leaves: a pending record with a frontend, or a dirty service
 * whose records were changed and whose table was not. */
static void raw_step(json_t *j)
{
	const char *what = json_string_value(json_object_get(j, "raw"));
	const char *name = json_string_value(json_object_get(j, "name"));
	__u32 id;

	if (!strcmp(what, "pending")) {
		struct l4s_frontend_key fk;
		struct l4s_service rec;

		assert_int_equal(parse_frontend(json_string_value(json_object_get(j, "fe")), &fk), 0);
		assert_int_equal(svc_free_slot(&st, &id), 0);
		assert_int_equal(svc_reserve(&st, id, name, &fk, L4S_SVC_F_PENDING, L4S_TABLE_DEFAULT,
					     L4S_MODE_AUTO, &rec), 0);
		assert_int_equal(state_put_frontend(&st, &fk, id, 0, BPF_ANY), 0);
		assert_int_not_equal(svc_lookup(&st, name, &id), 0); /* pending: not found */
	} else if (!strcmp(what, "dirty")) {
		struct l4s_service rec;
		struct model m;

		assert_int_equal(svc_lookup(&st, name, &id), 0);
		assert_int_equal(model_load(&st, id, &m), 0);
		rec = m.svc;
		rec.flags |= L4S_SVC_F_DIRTY;
		assert_int_equal(state_put_service(&st, id, &rec), 0);
		assert_int_equal(state_put_track(&st, id, json_string_value(json_object_get(j, "track")),
						 weight_of(json_object_get(j, "weight"))), 0);
		if (json_object_get(j, "removing")) {
			struct l4s_addr a;
			__u8 fam;
			__u16 port;
			struct model_backend *b;

			assert_int_equal(parse_addr_port(json_string_value(json_object_get(j, "removing")),
							 &a, &fam, &port), 0);
			b = model_backend_find(&m, &a, fam, port);
			assert_non_null(b);
			b->be.flags |= L4S_BE_F_REMOVING;
			assert_int_equal(state_put_backend(&st, b->id, &b->be), 0);
		}
		model_free(&m);
	} else if (!strcmp(what, "index-extra")) {
		/* A change killed after it deleted a track and a frontend from their maps,
		 * before it unlisted them from l4s_svcidx; and one killed after it wrote an
		 * entry, before the head listed it. */
		const char *tr = json_string_value(json_object_get(j, "track"));
		struct l4s_track_key tk = { 0 };
		struct l4s_frontend_key fk;
		struct l4s_svcidx_key k = { 0 };
		struct l4s_svcidx v = { 0 };
		struct l4s_service rec;

		assert_int_equal(svc_lookup(&st, name, &id), 0);
		assert_int_equal(state_service(&st, id, &rec), 0);
		rec.flags |= L4S_SVC_F_DIRTY;
		assert_int_equal(state_put_service(&st, id, &rec), 0);
		tk.svc_id = id;
		strncpy(tk.name, tr, L4S_NAME_LEN - 1);
		assert_int_equal(bpf_map_delete_elem(st.tracks, &tk), 0);
		assert_int_equal(parse_frontend(json_string_value(json_object_get(j, "fe")), &fk), 0);
		assert_int_equal(bpf_map_delete_elem(st.frontends, &fk), 0);
		k.svc_id = id;
		k.slot = L4S_SVCIDX_FE + L4S_SVCIDX_TR - 1; /* not listed by the head */
		strcpy(v.track, "orphan");
		assert_int_equal(bpf_map_update_elem(st.svcidx, &k, &v, BPF_ANY), 0);
		/* Readers meanwhile: what the maps hold, not what the index lists. */
		state_forget(&st);
		{
			const struct state_svc_index *x = state_index(&st, id);

			assert_non_null(x);
			for (int i = 0; i < x->ntr; i++)
				assert_string_not_equal(x->tr[i].name, tr);
			for (int i = 0; i < x->nfe; i++)
				assert_memory_not_equal(&x->fe[i], &fk, sizeof(fk));
		}
	} else {
		fail_msg("unknown raw step \"%s\"", what);
	}
	st.repaired = 0; /* the next writer is another process: it looks again */
}

static int svcidx_entries; /* entries of l4s_svcidx the dumped services account for */

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* l4s_svcidx as stored: what the head of service @id lists, by kind, sorted. */
static json_t *dump_svcidx(__u32 id)
{
	struct l4s_svcidx_key k = { .svc_id = id, .slot = L4S_SVCIDX_HEAD };
	struct l4s_svcidx head, v;
	json_t *fes = json_array(), *trs = json_array();
	char *fe[L4S_SVCIDX_FE], *tr[L4S_SVCIDX_TR], buf[96];
	int nfe = 0, ntr = 0;

	assert_true(st.svcidx >= 0);
	if (!bpf_map_lookup_elem(st.svcidx, &k, &head)) {
		svcidx_entries++;
		for (k.slot = 0; k.slot < L4S_SVCIDX_FE + L4S_SVCIDX_TR; k.slot++) {
			if (!((head.used[k.slot / 64] >> (k.slot % 64)) & 1))
				continue;
			if (bpf_map_lookup_elem(st.svcidx, &k, &v))
				fail_msg("service %u: slot %u listed, no entry", id, k.slot);
			svcidx_entries++;
			if (k.slot < L4S_SVCIDX_FE)
				fe[nfe++] = strdup(fmt_frontend(buf, &v.fe));
			else
				tr[ntr++] = strndup(v.track, L4S_NAME_LEN);
		}
	}
	qsort(fe, (size_t)nfe, sizeof(*fe), cmp_cstr);
	qsort(tr, (size_t)ntr, sizeof(*tr), cmp_cstr);
	for (int i = 0; i < nfe; i++) {
		json_array_append_new(fes, json_string(fe[i]));
		free(fe[i]);
	}
	for (int i = 0; i < ntr; i++) {
		json_array_append_new(trs, json_string(tr[i]));
		free(tr[i]);
	}
	return json_pack("{s:o, s:o}", "frontends", fes, "tracks", trs);
}

static int count_entry(const void *k, const void *v, void *ctx)
{
	(void)k;
	(void)v;
	(*(int *)ctx)++;
	return 0;
}

struct owners {
	unsigned char seen[L4S_MAX_SERVICES];
	int entries, heads;
};

static void owner(struct owners *o, __u32 id)
{
	o->entries++;
	if (id < L4S_MAX_SERVICES && !o->seen[id]) {
		o->seen[id] = 1;
		o->heads++;
	}
}

static int fe_owner(const void *k, const void *v, void *ctx)
{
	(void)k;
	owner(ctx, ((const struct l4s_frontend *)v)->svc_id);
	return 0;
}

static int tr_owner(const void *k, const void *v, void *ctx)
{
	(void)v;
	owner(ctx, ((const struct l4s_track_key *)k)->svc_id);
	return 0;
}

static json_t *dump_service(const char *name)
{
	static const char *const modes[] = { "auto", "nat", "snat", "dsr" };
	const struct state_svc_index *x;
	json_t *s = json_object(), *fes = json_array(), *tr = json_object(), *bes = json_object();
	char flags[64] = "", buf[96];
	struct model m;
	__u32 id;

	assert_int_equal(svc_lookup(&st, name, &id), 0);
	assert_int_equal(model_load(&st, id, &m), 0);
	assert_int_equal(model_count_slots(&st, &m), 0);
	if (m.svc.flags & L4S_SVC_F_IN_USE)
		strcat(flags, "in_use");
	if (m.svc.flags & L4S_SVC_F_AFFINITY_CLIENT_IP)
		strcat(flags, ",affinity");
	if (m.svc.flags & L4S_SVC_F_AGENT)
		strcat(flags, ",agent");
	if (m.svc.flags & L4S_SVC_F_PENDING)
		strcat(flags, ",pending");
	if (m.svc.flags & L4S_SVC_F_DIRTY)
		strcat(flags, ",dirty");
	json_object_set_new(s, "flags", json_string(flags));
	json_object_set_new(s, "mode", json_string(m.svc.mode < 4 ? modes[m.svc.mode] : "?"));
	json_object_set_new(s, "table_size", json_integer(m.svc.table_size));
	/* From the index the state reads from the maps, in the stored order. */
	state_forget(&st);
	x = state_index(&st, id);
	assert_non_null(x);
	for (int i = 0; i < x->nfe; i++)
		json_array_append_new(fes, json_string(fmt_frontend(buf, &x->fe[i])));
	for (int i = 0; i < x->ntr; i++)
		json_object_set_new(tr, x->tr[i].name,
				    json_real((double)x->tr[i].weight / L4S_WEIGHT_ONE));
	for (int i = 0; i < m.nbe; i++) {
		struct l4s_weight w;

		assert_int_equal(bpf_map_lookup_elem(st.weights, &m.be[i].id, &w), 0);
		json_object_set_new(bes, fmt_addr_port(buf, &m.be[i].be.addr, m.be[i].be.family,
						       ntohs(m.be[i].be.port)),
				    json_pack("{s:s, s:f, s:i}", "track", m.be[i].be.track, "weight",
					      (double)w.weight / L4S_WEIGHT_ONE, "slots",
					      (int)m.be[i].slots));
	}
	json_object_set_new(s, "frontends", fes);
	json_object_set_new(s, "tracks", tr);
	json_object_set_new(s, "backends", bes);
	json_object_set_new(s, "index", dump_svcidx(id));
	model_free(&m);
	return s;
}

/* Numbers compare as numbers (1 == 1.0). */
static int json_same(json_t *a, json_t *b)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, k, v)
			if (!json_object_get(b, k) || !json_same(v, json_object_get(b, k)))
				return 0;
		return 1;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(a, i, v)
			if (!json_same(v, json_array_get(b, i)))
				return 0;
		return 1;
	}
	return json_equal(a, b);
}

static json_t *result_json(const struct write_result *r)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			 "created", r->created, "changed", r->changed, "fe_changed", r->fe_changed,
			 "flags_changed", r->flags_changed, "mode_changed", r->mode_changed,
			 "table_changed", r->table_changed, "be_added", r->be_added, "be_removed",
			 r->be_removed, "be_changed", r->be_changed, "tr_added", r->tr_added,
			 "tr_removed", r->tr_removed, "tr_changed", r->tr_changed, "starved",
			 r->starved, "flows_dropped", (int)r->flows_dropped);
}

static __u32 table_id(const char *name)
{
	__u32 id, inner = 0;

	if (svc_lookup(&st, name, &id) || bpf_map_lookup_elem(st.tables, &id, &inner))
		return 0;
	return inner;
}

static void clear_services(void)
{
	const struct l4s_service *all = state_services(&st);

	assert_non_null(all);
	for (__u32 id = 0; id < L4S_MAX_SERVICES; id++)
		if (all[id].flags & L4S_SVC_F_IN_USE)
			assert_int_equal(svc_delete(&st, id, NULL, NULL), 0);
	st.repaired = 0;
}

static void run_case(void **state)
{
	const char *file = *state;
	json_error_t jerr;
	json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr), *steps, *step, *expect;
	json_t *want, *got;
	struct write_result r = {};
	const char *k, *last_name = NULL;
	__u32 table_before = 0;
	size_t i;
	int err = 0;

	if (!doc)
		fail_msg("%s: %s", file, jerr.text);
	clear_services();
	steps = json_object_get(doc, "steps");
	expect = json_object_get(doc, "expect");
	json_array_foreach(steps, i, step) {
		struct write_opts wo = { .how = WRITE_UPSERT,
					 .agent = json_is_true(json_object_get(step, "as_agent")),
					 .dry_run = json_is_true(json_object_get(step, "dry_run")) };
		struct svc_spec s;

		if (json_object_get(step, "raw")) {
			raw_step(step);
			continue;
		}
		spec_from_json(json_object_get(step, "apply"), &s);
		last_name = json_string_value(json_object_get(json_object_get(step, "apply"), "name"));
		table_before = table_id(last_name);
		l4s_err_clear();
		err = service_apply(&st, &s, &wo, &r);
		spec_free(&s);
		if (err && i + 1 < json_array_size(steps))
			fail_msg("%s: step %zu failed: %s", file, i, l4s_errmsg());
	}
	if (json_object_get(expect, "error")) {
		const char *sub = json_string_value(json_object_get(expect, "error"));

		if (!err)
			fail_msg("%s: the last step succeeded, expected an error with \"%s\"", file, sub);
		if (!strstr(l4s_errmsg(), sub))
			fail_msg("%s: error \"%s\" does not say \"%s\"", file, l4s_errmsg(), sub);
	} else if (err) {
		fail_msg("%s: the last step failed: %s", file, l4s_errmsg());
	}
	if (json_object_get(expect, "table_swapped")) {
		int swapped = table_id(last_name) != table_before;

		if (swapped != json_is_true(json_object_get(expect, "table_swapped")))
			fail_msg("%s: the lookup table was%s swapped", file, swapped ? "" : " not");
	}
	if ((want = json_object_get(expect, "result"))) {
		got = result_json(&r);
		json_object_foreach(want, k, want) {
			if (!json_same(want, json_object_get(got, k))) {
				char *g = json_dumps(got, JSON_SORT_KEYS);

				fail_msg("%s: result.%s: expected %lld, got %s", file, k,
					 (long long)json_integer_value(want), g);
			}
		}
		json_decref(got);
	}
	/* Exactly the services listed exist, each as listed. */
	{
		__u32 *ids = NULL;
		int n = 0;

		assert_int_equal(svc_list(&st, &ids, &n), 0);
		free(ids);
		if ((size_t)n != json_object_size(json_object_get(expect, "services")))
			fail_msg("%s: %d services exist, expected %zu", file, n,
				 json_object_size(json_object_get(expect, "services")));
	}
	svcidx_entries = 0;
	json_object_foreach(json_object_get(expect, "services"), k, want) {
		got = dump_service(k);
		if (!json_same(want, got)) {
			char *w = json_dumps(want, JSON_SORT_KEYS), *g = json_dumps(got, JSON_SORT_KEYS);

			print_error("expected %s\n     got %s\n", w, g);
			free(w);
			free(g);
			json_decref(got);
			fail_msg("%s: service \"%s\" differs", file, k);
		}
		json_decref(got);
	}
	/* Nothing else in l4s_svcidx: as many entries as l4s_frontends and l4s_tracks hold,
	 * and a head per service they name (none of a deleted service, none unlisted). */
	{
		struct owners o = { 0 };
		int all = 0;

		assert_int_equal(map_scan(st.svcidx, sizeof(struct l4s_svcidx_key),
					  sizeof(struct l4s_svcidx), count_entry, &all), 0);
		assert_int_equal(map_scan(st.frontends, sizeof(struct l4s_frontend_key),
					  sizeof(struct l4s_frontend), fe_owner, &o), 0);
		assert_int_equal(map_scan(st.tracks, sizeof(struct l4s_track_key),
					  sizeof(struct l4s_track), tr_owner, &o), 0);
		if (all != o.entries + o.heads)
			fail_msg("%s: l4s_svcidx holds %d entries; the maps hold %d frontends and "
				 "tracks of %d services", file, all, o.entries, o.heads);
		if (all < svcidx_entries)
			fail_msg("%s: l4s_svcidx holds %d entries, the services listed %d", file,
				 all, svcidx_entries);
	}
	json_decref(doc);
}

/* spec_merge_endpoints (pure): a ready endpoint wins over a terminating one with the
 * same address whatever the order; two ready ones on different tracks are refused. */
static void test_merge_ready_wins(void **state)
{
	struct spec_endpoint ep[2] = {};
	struct svc_spec s;
	struct merge_counts c = {};

	(void)state;
	for (int order = 0; order < 2; order++) {
		struct spec_endpoint *ready = &ep[order], *term = &ep[1 - order];

		memset(ep, 0, sizeof(ep));
		parse_addr_port("10.1.0.5:80", &ready->addr, &ready->family, &ready->port);
		*term = *ready;
		ready->state = EP_READY;
		term->state = EP_DRAIN;
		strcpy(ready->track, "new");
		strcpy(term->track, "old");
		spec_init(&s, "web");
		memset(&c, 0, sizeof(c));
		assert_int_equal(spec_merge_endpoints(&s, ep, 2, NULL, 0, &c), 0);
		assert_int_equal(s.nbe, 1);
		assert_string_equal(s.be[0].track, "new");
		assert_int_equal(s.be[0].weight, L4S_WEIGHT_ONE);
		spec_free(&s);
	}
	ep[0].state = ep[1].state = EP_READY;
	strcpy(ep[0].name, "pod-a");
	strcpy(ep[1].name, "pod-b");
	spec_init(&s, "web");
	assert_int_equal(spec_merge_endpoints(&s, ep, 2, NULL, 0, &c), -EEXIST);
	assert_non_null(strstr(l4s_errmsg(), "pod-a"));
	assert_non_null(strstr(l4s_errmsg(), "pod-b"));
	assert_int_equal(s.nbe, 0);
	spec_free(&s);
}

/* spec_merge_endpoints at the per-service limit: 5,000 backends (tracks a and b), a list
 * of 5,000 endpoints that keeps the odd ones of track a (every third drained), moves
 * some to b, and adds 2,500 new: counts, weights, tracks and the survivors' order. */
static void test_merge_large(void **state)
{
	int n = L4S_MAX_BACKENDS_PER_SVC, ne = 0;
	struct spec_endpoint *ep = calloc((size_t)n, sizeof(*ep));
	struct merge_counts c = {};
	struct svc_spec s;

	(void)state;
	assert_non_null(ep);
	spec_init(&s, "big");
	/* Backend i: 10.2.(i / 250).(i % 250 + 1):80, listed in a scrambled order. */
	for (int k = 0; k < n; k++) {
		int i = (int)(((long)k * 2711) % n);
		struct l4s_addr a = { .addr = { htonl(0x0a020000u | (__u32)(i / 250) << 8 |
						      (__u32)(i % 250 + 1)) } };

		assert_non_null(spec_backend_add(&s, &a, L4S_AF_INET, 80, i % 2 ? "a" : "b",
						 L4S_WEIGHT_ONE));
	}
	for (int i = 1; i < n; i += 2) { /* the odd ones: track a */
		struct spec_endpoint *e = &ep[ne++];

		e->addr.addr[0] = htonl(0x0a020000u | (__u32)(i / 250) << 8 | (__u32)(i % 250 + 1));
		e->family = L4S_AF_INET;
		e->port = 80;
		e->state = i % 3 == 0 ? EP_DRAIN : EP_READY;
		strcpy(e->track, i % 7 == 0 ? "b" : "a");
	}
	for (int i = 0; i < n / 2; i++) { /* new ones */
		struct spec_endpoint *e = &ep[ne++];

		e->addr.addr[0] = htonl(0x0a030000u | (__u32)(i / 250) << 8 | (__u32)(i % 250 + 1));
		e->family = L4S_AF_INET;
		e->port = 80;
		strcpy(e->track, "a");
	}
	assert_int_equal(spec_merge_endpoints(&s, ep, ne, "a", L4S_WEIGHT_ONE, &c), 0);
	/* Scope a: the even ones are track b, out of scope: kept. Nothing of a removed
	 * (every odd one is listed). */
	assert_int_equal(c.removed, 0);
	assert_int_equal(c.added, n / 2);
	assert_int_equal(s.nbe, n + n / 2);
	{
		int drained = 0, moved = 0;

		for (int i = 1; i < n; i += 2) {
			drained += i % 3 == 0;
			moved += i % 7 == 0;
		}
		assert_int_equal(c.drained, drained);
		assert_int_equal(c.moved, moved);
	}
	for (int k = 0; k < n; k++) { /* survivors keep their places */
		int i = (int)(((long)k * 2711) % n);
		const struct spec_backend *b = &s.be[k];

		assert_int_equal(ntohl(b->addr.addr[0]),
				 0x0a020000u | (__u32)(i / 250) << 8 | (__u32)(i % 250 + 1));
		assert_int_equal(b->weight, i % 2 && i % 3 == 0 ? 0 : L4S_WEIGHT_ONE);
		assert_string_equal(b->track, i % 2 && i % 7 != 0 ? "a" : "b");
	}
	/* Now a list with only the new ones: every old backend of track a goes, in order. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(spec_merge_endpoints(&s, ep + n / 2, n / 2, "a", L4S_WEIGHT_ONE, &c), 0);
	{
		int left = 0;

		for (int i = 0; i < s.nbe; i++)
			left += !strcmp(s.be[i].track, "a") &&
				(ntohl(s.be[i].addr.addr[0]) >> 16) == 0x0a02;
		assert_int_equal(left, 0);
		for (int i = 1; i < s.nbe; i++) /* the b ones still before the new ones */
			if ((ntohl(s.be[i].addr.addr[0]) >> 16) == 0x0a02)
				assert_int_equal(ntohl(s.be[i - 1].addr.addr[0]) >> 16, 0x0a02);
	}
	spec_free(&s);
	free(ep);
}

/* Many specs at once (apply): new services created together, their tables in one
 * batched update; an existing one updated in order; a failure in the middle leaves the
 * ones before it complete and none after it. */
static void mk(struct svc_spec *s, const char *name, const char *fe, int nbe, int base)
{
	struct l4s_frontend_key k;

	spec_init(s, name);
	assert_int_equal(parse_frontend(fe, &k), 0);
	assert_int_equal(spec_add_frontend(s, &k), 0);
	assert_non_null(spec_track_add(s, "a", L4S_WEIGHT_ONE));
	for (int b = 0; b < nbe; b++) {
		struct l4s_addr a = { .addr = { htonl(0x0a010000u + (__u32)base + (__u32)b) } };

		assert_non_null(spec_backend_add(s, &a, L4S_AF_INET, 80, "a", L4S_WEIGHT_ONE));
	}
}

static void test_apply_many(void **state)
{
	struct write_opts wo = { .how = WRITE_UPSERT };
	struct svc_spec s[300];
	struct write_result r[300];
	char name[32], fe[64];
	int failed = 0, n = 300;

	(void)state;
	clear_services();
	mk(&s[0], "pre", "10.96.1.1:80/tcp", 2, 0);
	assert_int_equal(service_apply(&st, &s[0], &wo, &r[0]), 0);
	spec_free(&s[0]);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		snprintf(fe, sizeof(fe), "10.97.%d.%d:80/tcp", i / 250, i % 250 + 1);
		mk(&s[i], name, fe, 2, 1000 + 2 * i);
	}
	/* "pre" again, changed (an update between new ones), at 100 */
	spec_free(&s[100]);
	mk(&s[100], "pre", "10.96.1.1:80/tcp", 3, 0);
	assert_int_equal(service_apply_many(&st, s, n, &wo, r, &failed), 0);
	assert_int_equal(failed, -1);
	for (int i = 0; i < n; i++) {
		struct model m;
		__u32 id, total = 0;

		assert_int_equal(svc_lookup(&st, s[i].name, &id), 0);
		assert_int_equal(model_load(&st, id, &m), 0);
		assert_int_equal(model_count_slots(&st, &m), 0);
		for (int b = 0; b < m.nbe; b++)
			total += m.be[b].slots;
		if (total != L4S_TABLE_DEFAULT)
			fail_msg("%s: its table holds %u slots of %u", s[i].name, total,
				 L4S_TABLE_DEFAULT);
		assert_int_equal(m.nbe, i == 100 ? 3 : 2);
		assert_int_equal(m.nfe, 1);
		assert_int_equal(r[i].created, i != 100);
		model_free(&m);
	}
	for (int i = 0; i < n; i++)
		spec_free(&s[i]);
	/* A failure at 150 (its frontend is "pre"'s): 0-149 complete, 150 on not there. */
	clear_services();
	mk(&s[0], "pre", "10.96.1.1:80/tcp", 2, 0);
	assert_int_equal(service_apply(&st, &s[0], &wo, &r[0]), 0);
	spec_free(&s[0]);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		snprintf(fe, sizeof(fe), i == 150 ? "10.96.1.1:80/tcp" : "10.97.%d.%d:80/tcp",
			 i / 250, i % 250 + 1);
		mk(&s[i], name, fe, 2, 1000 + 2 * i);
	}
	assert_int_not_equal(service_apply_many(&st, s, n, &wo, r, &failed), 0);
	assert_int_equal(failed, 150);
	assert_non_null(strstr(l4s_errmsg(), "already used by service \"pre\""));
	for (int i = 0; i < n; i++) {
		__u32 id;
		int there = svc_lookup(&st, s[i].name, &id) == 0;

		if (there != (i < 150))
			fail_msg("%s is%s there after a failure at 150", s[i].name, there ? "" : " not");
		spec_free(&s[i]);
	}
	{
		__u32 *ids = NULL;
		int nl = 0;

		assert_int_equal(svc_list(&st, &ids, &nl), 0);
		free(ids);
		assert_int_equal(nl, 151); /* pre + m0..m149 */
		for (__u32 i = 0; i < L4S_MAX_SERVICES; i++)
			if (st.svc_snap[i].flags & L4S_SVC_F_PENDING)
				fail_msg("service id %u is left pending", i);
	}
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(pin_dir))
		return -1;
	if (state_open(&st, pin_dir, STATE_CREATE | STATE_LOCK)) {
		fprintf(stderr, "cannot create a state in %s: %s\n", pin_dir, l4s_errmsg());
		umount2(pin_dir, MNT_DETACH);
		rmdir(pin_dir);
		return -1;
	}
	have_state = 1;
	return 0;
}

/* What a command reads of one service after a fresh open (the first service asked for
 * is read alone, its weights a window at a time) is what was written, and a second
 * service asked for then reads whole: a service of 1,100 backends (ids across windows of
 * weights), each with a weight of its own, another service beside it, and a change to
 * the other one while only the first is read. */
static void test_read_one_service(void **state)
{
	struct write_opts wo = { .how = WRITE_UPSERT };
	struct write_result r;
	struct svc_spec a, b, b2;
	struct l4s_frontend_key k;
	struct model m;
	__u32 ida, idb;

	(void)state;
	clear_services();
	mk(&a, "one-a", "10.96.5.1:80/tcp", 2, 0);
	assert_int_equal(service_apply(&st, &a, &wo, &r), 0);
	mk(&b, "one-b", "10.96.5.2:80/tcp", 1100, 5000);
	for (int i = 0; i < b.nbe; i++)
		b.be[i].weight = (__u64)(i % 7 + 1) * L4S_WEIGHT_ONE;
	assert_int_equal(service_apply(&st, &b, &wo, &r), 0);
	assert_int_equal(svc_lookup(&st, "one-a", &ida), 0);
	assert_int_equal(svc_lookup(&st, "one-b", &idb), 0);
	for (int round = 0; round < 2; round++) {
		state_forget(&st); /* as a new command finds the state */
		assert_int_equal(model_load(&st, round ? ida : idb, &m), 0);
		model_free(&m);
		assert_int_equal(model_load(&st, idb, &m), 0);
		assert_int_equal(m.nbe, 1100);
		assert_int_equal(m.nfe, 1);
		assert_int_equal(m.ntr, 1);
		for (int i = 0; i < m.nbe; i++) {
			struct spec_backend *sb = spec_backend(&b, &m.be[i].be.addr, L4S_AF_INET,
							       ntohs(m.be[i].be.port));

			assert_non_null(sb);
			if (m.be[i].weight != sb->weight)
				fail_msg("backend id %u: weight %llu read, %llu written", m.be[i].id,
					 (unsigned long long)m.be[i].weight,
					 (unsigned long long)sb->weight);
		}
		model_free(&m);
		assert_int_equal(model_load(&st, ida, &m), 0);
		assert_int_equal(m.nbe, 2);
		assert_int_equal(m.nfe, 1);
		model_free(&m);
	}
	/* Only one-a read; one-b gains a frontend and a track: read after, it has them. */
	state_forget(&st);
	assert_int_equal(model_load(&st, ida, &m), 0);
	model_free(&m);
	mk(&b2, "one-b", "10.96.5.2:80/tcp", 3, 5000);
	assert_int_equal(parse_frontend("10.96.5.3:81/tcp", &k), 0);
	assert_int_equal(spec_add_frontend(&b2, &k), 0);
	assert_non_null(spec_track_add(&b2, "z", 0));
	assert_int_equal(service_apply(&st, &b2, &(struct write_opts){ .how = WRITE_UPDATE }, &r),
			 0);
	assert_int_equal(model_load(&st, idb, &m), 0);
	assert_int_equal(m.nbe, 3);
	assert_int_equal(m.nfe, 2);
	assert_int_equal(m.ntr, 2);
	model_free(&m);
	spec_free(&a);
	spec_free(&b);
	spec_free(&b2);
}

static int teardown(void **state)
{
	(void)state;
	if (have_state) {
		state_close(&st);
		state_purge(pin_dir);
	}
	umount2(pin_dir, MNT_DETACH);
	rmdir(pin_dir);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	struct CMUnitTest tests[64];
	char *files[64];
	int n = 0, nf = 0;
	DIR *d = opendir(FIXTURES);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "cannot open %s (run from the repository root)\n", FIXTURES);
		return 1;
	}
	while ((e = readdir(d)) && nf < 63) {
		size_t l = strlen(e->d_name);

		if (l > 5 && !strcmp(e->d_name + l - 5, ".json") &&
		    asprintf(&files[nf], FIXTURES "/%s", e->d_name) > 0)
			nf++;
	}
	closedir(d);
	qsort(files, (size_t)nf, sizeof(*files), cmp_str);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_merge_ready_wins);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_merge_large);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_apply_many);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_read_one_service);
	for (int i = 0; i < nf; i++)
		tests[n++] = (struct CMUnitTest){ .name = files[i] + sizeof(FIXTURES),
						  .test_func = run_case,
						  .initial_state = files[i] };
	n = _cmocka_run_group_tests("writer", tests, (size_t)n, setup, teardown);
	for (int i = 0; i < nf; i++)
		free(files[i]);
	return n;
}
