// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "err.h"
#include "model.h"
#include "parse.h"
#include "svc.h"
#include "mapscan.h"

int svc_frontend_owner(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 self)
{
	struct l4s_frontend f;
	struct l4s_service cur;
	char buf[96];

	if (bpf_map_lookup_elem(st->frontends, k, &f) || f.svc_id == self)
		return 0;
	memset(&cur, 0, sizeof(cur));
	bpf_map_lookup_elem(st->services, &f.svc_id, &cur);
	if (cur.flags & L4S_SVC_F_PENDING)
		return 0; /* a creation cut short: service_repair removes it before any write */
	cur.name[L4S_NAME_LEN - 1] = 0;
	l4s_err(EEXIST, "frontend %s is already used by service \"%s\"", fmt_frontend(buf, k),
		cur.name);
	l4s_hint("'l4split status %s' shows it; a frontend belongs to one service", cur.name);
	return -EEXIST;
}

int svc_free_slot(struct l4s_state *st, __u32 *idp)
{
	const struct l4s_service *all = state_services(st);

	if (!all)
		return -EIO;
	for (__u32 id = 0; id < L4S_MAX_SERVICES; id++)
		if (!(all[id].flags & L4S_SVC_F_IN_USE)) {
			*idp = id;
			return 0;
		}
	l4s_err(ENOSPC, "no free service slot: all %d are in use", L4S_MAX_SERVICES);
	l4s_hint("delete services that are no longer used");
	return -ENOSPC;
}

int svc_reserve(struct l4s_state *st, __u32 id, const char *name,
		const struct l4s_frontend_key *fe0, __u32 flags, __u32 table_size, __u8 mode,
		struct l4s_service *out)
{
	struct l4s_service svc = {};
	size_t sz = sizeof(struct l4s_service_stats) * (size_t)st->ncpus;
	void *z;

	if (!state_services(st))
		return -EIO;
	snprintf(svc.name, sizeof(svc.name), "%s", name);
	svc.flags = L4S_SVC_F_IN_USE | flags;
	svc.table_size = table_size;
	svc.proto = fe0->proto;
	svc.family = fe0->family;
	svc.mode = mode;
	svc.gen = st->svc_snap[id].gen;
	if (state_put_service(st, id, &svc))
		return l4s_err(errno, "cannot write service: %s", strerror(errno));
	z = calloc(1, sz);
	if (z) {
		bpf_map_update_elem(st->sstats, &id, z, BPF_ANY);
		free(z);
	}
	*out = svc;
	return 0;
}

static struct l4s_frontend_key index_key(const struct model *m, const struct model_backend *b)
{
	struct l4s_frontend_key k = { .vip = b->be.addr, .port = b->be.port,
				      .proto = m->svc.proto, .family = b->be.family };
	return k;
}

/*
 * Backend @b's no-reverse-entry record (key @k's), for service @m: first come, so
 * nothing is written where another service holds it (the replies of that service's
 * flows depend on its VIP); a record of @m's own is kept while @m has the backend,
 * its VIP:port unchanged while that is still one of @m's frontends (the flows through
 * it keep working), and says whether new flows may go without a reverse entry (one
 * frontend of the family, not DSR) in l4s_norev. A full map only costs the
 * optimisation.
 */
static int norev_sync(struct l4s_state *st, const struct model *m,
		      const struct model_backend *b, const struct l4s_frontend_key *k,
		      struct l4s_frontend_key *written, int *nwritten)
{
	struct l4s_frontend_key kn = *k;
	struct l4s_bindex v = { .svc_id = m->id }, cur;
	int have, nfe = 0, f1 = -1, cur_fe = 0;

	if (st->norev < 0)
		return 0; /* state from before it: attach adds it */
	have = !bpf_map_lookup_elem(st->norev, &kn, &cur);
	if (have && cur.svc_id != m->id)
		return 0;
	for (int f = 0; f < m->nfe; f++) {
		if (m->fe[f].family != b->be.family)
			continue;
		if (f1 < 0)
			f1 = f;
		nfe++;
		if (have && m->fe[f].port == cur.vport &&
		    !memcmp(&m->fe[f].vip, &cur.vip, sizeof(cur.vip)))
			cur_fe = 1;
	}
	if (!have && nfe != 1)
		return 0; /* nothing to keep, nothing to allow */
	if (nfe == 1 && !cur_fe) {
		v.vip = m->fe[f1].vip;
		v.vport = m->fe[f1].port;
	} else {
		v.vip = cur.vip;
		v.vport = cur.vport;
	}
	if (nfe == 1 && m->svc.mode != L4S_MODE_DSR)
		v.flags = L4S_BINDEX_F_ONE_FE;
	if (!have || memcmp(&v, &cur, sizeof(v))) {
		if (bpf_map_update_elem(st->norev, &kn, &v, BPF_ANY)) {
			if (errno == E2BIG || errno == ENOMEM || errno == ENOSPC)
				return 0;
			return l4s_err(errno, "cannot write l4s_norev: %s", strerror(errno));
		}
	}
	if (written)
		written[(*nwritten)++] = kn;
	return 0;
}

/*
 * Make the index entries of @m's backends what the model says, from the model alone
 * (no scan of the map: a commit costs one update per backend): present backends are
 * written, removed ones (or all, @deleted) deleted where they are still this
 * service's. With @written, the keys written are appended there (for the rebuild).
 */
static int index_sync(struct l4s_state *st, const struct model *m, int deleted,
		      int only_changed, struct l4s_frontend_key *written, int *nwritten,
		      struct l4s_frontend_key *written_norev, int *nwritten_norev)
{
	if (st->bindex < 0)
		return 0; /* state from before the index: attach adds it */
	for (int j = 0; j < m->nbe; j++) {
		const struct model_backend *b = &m->be[j];
		struct l4s_frontend_key k = index_key(m, b);
		struct l4s_bindex v = { .svc_id = m->id }, cur;
		int f, err;

		if (only_changed && !b->fresh && !b->removed)
			continue;
		if (deleted || b->removed) {
			if (!bpf_map_lookup_elem(st->bindex, &k, &cur) && cur.svc_id == m->id)
				bpf_map_delete_elem(st->bindex, &k);
			if (st->norev >= 0 && !bpf_map_lookup_elem(st->norev, &k, &cur) &&
			    cur.svc_id == m->id)
				bpf_map_delete_elem(st->norev, &k);
			continue;
		}
		err = norev_sync(st, m, b, &k, nwritten_norev ? written_norev : NULL,
				 nwritten_norev);
		if (err)
			return err;
		/* What it answers as: the first frontend of the backend's family. */
		for (f = 0; f < m->nfe && m->fe[f].family != b->be.family; f++)
			;
		if (f == m->nfe)
			continue;
		v.vip = m->fe[f].vip;
		v.vport = m->fe[f].port;
		v.flags = m->svc.mode == L4S_MODE_DSR ? L4S_BINDEX_F_DSR : 0;
		if (bpf_map_update_elem(st->bindex, &k, &v, BPF_ANY))
			return l4s_err(errno, "cannot write l4s_bindex: %s", strerror(errno));
		if (written)
			written[(*nwritten)++] = k;
	}
	return 0;
}

int svc_sync_index(struct l4s_state *st, const struct model *m)
{
	return index_sync(st, m, 0, 0, NULL, NULL, NULL, NULL);
}

int svc_sync_index_changed(struct l4s_state *st, const struct model *m)
{
	return index_sync(st, m, 0, 1, NULL, NULL, NULL, NULL);
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct l4s_frontend_key));
}

struct index_keys {
	struct l4s_frontend_key *k;
	int n, cap;
};

static int index_collect(const void *k, const void *v, void *ctx)
{
	struct index_keys *d = ctx;

	(void)v;
	if (d->n == d->cap) {
		int cap = d->cap ? d->cap * 2 : 256;
		void *nk = realloc(d->k, (size_t)cap * sizeof(*d->k));

		if (!nk)
			return -ENOMEM;
		d->k = nk;
		d->cap = cap;
	}
	d->k[d->n++] = *(const struct l4s_frontend_key *)k;
	return 0;
}

/* Delete from @fd every key of @old not among the @nw sorted keys of @written. */
static void index_sweep(int fd, const struct index_keys *old, struct l4s_frontend_key *written,
			int nw)
{
	qsort(written, (size_t)nw, sizeof(*written), key_cmp);
	for (int i = 0; i < old->n; i++)
		if (!bsearch(&old->k[i], written, (size_t)nw, sizeof(*written), key_cmp))
			bpf_map_delete_elem(fd, &old->k[i]);
}

int svc_sync_index_all(struct l4s_state *st)
{
	struct index_keys old = { 0 }, oldn = { 0 };
	struct l4s_frontend_key *written = NULL, *writtenn = NULL;
	__u32 *ids = NULL;
	int n = 0, nw = 0, nwn = 0, err;

	if (st->bindex < 0)
		return 0;
	/* Rebuild every service's entries (and no-reverse-entry records), then drop what
	 * none of them wrote (left by an older binary's changes, or by a service gone):
	 * never an empty index in between. */
	err = map_scan(st->bindex, sizeof(struct l4s_frontend_key), sizeof(struct l4s_bindex),
		       index_collect, &old);
	if (!err && st->norev >= 0)
		err = map_scan(st->norev, sizeof(struct l4s_frontend_key),
			       sizeof(struct l4s_bindex), index_collect, &oldn);
	if (err < 0)
		err = l4s_err(-err, "cannot read the backend index: %s", strerror(-err));
	if (!err)
		err = svc_list(st, &ids, &n);
	if (!err && (!(written = calloc(st->be_max + 1, sizeof(*written))) ||
		     !(writtenn = calloc(st->be_max + 1, sizeof(*writtenn)))))
		err = l4s_err(ENOMEM, "out of memory");
	for (int i = 0; !err && i < n; i++) {
		struct model m;

		err = model_load(st, ids[i], &m);
		if (err)
			break;
		if ((__u32)(nw + m.nbe) <= st->be_max && (__u32)(nwn + m.nbe) <= st->be_max)
			err = index_sync(st, &m, 0, 0, written, &nw, writtenn, &nwn);
		model_free(&m);
	}
	if (!err) {
		index_sweep(st->bindex, &old, written, nw);
		if (st->norev >= 0)
			index_sweep(st->norev, &oldn, writtenn, nwn);
	}
	free(old.k);
	free(oldn.k);
	free(written);
	free(writtenn);
	free(ids);
	return err;
}

void svc_free_removing(struct l4s_state *st, __u32 id)
{
	const struct state_svc_index *x = state_index(st, id);
	__u32 *ids;
	int n;

	if (!x || !x->nbe || !(ids = malloc(sizeof(*ids) * (size_t)x->nbe)))
		return;
	/* A copy: each write takes the id off the list it walks. */
	n = x->nbe;
	memcpy(ids, x->be, sizeof(*ids) * (size_t)n);
	for (int i = 0; i < n; i++) {
		struct l4s_backend b = st->be_snap[ids[i]], gone = { .gen = b.gen + 1 };

		if (!(b.flags & L4S_BE_F_REMOVING))
			continue;
		state_put_backend(st, ids[i], &gone);
		state_put_weight(st, ids[i], 0);
		flows_flush_backend(st, ids[i]);
	}
	free(ids);
}

int svc_delete(struct l4s_state *st, __u32 id, int *nbe, long *flowsp)
{
	struct model m;
	long flows;
	int err = model_load(st, id, &m);

	if (err)
		return err;
	/* Unreachable first (frontends), then the table, then everything it named. */
	for (int i = 0; i < m.nfe; i++)
		state_del_frontend(st, &m.fe[i], id);
	bpf_map_delete_elem(st->tables, &id);
	for (int i = 0; i < m.nbe; i++) {
		struct l4s_backend gone = { .gen = m.be[i].be.gen + 1 };

		state_put_backend(st, m.be[i].id, &gone);
		state_put_weight(st, m.be[i].id, 0);
	}
	svc_free_removing(st, id); /* and those an interrupted change was removing */
	for (int i = 0; i < m.ntr; i++)
		state_del_track(st, id, m.tr[i].name);
	if (st->rollouts >= 0)
		bpf_map_delete_elem(st->rollouts, &id);
	index_sync(st, &m, 1, 0, NULL, NULL, NULL, NULL); /* forget its backends in the index */
	flows = flows_flush_service(st, id);
	for (int i = 0; i < m.nbe; i++)
		flows_flush_backend(st, m.be[i].id);
	{
		struct l4s_service gone = { .gen = m.svc.gen + 1 };

		state_put_service(st, id, &gone);
	}
	if (nbe)
		*nbe = m.nbe;
	if (flowsp)
		*flowsp = flows > 0 ? flows : 0;
	model_free(&m);
	return 0;
}
