// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "err.h"
#include "mapscan.h"
#include "model.h"
#include "table.h"

/* In use and complete (not still being created by a writer). */
static int svc_live(const struct l4s_service *svc)
{
	return (svc->flags & (L4S_SVC_F_IN_USE | L4S_SVC_F_PENDING)) == L4S_SVC_F_IN_USE;
}

int svc_lookup(struct l4s_state *st, const char *name, __u32 *id)
{
	/* Not one still being created (or left so by a killed writer). */
	return state_service_id(st, name, L4S_SVC_F_PENDING, id);
}

int svc_find(struct l4s_state *st, const char *name, __u32 *id)
{
	int err = svc_lookup(st, name, id);

	if (err != -ENOENT)
		return err;
	l4s_err(ENOENT, "service \"%s\" not found", name);
	l4s_hint("'l4split status' lists services; create one with 'l4split service add %s "
		 "VIP:PORT/tcp'", name);
	return -ENOENT;
}

static struct l4s_state *sort_st;

static int cmp_svc_name(const void *a, const void *b)
{
	const struct l4s_service *all = sort_st->svc_snap;
	__u32 ia = *(const __u32 *)a, ib = *(const __u32 *)b;

	return strncmp(all[ia].name, all[ib].name, L4S_NAME_LEN);
}

int svc_list(struct l4s_state *st, __u32 **ids, int *n)
{
	const struct l4s_service *all = state_services(st);
	__u32 *out = NULL;
	int cnt = 0;

	if (!all)
		return -EIO;
	for (__u32 i = 0; i < L4S_MAX_SERVICES; i++) {
		if (!svc_live(&all[i]))
			continue;
		__u32 *tmp = realloc(out, sizeof(*out) * (size_t)(cnt + 1));

		if (!tmp) {
			free(out);
			return -ENOMEM;
		}
		out = tmp;
		out[cnt++] = i;
	}
	sort_st = st;
	if (cnt > 1)
		qsort(out, (size_t)cnt, sizeof(*out), cmp_svc_name);
	*ids = out;
	*n = cnt;
	return 0;
}

static int cmp_track(const void *a, const void *b)
{
	return strcmp(((const struct model_track *)a)->name, ((const struct model_track *)b)->name);
}

static int cmp_backend(const void *a, const void *b)
{
	const struct model_backend *x = a, *y = b;
	int c = strcmp(x->be.track, y->be.track);

	if (c)
		return c;
	c = memcmp(&x->be.addr, &y->be.addr, sizeof(x->be.addr));
	if (c)
		return c;
	return ntohs(x->be.port) - ntohs(y->be.port);
}

int model_load(struct l4s_state *st, __u32 id, struct model *m)
{
	const struct state_svc_index *x;
	int err;

	memset(m, 0, sizeof(*m));
	m->id = id;
	if (bpf_map_lookup_elem(st->services, &id, &m->svc))
		return l4s_err(errno, "cannot read service %u: %s", id, strerror(errno));
	state_affinity_timeout(st, id, &m->aff_timeout);
	x = state_index(st, id);
	if (!x)
		return -EIO;
	if (x->nfe) {
		m->fe = malloc(sizeof(*m->fe) * (size_t)x->nfe);
		if (!m->fe) {
			err = -ENOMEM;
			goto fail;
		}
		memcpy(m->fe, x->fe, sizeof(*m->fe) * (size_t)x->nfe);
		m->nfe = x->nfe;
	}
	for (int i = 0; i < x->ntr; i++) {
		struct model_track *mt = model_track_add(m, x->tr[i].name, x->tr[i].weight);

		if (!mt) {
			err = -ENOMEM;
			goto fail;
		}
		mt->in_map = 1;
	}
	if (!state_backends(st)) {
		err = -EIO;
		goto fail;
	}
	/* The service's own backends (the index lists them): loading the models of
	 * thousands of services is not thousands of scans of every backend. */
	for (int k = 0; k < x->nbe; k++) {
		__u32 i = x->be[k];
		struct l4s_backend be = st->be_snap[i];
		struct model_backend *tmp;
		__u64 w;

		if (!(be.flags & L4S_BE_F_IN_USE) || be.svc_id != id ||
		    (be.flags & L4S_BE_F_REMOVING)) /* going: see L4S_SVC_F_DIRTY */
			continue;
		/* Past a few backends, all weights in one read rather than one call each. */
		err = state_weight(st, i, &w, m->nbe >= 32);
		if (err)
			goto fail;
		tmp = realloc(m->be, sizeof(*tmp) * (size_t)(m->nbe + 1));
		if (!tmp) {
			err = -ENOMEM;
			goto fail;
		}
		m->be = tmp;
		memset(&m->be[m->nbe], 0, sizeof(*tmp));
		m->be[m->nbe].id = i;
		m->be[m->nbe].be = be;
		m->be[m->nbe].weight = w;
		m->nbe++;
		/* A backend whose track has no weight entry (half-written state): weight 0. */
		if (!model_track(m, be.track) && !model_track_add(m, be.track, 0)) {
			err = -ENOMEM;
			goto fail;
		}
	}
	if (m->ntr > 1)
		qsort(m->tr, (size_t)m->ntr, sizeof(*m->tr), cmp_track);
	if (m->nbe > 1)
		qsort(m->be, (size_t)m->nbe, sizeof(*m->be), cmp_backend);
	model_effective(m);
	return 0;
fail:
	model_free(m);
	return l4s_err(err, "cannot read the state of service %u: %s", id, strerror(-err));
}

int model_set_frontends(struct model *m, const struct l4s_frontend_key *fe, int nfe)
{
	struct l4s_frontend_key *nf = malloc(sizeof(*nf) * (size_t)(nfe ? nfe : 1));

	if (!nf)
		return l4s_err(ENOMEM, "out of memory");
	memcpy(nf, fe, sizeof(*nf) * (size_t)nfe);
	free(m->fe);
	m->fe = nf;
	m->nfe = nfe;
	return 0;
}

int model_copy(struct model *dst, const struct model *src)
{
	*dst = *src;
	dst->be = malloc(sizeof(*dst->be) * (size_t)(src->nbe + 1));
	dst->tr = malloc(sizeof(*dst->tr) * (size_t)(src->ntr + 1));
	dst->fe = malloc(sizeof(*dst->fe) * (size_t)(src->nfe + 1));
	if (!dst->be || !dst->tr || !dst->fe) {
		model_free(dst);
		return l4s_err(ENOMEM, "out of memory");
	}
	if (src->nbe)
		memcpy(dst->be, src->be, sizeof(*dst->be) * (size_t)src->nbe);
	if (src->ntr)
		memcpy(dst->tr, src->tr, sizeof(*dst->tr) * (size_t)src->ntr);
	if (src->nfe)
		memcpy(dst->fe, src->fe, sizeof(*dst->fe) * (size_t)src->nfe);
	return 0;
}

void model_free(struct model *m)
{
	free(m->be);
	free(m->tr);
	free(m->fe);
	m->be = NULL;
	m->tr = NULL;
	m->fe = NULL;
	m->nbe = m->ntr = m->nfe = 0;
}

struct model_track *model_track(struct model *m, const char *name)
{
	for (int i = 0; i < m->ntr; i++)
		if (!strncmp(m->tr[i].name, name, L4S_NAME_LEN))
			return &m->tr[i];
	return NULL;
}

struct model_track *model_track_add(struct model *m, const char *name, __u64 weight)
{
	struct model_track *tmp = realloc(m->tr, sizeof(*tmp) * (size_t)(m->ntr + 1));

	if (!tmp)
		return NULL;
	m->tr = tmp;
	tmp = &m->tr[m->ntr++];
	memset(tmp, 0, sizeof(*tmp));
	strncpy(tmp->name, name, L4S_NAME_LEN - 1);
	tmp->weight = weight;
	return tmp;
}

struct model_backend *model_backend_find(struct model *m, const struct l4s_addr *a, __u8 family,
					 __u16 port_host)
{
	for (int i = 0; i < m->nbe; i++) {
		struct model_backend *b = &m->be[i];

		if (!b->removed && b->be.family == family && b->be.port == htons(port_host) &&
		    !memcmp(&b->be.addr, a, sizeof(*a)))
			return b;
	}
	return NULL;
}

void model_effective(struct model *m)
{
	/* Each track's sum of backend weights, once: O(backends x tracks), not backends^2
	 * (a 1,000-backend weight change spent 9 ms comparing track names). */
	unsigned __int128 *sum = calloc((size_t)m->ntr + 1, sizeof(*sum));
	int *tix = calloc((size_t)m->nbe + 1, sizeof(*tix));

	if (!sum || !tix) { /* no memory: no traffic to anyone rather than a wrong split */
		for (int i = 0; i < m->nbe; i++)
			m->be[i].effective = 0;
		free(sum);
		free(tix);
		return;
	}
	for (int i = 0; i < m->nbe; i++) {
		struct model_track *t = model_track(m, m->be[i].be.track);

		tix[i] = t ? (int)(t - m->tr) : -1;
		if (t && !m->be[i].removed)
			sum[tix[i]] += m->be[i].weight;
	}
	for (int i = 0; i < m->nbe; i++) {
		struct model_backend *b = &m->be[i];
		struct model_track *t = tix[i] >= 0 ? &m->tr[tix[i]] : NULL;

		b->effective = 0;
		if (b->removed || !t || !t->weight || !b->weight)
			continue;
		/* track weight x (backend weight / sum in track), scaled by 2^20, exact ints. */
		b->effective = (__u64)(((unsigned __int128)t->weight * b->weight << 20) /
				       sum[tix[i]]);
	}
	free(sum);
	free(tix);
}

int model_read_table(struct l4s_state *st, struct model *m, __u32 **slots)
{
	struct bpf_map_info info = {};
	__u32 inner_id, *t, len = sizeof(info);
	int fd;

	*slots = NULL;
	if (bpf_map_lookup_elem(st->tables, &m->id, &inner_id))
		return 0; /* no table yet */
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return l4s_err(errno, "cannot open lookup table of service %u: %s", m->id,
			       strerror(errno));
	t = calloc(m->svc.table_size, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	/* Tables are BPF_F_MMAPABLE (see table_create): read through a mapping, not one
	 * syscall a slot (16,381 of them by default). An array map's values are 8-byte
	 * aligned: slot i is at byte 8 * i. */
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && (info.map_flags & BPF_F_MMAPABLE) &&
	    info.max_entries >= m->svc.table_size) {
		size_t mlen = sizeof(__u64) * (size_t)info.max_entries;
		const __u32 *v = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, 0);

		if (v != MAP_FAILED) {
			for (__u32 s = 0; s < m->svc.table_size; s++)
				t[s] = v[2 * s];
			munmap((void *)v, mlen);
			close(fd);
			*slots = t;
			return 0;
		}
	}
	/* A table made without BPF_F_MMAPABLE (a state upgraded from layout 2). */
	for (__u32 s = 0; s < m->svc.table_size; s++) {
		if (bpf_map_lookup_elem(fd, &s, &t[s])) {
			close(fd);
			free(t);
			return l4s_err(errno, "cannot read lookup table of service %u: %s", m->id,
				       strerror(errno));
		}
	}
	close(fd);
	*slots = t;
	return 0;
}

int model_count_slots(struct l4s_state *st, struct model *m)
{
	__u32 *t;
	int err = model_read_table(st, m, &t), *ix;

	for (int i = 0; i < m->nbe; i++)
		m->be[i].slots = 0;
	if (err || !t)
		return err;
	/* One pass over the slots: backend id -> 1 + index in @m (ids < the capacity). */
	ix = calloc(st->be_max, sizeof(*ix));
	if (!ix) {
		free(t);
		return l4s_err(ENOMEM, "out of memory");
	}
	for (int i = m->nbe - 1; i >= 0; i--) /* the first of equal ids counts, as before */
		if (m->be[i].id < st->be_max)
			ix[m->be[i].id] = i + 1;
	for (__u32 s = 0; s < m->svc.table_size; s++)
		if (t[s] < st->be_max && ix[t[s]])
			m->be[ix[t[s]] - 1].slots++;
	free(ix);
	free(t);
	return 0;
}

struct flow_count {
	struct model *m;
};

static int flow_count_fn(const void *k, const void *v, void *ctx)
{
	const struct l4s_flow *f = v;
	struct flow_count *fc = ctx;

	(void)k;
	if (f->svc_id != fc->m->id)
		return 0;
	for (int i = 0; i < fc->m->nbe; i++) {
		struct model_backend *b = &fc->m->be[i];

		if (b->id == f->backend_id && b->be.gen == f->backend_gen) {
			b->flows++;
			break;
		}
	}
	return 0;
}

int model_count_flows(struct l4s_state *st, struct model *m)
{
	struct flow_count fc = { .m = m };

	for (int i = 0; i < m->nbe; i++)
		m->be[i].flows = 0;
	return map_scan(st->flows, sizeof(struct l4s_flow_key), sizeof(struct l4s_flow),
			flow_count_fn, &fc);
}

/*
 * A new inner table holding @slots: mmapped and filled with one memcpy, or (a state
 * upgraded from layout 2, whose l4s_tables takes only tables without BPF_F_MMAPABLE)
 * filled by one batched update. The fd, or -errno with a message.
 */
static int table_create(const __u32 *slots, __u32 msz, int plain)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts,
		    .map_flags = BPF_F_INNER_MAP | (plain ? 0 : BPF_F_MMAPABLE));
	size_t len = sizeof(__u32) * (size_t)msz;
	__u32 *keys, count = msz;
	void *mem;
	int fd, err = 0;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "l4s_table", sizeof(__u32), sizeof(__u32), msz,
			    &opts);
	if (fd < 0)
		return l4s_err(errno, "cannot create a lookup table of %u slots: %s", msz,
			       strerror(errno));
	if (!plain) {
		/* An array map's values are 8-byte aligned: slot i is at byte 8 * i. */
		size_t mlen = sizeof(__u64) * (size_t)msz;
		__u32 *v;

		mem = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED) {
			err = l4s_err(errno, "cannot map a new lookup table: %s", strerror(errno));
			close(fd);
			return err;
		}
		v = mem;
		for (__u32 i = 0; i < msz; i++)
			v[2 * i] = slots[i];
		munmap(mem, mlen);
		return fd;
	}
	keys = malloc(len);
	if (!keys) {
		close(fd);
		return l4s_err(ENOMEM, "out of memory");
	}
	for (__u32 i = 0; i < msz; i++)
		keys[i] = i;
	if (bpf_map_update_batch(fd, keys, slots, &count, NULL)) {
		for (__u32 i = 0; i < msz && !err; i++)
			if (bpf_map_update_elem(fd, &keys[i], &slots[i], BPF_ANY))
				err = l4s_err(errno, "cannot fill the lookup table: %s",
					      strerror(errno));
	}
	free(keys);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int table_make(struct l4s_state *st, struct model *m)
{
	struct table_backend *tb = calloc((size_t)m->nbe + 1, sizeof(*tb));
	__u32 msz = m->svc.table_size, *slots = calloc(msz, sizeof(__u32));
	int n = 0, fd = -1, err;

	if (!tb || !slots) {
		fd = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	model_effective(m);
	for (int i = 0; i < m->nbe; i++) {
		if (m->be[i].removed)
			continue;
		tb[n].id = m->be[i].id;
		tb[n].addr = m->be[i].be.addr;
		tb[n].port = ntohs(m->be[i].be.port);
		tb[n].family = m->be[i].be.family;
		tb[n].weight = m->be[i].effective;
		n++;
	}
	err = table_build(tb, n, msz, slots);
	if (err) {
		fd = l4s_err(err, "cannot build the lookup table of \"%s\"", m->svc.name);
		goto out;
	}
	fd = table_create(slots, msz, st->tables_plain);
out:
	free(tb);
	free(slots);
	return fd;
}

int tables_put(struct l4s_state *st, const __u32 *ids, const int *fds, int n)
{
	__u32 done = 0;

	/* One update of the outer map for all of them: each update of a map of maps waits
	 * for the programs to be done with the old inner map (an RCU grace period, ~10 ms
	 * here), so n single updates cost n waits and one batch costs one. */
	if (n > 1) {
		__u32 count = (__u32)n;

		if (!bpf_map_update_batch(st->tables, ids, fds, &count, NULL))
			return 0;
		done = count < (__u32)n ? count : 0; /* what the batch did before it failed */
	}
	for (int i = (int)done; i < n; i++)
		if (bpf_map_update_elem(st->tables, &ids[i], &fds[i], BPF_ANY))
			return -errno;
	return 0;
}

int table_install(struct l4s_state *st, struct model *m)
{
	int fd = table_make(st, m), err;

	if (fd < 0)
		return fd;
	/* The switch: one update of the outer map. */
	err = tables_put(st, &m->id, &fd, 1);
	if (err == -EINVAL && !st->tables_plain) {
		/* Made for layout 2's tables: fill them slot by slot from now on. */
		close(fd);
		st->tables_plain = 1;
		fd = table_make(st, m);
		if (fd < 0)
			return fd;
		err = tables_put(st, &m->id, &fd, 1);
	}
	close(fd);
	if (err)
		return l4s_err(err, "cannot install the lookup table of \"%s\": %s", m->svc.name,
			       strerror(-err));
	st->tables_known = 1;
	return 0;
}

int backend_alloc(struct l4s_state *st, __u32 *id, __u32 *exclude, int nexclude)
{
	const struct l4s_backend *all = state_backends(st);

	if (!all)
		return -EIO;
	/* From where the last allocation stopped: n allocations cost n, not n^2. */
	for (__u32 k = 0; k < st->be_max; k++) {
		__u32 i = (st->be_hint + k) % st->be_max;
		int taken = 0;

		if (all[i].flags & L4S_BE_F_IN_USE)
			continue;
		for (int j = 0; j < nexclude; j++)
			if (exclude[j] == i)
				taken = 1;
		if (taken)
			continue;
		*id = i;
		st->be_hint = i + 1;
		return 0;
	}
	l4s_err(ENOSPC, "no free backend slot: all %u are in use", st->be_max);
	l4s_hint("delete unused backends or services");
	return -ENOSPC;
}

/* A growing list of flow keys, collected during a scan and deleted after it. */
struct key_list {
	struct l4s_flow_key *keys;
	long n, cap;
};

static int key_list_add(struct key_list *kl, const void *k)
{
	if (kl->n == kl->cap) {
		long cap = kl->cap ? kl->cap * 2 : 256;
		struct l4s_flow_key *tmp = realloc(kl->keys, sizeof(*tmp) * (size_t)cap);

		if (!tmp)
			return -ENOMEM;
		kl->keys = tmp;
		kl->cap = cap;
	}
	memcpy(&kl->keys[kl->n++], k, sizeof(*kl->keys));
	return 0;
}

/* Delete every collected key from @fd; returns how many went. */
static long key_list_delete(int fd, struct key_list *kl)
{
	long removed = 0;

	for (long i = 0; i < kl->n; i++)
		if (!bpf_map_delete_elem(fd, &kl->keys[i]))
			removed++;
	free(kl->keys);
	kl->keys = NULL;
	return removed;
}

struct flush_ctx {
	__u32 id;
	int by_service;
	struct key_list kl;
};

static int flush_collect(const void *k, const void *v, void *ctx)
{
	struct flush_ctx *fc = ctx;
	__u32 match = fc->by_service ? ((const struct l4s_flow *)v)->svc_id
				     : ((const struct l4s_flow *)v)->backend_id;

	return match == fc->id ? key_list_add(&fc->kl, k) : 0;
}

static long flows_flush(struct l4s_state *st, __u32 id, int by_service)
{
	struct flush_ctx fc = { .id = id, .by_service = by_service };
	int err = map_scan(st->flows, sizeof(struct l4s_flow_key), sizeof(struct l4s_flow),
			   flush_collect, &fc);

	if (err) {
		free(fc.kl.keys);
		return err;
	}
	return key_list_delete(st->flows, &fc.kl);
}

struct rflush_ctx {
	__u32 *ids;
	int nids;
	struct key_list kl;
};

static int rflush_collect(const void *k, const void *v, void *ctx)
{
	struct rflush_ctx *rc = ctx;
	const struct l4s_rflow *rf = v;

	for (int i = 0; i < rc->nids; i++)
		if (rc->ids[i] == rf->backend_id)
			return key_list_add(&rc->kl, k);
	return 0;
}

void rflows_flush(struct l4s_state *st, __u32 *ids, int nids)
{
	struct rflush_ctx rc = { .ids = ids, .nids = nids };

	if (nids && !map_scan(st->rflows, sizeof(struct l4s_flow_key), sizeof(struct l4s_rflow),
			      rflush_collect, &rc))
		key_list_delete(st->rflows, &rc.kl);
	free(rc.kl.keys);
}

long flows_flush_backend(struct l4s_state *st, __u32 backend_id)
{
	long n = flows_flush(st, backend_id, 0);

	rflows_flush(st, &backend_id, 1);
	return n;
}

long flows_flush_backend_fwd(struct l4s_state *st, __u32 backend_id)
{
	return flows_flush(st, backend_id, 0);
}

long flows_flush_service(struct l4s_state *st, __u32 svc_id)
{
	return flows_flush(st, svc_id, 1);
}
