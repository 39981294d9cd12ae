// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The one writer of service state: see writer.h for the contract and the order of writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "err.h"
#include "model.h"
#include "parse.h"
#include "svc.h"
#include "table.h"
#include "writer.h"

#define SPEC_MAX_FRONTENDS L4S_SVCIDX_FE /* what l4s_svcidx has slots for */
#define SPEC_MAX_TRACKS    L4S_SVCIDX_TR
#define USER_FLAGS         (L4S_SVC_F_AFFINITY_CLIENT_IP | L4S_SVC_F_AGENT)

/* ---- reading ---------------------------------------------------------------------------- */

static int spec_of_model(const struct model *m, struct svc_spec *s)
{
	spec_init(s, m->svc.name);
	s->flags = m->svc.flags & USER_FLAGS;
	s->mode = m->svc.mode;
	s->table_size = m->svc.table_size;
	s->affinity_timeout = m->aff_timeout;
	for (int i = 0; i < m->nfe; i++)
		if (spec_add_frontend(s, &m->fe[i]))
			goto nomem;
	for (int i = 0; i < m->ntr; i++)
		if (!spec_track_add(s, m->tr[i].name, m->tr[i].weight))
			goto nomem;
	for (int i = 0; i < m->nbe; i++) {
		const struct model_backend *b = &m->be[i];

		if (!spec_backend_add(s, &b->be.addr, b->be.family, ntohs(b->be.port), b->be.track,
				      b->weight))
			goto nomem;
	}
	return 0;
nomem:
	spec_free(s);
	return l4s_err(ENOMEM, "out of memory");
}

int service_spec(struct l4s_state *st, __u32 id, struct svc_spec *s)
{
	struct model m;
	int err = model_load(st, id, &m);

	if (err)
		return err;
	err = spec_of_model(&m, s);
	model_free(&m);
	return err;
}

int service_get(struct l4s_state *st, const char *name, struct svc_spec *s)
{
	__u32 id;
	int err = svc_find(st, name, &id);

	return err ? err : service_spec(st, id, s);
}

/* ---- validation (the spec alone) -------------------------------------------------------- */

static int cmp_track_name(const void *a, const void *b)
{
	return strncmp(((const struct spec_track *)a)->name, ((const struct spec_track *)b)->name,
		       L4S_NAME_LEN);
}

static const struct spec_backend *sort_be_base;

static int cmp_be_ix(const void *a, const void *b)
{
	const struct spec_backend *x = &sort_be_base[*(const int *)a];
	const struct spec_backend *y = &sort_be_base[*(const int *)b];
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	return c ? c : (int)x->port - (int)y->port;
}

static int validate_frontends(const struct svc_spec *s)
{
	char buf[96];

	if (!s->nfe) {
		l4s_err(EINVAL, "service \"%s\" has no frontend", s->name);
		l4s_hint("give it one: VIP:PORT/tcp");
		return -EINVAL;
	}
	if (s->nfe > SPEC_MAX_FRONTENDS)
		return l4s_err(E2BIG, "service \"%s\" has %d frontends, at most %d", s->name, s->nfe,
			       SPEC_MAX_FRONTENDS);
	for (int j = 0; j < s->nfe; j++) {
		const struct l4s_frontend_key *k = &s->fe[j];

		if ((k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP) ||
		    (k->family != L4S_AF_INET && k->family != L4S_AF_INET6) || !k->port)
			return l4s_err(EINVAL, "service \"%s\": frontend %d is not a VIP:PORT/tcp|udp",
				       s->name, j);
		if (k->proto != s->fe[0].proto || k->family != s->fe[0].family)
			return l4s_err(EINVAL, "service \"%s\": frontend %s: all frontends of a "
				       "service share one protocol and address family", s->name,
				       fmt_frontend(buf, k));
		for (int i = 0; i < j; i++)
			if (!memcmp(&s->fe[i], k, sizeof(*k)))
				return l4s_err(EEXIST, "service \"%s\": frontend %s is given twice",
					       s->name, fmt_frontend(buf, k));
	}
	return 0;
}

static int validate_tracks(const struct svc_spec *s, struct spec_track *sorted)
{
	char wb[32];

	if (s->ntr > SPEC_MAX_TRACKS)
		return l4s_err(E2BIG, "service \"%s\" has %d tracks, at most %d", s->name, s->ntr,
			       SPEC_MAX_TRACKS);
	for (int t = 0; t < s->ntr; t++) {
		if (parse_name("track", s->tr[t].name))
			return -EINVAL;
		if (s->tr[t].weight > L4S_WEIGHT_MAX)
			return l4s_err(ERANGE, "service \"%s\": track \"%s\": weight %s is above the "
				       "most, %llu", s->name, s->tr[t].name,
				       fmt_weight(wb, s->tr[t].weight),
				       (unsigned long long)(L4S_WEIGHT_MAX / L4S_WEIGHT_ONE));
	}
	if (s->ntr)
		memcpy(sorted, s->tr, sizeof(*sorted) * (size_t)s->ntr);
	qsort(sorted, (size_t)s->ntr, sizeof(*sorted), cmp_track_name);
	for (int t = 1; t < s->ntr; t++)
		if (!cmp_track_name(&sorted[t - 1], &sorted[t]))
			return l4s_err(EEXIST, "service \"%s\": track \"%s\" is given twice", s->name,
				       sorted[t].name);
	return 0;
}

static int validate_backends(const struct svc_spec *s, const struct spec_track *tsorted, int *ix)
{
	char buf[96], wb[32];

	if (s->nbe > L4S_MAX_BACKENDS_PER_SVC) {
		l4s_err(E2BIG, "service \"%s\" would have %d backends, at most %d", s->name, s->nbe,
			L4S_MAX_BACKENDS_PER_SVC);
		l4s_hint("split the backends over several services");
		return -E2BIG;
	}
	for (int i = 0; i < s->nbe; i++) {
		const struct spec_backend *b = &s->be[i];
		struct spec_track key;

		fmt_addr_port(buf, &b->addr, b->family, b->port);
		if (b->family != s->fe[0].family) {
			l4s_err(EINVAL, "service \"%s\": backend %s is IPv%d but the service is IPv%d",
				s->name, buf, b->family, s->fe[0].family);
			l4s_hint("a service and its backends use one address family");
			return -EINVAL;
		}
		if (!b->port)
			return l4s_err(EINVAL, "service \"%s\": backend %s has no port", s->name, buf);
		if (b->weight > L4S_WEIGHT_MAX)
			return l4s_err(ERANGE, "service \"%s\": backend %s: weight %s is above the "
				       "most, %llu", s->name, buf, fmt_weight(wb, b->weight),
				       (unsigned long long)(L4S_WEIGHT_MAX / L4S_WEIGHT_ONE));
		memset(&key, 0, sizeof(key));
		memcpy(key.name, b->track, L4S_NAME_LEN);
		if (!bsearch(&key, tsorted, (size_t)s->ntr, sizeof(key), cmp_track_name))
			return l4s_err(EINVAL, "service \"%s\": backend %s names track \"%s\", which "
				       "has no weight", s->name, buf, b->track);
		ix[i] = i;
	}
	sort_be_base = s->be;
	qsort(ix, (size_t)s->nbe, sizeof(*ix), cmp_be_ix);
	for (int i = 1; i < s->nbe; i++)
		if (!cmp_be_ix(&ix[i - 1], &ix[i]))
			return l4s_err(EEXIST, "service \"%s\": backend %s is listed twice", s->name,
				       fmt_addr_port(buf, &s->be[ix[i]].addr, s->be[ix[i]].family,
						     s->be[ix[i]].port));
	return 0;
}

int spec_validate(const struct svc_spec *s)
{
	struct spec_track *tsorted = calloc((size_t)s->ntr + 1, sizeof(*tsorted));
	int *ix = calloc((size_t)s->nbe + 1, sizeof(*ix));
	int err;

	if (!tsorted || !ix) {
		err = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	err = parse_name("service", s->name);
	if (!err)
		err = validate_frontends(s);
	if (!err && (s->table_size < 3 || s->table_size > L4S_TABLE_MAX ||
		     !is_prime(s->table_size)))
		err = l4s_err(EINVAL, "service \"%s\": table size %u is wrong: a prime from 3 to %d",
			      s->name, s->table_size, L4S_TABLE_MAX);
	if (!err && s->mode >= L4S_MODE_MAX)
		err = l4s_err(EINVAL, "service \"%s\": mode %u is wrong", s->name, s->mode);
	if (!err && (s->flags & ~USER_FLAGS))
		err = l4s_err(EINVAL, "service \"%s\": flags 0x%x are not for a spec", s->name,
			      s->flags & ~USER_FLAGS);
	if (!err && s->affinity_timeout > L4S_AFFINITY_TIMEOUT_MAX)
		err = l4s_err(EINVAL, "service \"%s\": affinity timeout %u is wrong: 1 to %d "
			      "seconds", s->name, s->affinity_timeout, L4S_AFFINITY_TIMEOUT_MAX);
	if (!err && s->affinity_timeout && !(s->flags & L4S_SVC_F_AFFINITY_CLIENT_IP))
		err = l4s_err(EINVAL, "service \"%s\": an affinity timeout needs client-ip "
			      "affinity", s->name);
	if (!err)
		err = validate_tracks(s, tsorted);
	if (!err)
		err = validate_backends(s, tsorted, ix);
out:
	free(tsorted);
	free(ix);
	return err;
}

/* ---- checks against the state ----------------------------------------------------------- */

/* Frontends of @s that another service (not @self) owns: -EEXIST with a message. */
static int check_frontends(struct l4s_state *st, const struct svc_spec *s, __u32 self)
{
	for (int j = 0; j < s->nfe; j++) {
		int err = svc_frontend_owner(st, &s->fe[j], self);

		if (err)
			return err;
	}
	return 0;
}

/* Index of the first non-removed backend of @m with weight above 0 and no slot, or -1;
 * *n gets how many there are. */
static int find_starved(const struct model *m, int *n)
{
	struct table_backend *tb = calloc((size_t)m->nbe + 1, sizeof(*tb));
	__u32 *quota = calloc((size_t)m->nbe + 1, sizeof(*quota));
	int *map = calloc((size_t)m->nbe + 1, sizeof(*map));
	int k = 0, first = -1;

	*n = 0;
	if (!tb || !quota || !map)
		goto out;
	for (int i = 0; i < m->nbe; i++) {
		if (m->be[i].removed)
			continue;
		tb[k].id = m->be[i].id;
		tb[k].addr = m->be[i].be.addr;
		tb[k].port = ntohs(m->be[i].be.port);
		tb[k].family = m->be[i].be.family;
		tb[k].weight = m->be[i].effective;
		map[k++] = i;
	}
	if (table_quotas(tb, k, m->svc.table_size, quota))
		goto out;
	for (int j = 0; j < k; j++)
		if (tb[j].weight && !quota[j]) {
			if (first < 0)
				first = map[j];
			(*n)++;
		}
out:
	free(tb);
	free(quota);
	free(map);
	return first;
}

static void note_starved(const struct model *m, struct write_result *r)
{
	int i = find_starved(m, &r->starved);

	if (i < 0)
		return;
	r->starved_be.addr = m->be[i].be.addr;
	r->starved_be.family = m->be[i].be.family;
	r->starved_be.port = ntohs(m->be[i].be.port);
	memcpy(r->starved_be.track, m->be[i].be.track, L4S_NAME_LEN);
	r->starved_be.weight = m->be[i].weight;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int write_record(struct l4s_state *st, struct model *m)
{
	/* The timeout first: the programs read it once the record says client-ip. */
	int err = state_put_affinity_timeout(st, m->id, m->aff_timeout);

	if (err == -EOPNOTSUPP) {
		l4s_err(err, "service \"%s\": this state has no affinity timeouts yet",
			m->svc.name);
		l4s_hint("run 'l4split attach DEV' once: it adds the maps (nothing else changes)");
		return err;
	}
	if (err)
		return l4s_err(err, "cannot write the affinity timeout of \"%s\": %s", m->svc.name,
			       strerror(-err));
	if (state_put_service(st, m->id, &m->svc))
		return l4s_err(errno, "cannot write service \"%s\": %s", m->svc.name,
			       strerror(errno));
	return 0;
}

static int write_backend(struct l4s_state *st, struct model_backend *b)
{
	if (state_put_weight(st, b->id, b->weight) || state_put_backend(st, b->id, &b->be))
		return l4s_err(errno, "cannot write backend %u: %s", b->id, strerror(errno));
	return 0;
}

/* A backend id given back: a new generation (flows that named it see it gone). */
static void free_backend(struct l4s_state *st, const struct model_backend *b)
{
	struct l4s_backend gone = { .gen = b->be.gen + 1 };

	state_put_backend(st, b->id, &gone);
	state_put_weight(st, b->id, 0);
}

/* Put every frontend of @s at its position (order), then remove those @cur had that @s
 * does not: a VIP is never without its service while it changes. */
static int write_frontends(struct l4s_state *st, __u32 id, const struct svc_spec *s,
			   const struct model *cur)
{
	char buf[96];

	for (int j = 0; j < s->nfe; j++) {
		int err = state_put_frontend(st, &s->fe[j], id, (__u32)j, BPF_ANY);

		if (err)
			return l4s_err(err, "cannot add frontend %s: %s", fmt_frontend(buf, &s->fe[j]),
				       strerror(-err));
	}
	for (int i = 0; cur && i < cur->nfe; i++) {
		int keep = 0;

		for (int j = 0; j < s->nfe && !keep; j++)
			keep = !memcmp(&cur->fe[i], &s->fe[j], sizeof(s->fe[j]));
		if (!keep)
			state_del_frontend(st, &cur->fe[i], id);
	}
	return 0;
}

/* New backends of @m (fresh) get ids: every id before anything is written, so running
 * out of them changes nothing. */
static int alloc_ids(struct l4s_state *st, struct model *m)
{
	__u32 *ids = calloc((size_t)m->nbe + 1, sizeof(*ids));
	int n = 0, err = 0;

	if (!ids)
		return l4s_err(ENOMEM, "out of memory");
	for (int i = 0; i < m->nbe && !err; i++) {
		if (!m->be[i].fresh)
			continue;
		err = backend_alloc(st, &m->be[i].id, ids, n);
		if (!err)
			ids[n++] = m->be[i].id;
	}
	free(ids);
	return err;
}

/* Append the backends of @s that @m lacks (fresh), and mark what @s lacks removed.
 * Counts go to @r. */
static int diff_backends(struct model *m, const struct svc_spec *s, struct write_result *r)
{
	char *matched = calloc((size_t)s->nbe + 1, 1);
	int *ix = calloc((size_t)s->nbe + 1, sizeof(*ix));
	int nold = m->nbe;

	if (!matched || !ix) {
		free(matched);
		free(ix);
		return l4s_err(ENOMEM, "out of memory");
	}
	for (int i = 0; i < s->nbe; i++)
		ix[i] = i;
	sort_be_base = s->be;
	qsort(ix, (size_t)s->nbe, sizeof(*ix), cmp_be_ix);
	for (int i = 0; i < nold; i++) {
		struct model_backend *b = &m->be[i];
		struct spec_backend key = { .addr = b->be.addr, .port = ntohs(b->be.port) };
		const struct spec_backend *sb = NULL;
		int lo = 0, hi = s->nbe - 1;

		/* binary search over ix (sorted by address and port) */
		while (lo <= hi) {
			int mid = (lo + hi) / 2;
			const struct spec_backend *x = &s->be[ix[mid]];
			int c = memcmp(&x->addr, &key.addr, sizeof(key.addr));

			if (!c)
				c = (int)x->port - (int)key.port;
			if (!c) {
				sb = x;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		if (!sb) {
			b->removed = 1;
			r->be_removed++;
			continue;
		}
		matched[sb - s->be] = 1;
		if (b->weight != sb->weight || strncmp(b->be.track, sb->track, L4S_NAME_LEN)) {
			b->weight = sb->weight;
			memcpy(b->be.track, sb->track, L4S_NAME_LEN);
			b->dirty = 1;
			r->be_changed++;
		}
	}
	for (int j = 0; j < s->nbe; j++) {
		struct model_backend *tmp, *b;

		if (matched[j])
			continue;
		tmp = realloc(m->be, sizeof(*tmp) * (size_t)(m->nbe + 1));
		if (!tmp) {
			free(matched);
			free(ix);
			return l4s_err(ENOMEM, "out of memory");
		}
		m->be = tmp;
		b = &m->be[m->nbe++];
		memset(b, 0, sizeof(*b));
		b->be.addr = s->be[j].addr;
		b->be.port = htons(s->be[j].port);
		b->be.family = s->be[j].family;
		memcpy(b->be.track, s->be[j].track, L4S_NAME_LEN);
		b->weight = s->be[j].weight;
		b->fresh = 1;
		r->be_added++;
	}
	free(matched);
	free(ix);
	return 0;
}

static int diff_tracks(struct model *m, const struct svc_spec *s, struct write_result *r)
{
	for (int t = 0; t < m->ntr; t++) {
		const struct spec_track *st = spec_track(s, m->tr[t].name);

		if (!st) {
			m->tr[t].removed = 1;
			r->tr_removed++;
		} else if (st->weight != m->tr[t].weight || !m->tr[t].in_map) {
			m->tr[t].weight = st->weight;
			m->tr[t].dirty = 1;
			r->tr_changed++;
		}
	}
	for (int t = 0; t < s->ntr; t++) {
		struct model_track *mt;

		if (model_track(m, s->tr[t].name))
			continue;
		mt = model_track_add(m, s->tr[t].name, s->tr[t].weight);
		if (!mt)
			return l4s_err(ENOMEM, "out of memory");
		mt->dirty = 1;
		r->tr_added++;
	}
	return 0;
}

/* Does the table of @m (as changed) differ from the one built from @old_eff? */
static int table_differs(struct l4s_state *st, const struct model *m, const __u64 *old_eff,
			 int nold)
{
	__u32 inner;

	if (bpf_map_lookup_elem(st->tables, &m->id, &inner))
		return 1; /* no table yet */
	for (int i = 0; i < m->nbe; i++) {
		__u64 now = m->be[i].removed ? 0 : m->be[i].effective;
		__u64 was = i < nold ? old_eff[i] : 0;

		if (now != was)
			return 1;
	}
	return 0;
}

/* Backends and tracks of @m that are new or changed, and the REMOVING mark on those
 * that go: records only, which the datapath does not read before the table names them. */
static int write_records(struct l4s_state *st, struct model *m)
{
	for (int i = 0; i < m->nbe; i++) {
		struct model_backend *b = &m->be[i];
		int err;

		if (b->fresh) {
			/* A fresh id: its counters start at zero, its generation stays (the
			 * snapshot follows every write: backend_alloc read it already). */
			state_zero_backend_counters(st, b->id);
			b->be.gen = st->be_snap[b->id].gen;
			b->be.flags = L4S_BE_F_IN_USE;
			b->be.svc_id = m->id;
		} else if (b->removed) {
			b->be.flags |= L4S_BE_F_REMOVING;
			if (state_put_backend(st, b->id, &b->be))
				return l4s_err(errno, "cannot write backend %u: %s", b->id,
					       strerror(errno));
			continue;
		} else if (!b->dirty) {
			continue;
		}
		err = write_backend(st, b);
		if (err)
			return err;
	}
	for (int t = 0; t < m->ntr; t++) {
		int err;

		if (!m->tr[t].dirty || m->tr[t].removed)
			continue;
		err = state_put_track(st, m->id, m->tr[t].name, m->tr[t].weight);
		if (err)
			return l4s_err(err, "cannot write track \"%s\": %s", m->tr[t].name,
				       strerror(-err));
		m->tr[t].in_map = 1;
	}
	return 0;
}

/* Put back what write_records wrote, from @orig (the service before): a failure
 * before the table changed leaves the state as it was. */
static void undo_records(struct l4s_state *st, const struct model *m, const struct model *orig)
{
	for (int i = 0; i < m->nbe; i++) {
		const struct model_backend *b = &m->be[i];

		if (b->fresh)
			free_backend(st, &(struct model_backend){ .id = b->id,
								   .be.gen = b->be.gen - 1 });
		else if (i < orig->nbe && (b->removed || b->dirty))
			write_backend(st, (struct model_backend *)&orig->be[i]);
	}
	for (int t = 0; t < m->ntr; t++) {
		const struct model_track *o = model_track((struct model *)orig, m->tr[t].name);

		if (!m->tr[t].dirty)
			continue;
		if (o && o->in_map)
			state_put_track(st, m->id, o->name, o->weight);
		else
			state_del_track(st, m->id, m->tr[t].name);
	}
}

/* After the table: give back removed backends (their flows go), drop removed tracks. */
static long finish_removals(struct l4s_state *st, struct model *m)
{
	__u32 *freed = calloc((size_t)m->nbe + 1, sizeof(*freed));
	long flows = 0;
	int n = 0;

	for (int i = 0; i < m->nbe; i++) {
		struct model_backend *b = &m->be[i];
		long f;

		if (!b->removed)
			continue;
		free_backend(st, b);
		f = flows_flush_backend_fwd(st, b->id);
		b->flows = f > 0 ? (__u64)f : 0;
		flows += f > 0 ? f : 0;
		if (freed)
			freed[n++] = b->id;
	}
	if (freed)
		rflows_flush(st, freed, n);
	free(freed);
	for (int t = 0; t < m->ntr; t++)
		if (m->tr[t].removed)
			state_del_track(st, m->id, m->tr[t].name);
	return flows;
}

/* Make @m (the live service, or an empty one) what @s says, in memory: backends and
 * tracks marked new, changed or removed (counted in @r), ids for the new backends,
 * effective weights, and the backends the table would starve. */
static int diff_spec(struct l4s_state *st, struct model *m, const struct svc_spec *s,
		     struct write_result *r)
{
	int err = diff_backends(m, s, r);

	if (!err)
		err = diff_tracks(m, s, r);
	if (!err)
		err = alloc_ids(st, m);
	if (err)
		return err;
	model_effective(m);
	note_starved(m, r);
	return 0;
}

/* A new service, up to its table: the record (pending: not found by name, deleted by the
 * next writer if this one dies before the end), backends and tracks. *m is its model. */
static int create_prepare(struct l4s_state *st, const struct svc_spec *s,
			  const struct write_opts *o, struct write_result *r, struct model *m)
{
	__u32 id;
	int err;

	memset(m, 0, sizeof(*m));
	err = check_frontends(st, s, L4S_MAX_SERVICES);
	if (!err)
		err = svc_free_slot(st, &id);
	if (err)
		return err;
	m->id = id;
	m->svc.table_size = s->table_size;
	m->aff_timeout = s->affinity_timeout;
	err = diff_spec(st, m, s, r);
	if (err)
		return err;
	r->id = id;
	r->created = r->changed = r->table_changed = r->fe_changed = 1;
	if (o->dry_run)
		return 0;
	err = svc_reserve(st, id, s->name, &s->fe[0], s->flags | L4S_SVC_F_PENDING,
			  s->table_size, s->mode, &m->svc);
	return err ? err : write_records(st, m);
}

/* After its table is in: the index, the frontends (reachable from here), the record
 * complete. */
static int create_finish(struct l4s_state *st, const struct svc_spec *s, struct model *m)
{
	int err = model_set_frontends(m, s->fe, s->nfe);

	if (!err)
		err = svc_sync_index(st, m);
	if (!err)
		err = write_frontends(st, m->id, s, NULL);
	if (!err) {
		m->svc.flags &= ~L4S_SVC_F_PENDING;
		m->svc.gen++;
		err = write_record(st, m);
	}
	return err;
}

/* Take back what a failed creation wrote (none of it went live), keeping its message. */
static void create_undo(struct l4s_state *st, __u32 id, int reserved, int err)
{
	char msg[512], hint[512];

	if (!reserved)
		return;
	snprintf(msg, sizeof(msg), "%s", l4s_errmsg());
	snprintf(hint, sizeof(hint), "%s", l4s_errhint() ? l4s_errhint() : "");
	svc_delete(st, id, NULL, NULL);
	l4s_err(err, "%s", msg);
	if (hint[0])
		l4s_hint("%s", hint);
}

static int service_create(struct l4s_state *st, const struct svc_spec *s,
			  const struct write_opts *o, struct write_result *r)
{
	struct model m;
	int err = create_prepare(st, s, o, r, &m);

	if (!err && !o->dry_run) {
		err = table_install(st, &m);
		if (!err)
			err = create_finish(st, s, &m);
	}
	if (err && !o->dry_run)
		create_undo(st, m.id, m.svc.flags & L4S_SVC_F_IN_USE, err);
	model_free(&m);
	return err;
}

static int frontends_same(const struct model *m, const struct svc_spec *s)
{
	if (m->nfe != s->nfe)
		return 0;
	for (int j = 0; j < s->nfe; j++)
		if (memcmp(&m->fe[j], &s->fe[j], sizeof(s->fe[j])))
			return 0;
	return 1;
}

static int service_update(struct l4s_state *st, __u32 id, const struct svc_spec *s,
			  const struct write_opts *o, struct write_result *r)
{
	struct model m = {}, orig = {};
	__u64 *old_eff = NULL;
	int err, nold;

	err = model_load(st, id, &m);
	if (!err)
		err = model_copy(&orig, &m); /* what undo_records puts back */
	if (err) {
		model_free(&m);
		return err;
	}
	r->id = id;
	if (o->agent && !(m.svc.flags & L4S_SVC_F_AGENT)) {
		l4s_err(EEXIST, "l4split service \"%s\" exists and was made by hand, not by the "
			"agent; leaving it alone", s->name);
		l4s_hint("delete it ('l4split service del %s') to let the agent manage it",
			 s->name);
		err = -EEXIST;
		goto out;
	}
	if (m.svc.table_size != s->table_size) {
		l4s_err(EINVAL, "service \"%s\": table size %u cannot change to %u in place", s->name,
			m.svc.table_size, s->table_size);
		l4s_hint("delete the service first ('l4split service del %s'), or keep its size",
			 s->name);
		err = -EINVAL;
		goto out;
	}
	if (m.svc.family != s->fe[0].family || m.svc.proto != s->fe[0].proto) {
		l4s_err(EINVAL, "service \"%s\": its protocol and address family cannot change in "
			"place", s->name);
		l4s_hint("delete the service first ('l4split service del %s')", s->name);
		err = -EINVAL;
		goto out;
	}
	err = check_frontends(st, s, id);
	if (err)
		goto out;
	nold = m.nbe;
	old_eff = calloc((size_t)nold + 1, sizeof(*old_eff));
	if (!old_eff) {
		err = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nold; i++)
		old_eff[i] = m.be[i].effective;
	r->fe_changed = !frontends_same(&m, s);
	r->flags_changed = (m.svc.flags & USER_FLAGS) != s->flags ||
			   m.aff_timeout != s->affinity_timeout;
	r->mode_changed = m.svc.mode != s->mode;
	err = diff_spec(st, &m, s, r);
	if (err)
		goto out;
	r->table_changed = table_differs(st, &m, old_eff, nold);
	r->changed = r->fe_changed || r->flags_changed || r->mode_changed || r->table_changed ||
		     r->be_added || r->be_removed || r->be_changed || r->tr_added ||
		     r->tr_removed || r->tr_changed;
	if (!r->changed || o->dry_run)
		goto out;
	/* 1. Dirty: a writer that dies from here on is finished by the next one. */
	m.svc.flags |= L4S_SVC_F_DIRTY;
	err = write_record(st, &m);
	if (err)
		goto out;
	/* 2. Records, 3. the switch (one outer-map update), the only step the datapath sees. */
	err = write_records(st, &m);
	if (!err && r->table_changed)
		err = table_install(st, &m);
	if (err) {
		undo_records(st, &m, &orig);
		m.svc = orig.svc;
		write_record(st, &m);
		goto out;
	}
	/* 4. What went away. A failure from here on leaves the table right; the record
	 * stays dirty so the next writer finishes it. */
	r->flows_dropped = finish_removals(st, &m);
	m.svc.mode = s->mode;
	if (r->fe_changed || r->mode_changed) {
		err = model_set_frontends(&m, s->fe, s->nfe);
		if (!err)
			err = write_frontends(st, id, s, &orig);
		if (!err)
			err = svc_sync_index(st, &m);
	} else if (r->be_added || r->be_removed) {
		err = svc_sync_index_changed(st, &m);
	}
	if (err)
		goto out;
	/* 5. Clean, with the flags and mode the spec gives. */
	m.svc.flags = L4S_SVC_F_IN_USE | s->flags;
	m.aff_timeout = s->affinity_timeout;
	if (r->table_changed)
		m.svc.gen++;
	err = write_record(st, &m);
out:
	free(old_eff);
	model_free(&orig);
	model_free(&m);
	return err;
}

int service_apply(struct l4s_state *st, const struct svc_spec *want, const struct write_opts *o,
		  struct write_result *r)
{
	__u32 id;
	int err;

	memset(r, 0, sizeof(*r));
	err = spec_validate(want);
	if (err)
		return err;
	if (!o->dry_run && (err = service_repair(st)))
		return err;
	if (want->mode != L4S_MODE_AUTO && want->mode != L4S_MODE_NAT &&
	    (err = state_require(st, STATE_HAS_SNAT)))
		return err;
	if (svc_lookup(st, want->name, &id)) {
		if (o->how == WRITE_UPDATE)
			return svc_find(st, want->name, &id); /* the message */
		return service_create(st, want, o, r);
	}
	if (o->how == WRITE_CREATE) {
		l4s_err(EEXIST, "service \"%s\" already exists", want->name);
		l4s_hint("delete it first with 'l4split service del %s'", want->name);
		return -EEXIST;
	}
	return service_update(st, id, want, o, r);
}

#define CREATE_BATCH 256 /* new services whose tables go in with one outer-map update */

struct create_batch {
	const struct svc_spec *s[CREATE_BATCH];
	struct write_result *r[CREATE_BATCH];
	struct model m[CREATE_BATCH];
	__u32 ids[CREATE_BATCH];
	int fds[CREATE_BATCH];
	int n;
};

/* Install the batch's tables in one update, then make each service reachable. On a
 * failure, the services before the failing one are complete, the rest are taken back;
 * *failed gets the failing one's position in the batch. */
static int batch_flush(struct l4s_state *st, struct create_batch *b, int *failed)
{
	int err = tables_put(st, b->ids, b->fds, b->n), i = 0;

	if (err) {
		err = l4s_err(err, "cannot install the lookup tables of %d new services: %s", b->n,
			      strerror(-err));
	} else {
		for (; i < b->n; i++) {
			err = create_finish(st, b->s[i], &b->m[i]);
			if (err)
				break;
		}
	}
	*failed = err ? i : -1;
	for (int j = 0; j < b->n; j++) {
		if (err && j >= i)
			create_undo(st, b->m[j].id, 1, err);
		close(b->fds[j]);
		model_free(&b->m[j]);
	}
	b->n = 0;
	return err;
}

int service_apply_many(struct l4s_state *st, const struct svc_spec *s, int n,
		       const struct write_opts *o, struct write_result *r, int *failed)
{
	struct create_batch *b = NULL;
	int err = 0, i, at;

	*failed = -1;
	if (o->dry_run || n < 2) {
		for (i = 0; i < n && !err; i++)
			err = service_apply(st, &s[i], o, &r[i]);
		if (err)
			*failed = i - 1;
		return err;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return l4s_err(ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		__u32 id;

		memset(&r[i], 0, sizeof(r[i]));
		err = spec_validate(&s[i]);
		if (!err)
			err = service_repair(st);
		if (err)
			break;
		/* An existing service, or the first new one of the command (its table_install
		 * finds out which kind of table the state takes): one at a time, in order. */
		if (!svc_lookup(st, s[i].name, &id) || !st->tables_known || o->how != WRITE_UPSERT) {
			if (b->n && (err = batch_flush(st, b, &at))) {
				*failed = i - b->n + at;
				break;
			}
			err = service_apply(st, &s[i], o, &r[i]);
			if (err)
				break;
			continue;
		}
		if (s[i].mode != L4S_MODE_AUTO && s[i].mode != L4S_MODE_NAT &&
		    (err = state_require(st, STATE_HAS_SNAT)))
			break;
		err = create_prepare(st, &s[i], o, &r[i], &b->m[b->n]);
		if (!err) {
			b->fds[b->n] = table_make(st, &b->m[b->n]);
			if (b->fds[b->n] < 0)
				err = b->fds[b->n];
		}
		if (err) {
			create_undo(st, b->m[b->n].id, b->m[b->n].svc.flags & L4S_SVC_F_IN_USE, err);
			model_free(&b->m[b->n]);
			break;
		}
		b->s[b->n] = &s[i];
		b->r[b->n] = &r[i];
		b->ids[b->n] = b->m[b->n].id;
		if (++b->n == CREATE_BATCH && (err = batch_flush(st, b, &at))) {
			*failed = i + 1 - CREATE_BATCH + at;
			break;
		}
	}
	if (err && *failed < 0) {
		/* i failed; the batch holds complete-but-unpublished services before it */
		int at2, ferr = b->n ? batch_flush(st, b, &at2) : 0;

		*failed = ferr ? i - b->n + at2 : i;
		if (ferr)
			err = ferr;
	} else if (!err && b->n && (err = batch_flush(st, b, &at))) {
		*failed = n - b->n + at;
	}
	free(b);
	return err;
}

int service_edit(struct l4s_state *st, const char *name,
		 int (*edit)(struct svc_spec *s, void *ctx), void *ctx, struct svc_spec *s,
		 struct write_result *r)
{
	struct write_opts wo = { .how = WRITE_UPDATE };
	int err = service_get(st, name, s);

	if (!err)
		err = edit(s, ctx);
	if (!err)
		err = service_apply(st, s, &wo, r);
	return err;
}

int service_delete(struct l4s_state *st, __u32 id, int *nbe, long *flows)
{
	int err = service_repair(st);

	return err ? err : svc_delete(st, id, nbe, flows);
}

/* A dirty service: free the backends marked REMOVING, rebuild the table from the
 * records, write the index, clean the record. */
static int repair_dirty(struct l4s_state *st, __u32 id)
{
	struct model m;
	int err;

	svc_free_removing(st, id);
	err = model_load(st, id, &m);
	if (err)
		return err;
	err = table_install(st, &m);
	if (!err)
		err = svc_sync_index(st, &m);
	if (!err) {
		m.svc.flags &= ~L4S_SVC_F_DIRTY;
		m.svc.gen++;
		err = write_record(st, &m);
	}
	model_free(&m);
	return err;
}

int service_repair(struct l4s_state *st)
{
	const struct l4s_service *all;
	int fixed = 0;

	if (st->repaired)
		return 0;
	all = state_services(st);
	if (!all)
		return -EIO;
	st->repaired = 1;
	for (__u32 id = 0; id < L4S_MAX_SERVICES; id++) {
		struct l4s_service s = all[id];
		int err = 0;

		if (!(s.flags & L4S_SVC_F_IN_USE) ||
		    !(s.flags & (L4S_SVC_F_PENDING | L4S_SVC_F_DIRTY)))
			continue;
		s.name[L4S_NAME_LEN - 1] = 0;
		if (s.flags & L4S_SVC_F_PENDING) {
			err = svc_delete(st, id, NULL, NULL);
			if (!err)
				l4s_note("Note: service \"%s\" was left half-made by an interrupted "
					 "writer: removed\n", s.name);
		} else {
			err = repair_dirty(st, id);
			if (!err)
				l4s_note("Note: service \"%s\" was left mid-change by an interrupted "
					 "writer: finished from its records\n", s.name);
		}
		if (err) {
			char why[512];

			snprintf(why, sizeof(why), "%s", l4s_errmsg());
			st->repaired = 0;
			return l4s_err(err, "cannot repair service \"%s\": %s", s.name, why);
		}
		fixed++;
	}
	/* A killed writer may have left l4s_svcidx listing what it had deleted (never
	 * missing what it wrote): make it list exactly what the maps hold. */
	if (fixed) {
		int err = state_svcidx_sync(st);

		if (err)
			st->repaired = 0;
		return err;
	}
	return 0;
}
