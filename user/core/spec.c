// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The desired state of a service (spec.h): building it, and merging endpoints into it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "parse.h"
#include "spec.h"

void spec_init(struct svc_spec *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
	s->table_size = L4S_TABLE_DEFAULT;
	s->mode = L4S_MODE_AUTO;
}

void spec_free(struct svc_spec *s)
{
	free(s->fe);
	free(s->tr);
	free(s->be);
	s->fe = NULL;
	s->tr = NULL;
	s->be = NULL;
	s->nfe = s->ntr = s->nbe = 0;
}

static void *dup_array(const void *src, int n, size_t sz)
{
	void *p = malloc(sz * (size_t)(n ? n : 1));

	if (p && n)
		memcpy(p, src, sz * (size_t)n);
	return p;
}

int spec_copy(struct svc_spec *dst, const struct svc_spec *src)
{
	*dst = *src;
	dst->fe = dup_array(src->fe, src->nfe, sizeof(*src->fe));
	dst->tr = dup_array(src->tr, src->ntr, sizeof(*src->tr));
	dst->be = dup_array(src->be, src->nbe, sizeof(*src->be));
	if (!dst->fe || !dst->tr || !dst->be) {
		spec_free(dst);
		return l4s_err(ENOMEM, "out of memory");
	}
	return 0;
}

/* Grow an array of @n elements of @sz bytes to hold one more. */
static int grow(void **arr, int n, size_t sz)
{
	void *p;

	if (n & (n - 1) && n > 8)
		return 0; /* capacity is the next power of two (or 8): room left */
	p = realloc(*arr, sz * (size_t)(n < 8 ? 8 : 2 * n));
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

int spec_add_frontend(struct svc_spec *s, const struct l4s_frontend_key *k)
{
	if (grow((void **)&s->fe, s->nfe, sizeof(*s->fe)))
		return l4s_err(ENOMEM, "out of memory");
	s->fe[s->nfe++] = *k;
	return 0;
}

struct spec_track *spec_track(const struct svc_spec *s, const char *name)
{
	for (int i = 0; i < s->ntr; i++)
		if (!strncmp(s->tr[i].name, name, L4S_NAME_LEN))
			return &s->tr[i];
	return NULL;
}

struct spec_track *spec_track_add(struct svc_spec *s, const char *name, __u64 weight)
{
	struct spec_track *t = spec_track(s, name);

	if (t)
		return t;
	if (grow((void **)&s->tr, s->ntr, sizeof(*s->tr)))
		return NULL;
	t = &s->tr[s->ntr++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->weight = weight;
	return t;
}

void spec_track_del(struct spec_track *t, struct svc_spec *s)
{
	int i = (int)(t - s->tr);

	memmove(&s->tr[i], &s->tr[i + 1], sizeof(*t) * (size_t)(s->ntr - i - 1));
	s->ntr--;
}

struct spec_backend *spec_backend(const struct svc_spec *s, const struct l4s_addr *a,
				  __u8 family, __u16 port_host)
{
	for (int i = 0; i < s->nbe; i++) {
		struct spec_backend *b = &s->be[i];

		if (b->family == family && b->port == port_host && !memcmp(&b->addr, a, sizeof(*a)))
			return b;
	}
	return NULL;
}

struct spec_backend *spec_backend_add(struct svc_spec *s, const struct l4s_addr *a, __u8 family,
				      __u16 port_host, const char *track, __u64 weight)
{
	struct spec_backend *b;

	if (grow((void **)&s->be, s->nbe, sizeof(*s->be)))
		return NULL;
	b = &s->be[s->nbe++];
	memset(b, 0, sizeof(*b));
	b->addr = *a;
	b->family = family;
	b->port = port_host;
	snprintf(b->track, sizeof(b->track), "%s", track);
	b->weight = weight;
	return b;
}

void spec_backend_del(struct spec_backend *b, struct svc_spec *s)
{
	int i = (int)(b - s->be);

	memmove(&s->be[i], &s->be[i + 1], sizeof(*b) * (size_t)(s->nbe - i - 1));
	s->nbe--;
}

int spec_track_used(const struct svc_spec *s, const char *name)
{
	for (int i = 0; i < s->nbe; i++)
		if (!strncmp(s->be[i].track, name, L4S_NAME_LEN))
			return 1;
	return 0;
}

/* Endpoints sorted by address and port, ready ones first: duplicates end up adjacent,
 * and the first of a run is the one that wins. */
static int cmp_ep(const void *a, const void *b)
{
	const struct spec_endpoint *x = *(const struct spec_endpoint *const *)a;
	const struct spec_endpoint *y = *(const struct spec_endpoint *const *)b;
	int c = (int)x->family - (int)y->family;

	if (!c)
		c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	if (!c)
		c = (int)x->port - (int)y->port;
	if (!c)
		c = (int)x->state - (int)y->state; /* EP_READY (0) first */
	if (!c)
		c = strcmp(x->track, y->track);
	return c;
}

/* Same address and port (the backend an endpoint is). */
static int cmp_ep_key(const struct spec_endpoint *x, const struct spec_endpoint *y)
{
	int c = (int)x->family - (int)y->family;

	if (!c)
		c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	return c ? c : (int)x->port - (int)y->port;
}

static const struct spec_backend *be_sort_base;

static int be_key_cmp(const struct spec_backend *b, __u8 family, const struct l4s_addr *a,
		      __u16 port)
{
	int c = (int)b->family - (int)family;

	if (!c)
		c = memcmp(&b->addr, a, sizeof(*a));
	return c ? c : (int)b->port - (int)port;
}

/* Backend indices by (family, address, port), then position. */
static int cmp_be_key(const void *x, const void *y)
{
	int i = *(const int *)x, j = *(const int *)y;
	const struct spec_backend *b = &be_sort_base[j];
	int c = be_key_cmp(&be_sort_base[i], b->family, &b->addr, b->port);

	return c ? c : (i > j) - (i < j);
}

/* The first backend (lowest position) with @e's address and port, or NULL. */
static struct spec_backend *be_search(struct spec_backend *be, const int *ix, int n,
				      const struct spec_endpoint *e)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (be_key_cmp(&be[ix[mid]], e->family, &e->addr, e->port) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !be_key_cmp(&be[ix[lo]], e->family, &e->addr, e->port) ? &be[ix[lo]] :
										     NULL;
}

static int in_scope(const char *track, const char *only)
{
	return !only || !strcmp(track, only);
}

int spec_merge_endpoints(struct svc_spec *s, const struct spec_endpoint *ep, int n,
			 const char *only_track, __u64 new_track_weight, struct merge_counts *c)
{
	const struct spec_endpoint **sorted = calloc((size_t)n + 1, sizeof(*sorted));
	char *seen = calloc((size_t)s->nbe + (size_t)n + 1, 1); /* room for every addition */
	int err = 0, kept = 0, n0, *bix = NULL;

	if (!sorted || !seen) {
		err = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		sorted[i] = &ep[i];
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_ep);
	/* One entry per address and port: the first of each run (ready before drained).
	 * Two ready endpoints there on different tracks cannot both be right. */
	for (int i = 0, first = 0; i < n; i++) {
		const struct spec_endpoint *e = sorted[i];

		/* sorted[] is compacted as it goes: compare with the run's first, kept aside */
		if (i && !cmp_ep_key(sorted[first], e))
			continue;
		first = kept;
		for (int j = i + 1; j < n && !cmp_ep_key(sorted[j], e); j++) {
			const struct spec_endpoint *o = sorted[j];
			char buf[96];

			if (o->state == EP_READY && strcmp(o->track, e->track)) {
				err = l4s_err(EEXIST, "endpoints %s%s%s and %s%s%s both serve %s, on "
					      "tracks \"%s\" and \"%s\"", e->name[0] ? "\"" : "",
					      e->name, e->name[0] ? "\"" : "", o->name[0] ? "\"" : "",
					      o->name, o->name[0] ? "\"" : "",
					      fmt_addr_port(buf, &e->addr, e->family, e->port),
					      e->track, o->track);
				l4s_hint("an address and port is one backend: give it one track");
				goto out;
			}
		}
		if (kept + 1 > L4S_MAX_BACKENDS_PER_SVC) {
			err = l4s_err(E2BIG, "more than %d endpoints for service \"%s\": a service may "
				      "have at most %d backends", L4S_MAX_BACKENDS_PER_SVC, s->name,
				      L4S_MAX_BACKENDS_PER_SVC);
			goto out;
		}
		sorted[kept++] = e;
	}
	/* The backends there before, sorted as the endpoints are: one binary search per
	 * endpoint (spec_backend's scan per endpoint was O(n^2) at 5,000). Ties to the
	 * first, as spec_backend. Additions need no search: the endpoints are distinct. */
	n0 = s->nbe;
	bix = malloc(sizeof(*bix) * ((size_t)n0 + 1));
	if (!bix) {
		err = l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n0; i++)
		bix[i] = i;
	be_sort_base = s->be;
	qsort(bix, (size_t)n0, sizeof(*bix), cmp_be_key);
	for (int i = 0; i < kept; i++) {
		const struct spec_endpoint *e = sorted[i];
		struct spec_backend *b = be_search(s->be, bix, n0, e);

		if (b) {
			seen[b - s->be] = 1;
			if (strcmp(b->track, e->track)) {
				snprintf(b->track, sizeof(b->track), "%s", e->track);
				c->moved++;
			}
			if (e->state == EP_DRAIN && b->weight) {
				b->weight = 0;
				c->drained++;
			} else if (e->state == EP_READY && !b->weight) {
				b->weight = L4S_WEIGHT_ONE;
				c->restored++;
			} else {
				c->unchanged++;
			}
		} else if (e->state == EP_READY) {
			if (!spec_backend_add(s, &e->addr, e->family, e->port, e->track,
					      L4S_WEIGHT_ONE)) {
				err = l4s_err(ENOMEM, "out of memory");
				goto out;
			}
			seen[s->nbe - 1] = 1;
			c->added++;
		} else {
			c->ignored++; /* terminating or unready, and not a backend yet */
		}
	}
	/* Backends in scope that the list no longer has go (one pass, order kept). */
	{
		int w = 0;

		for (int i = 0; i < s->nbe; i++) {
			if (!seen[i] && in_scope(s->be[i].track, only_track)) {
				c->removed++;
				continue;
			}
			s->be[w++] = s->be[i];
		}
		s->nbe = w;
	}
	/* Tracks that appear start at @new_track_weight. */
	for (int i = 0; i < s->nbe; i++) {
		if (spec_track(s, s->be[i].track))
			continue;
		if (!spec_track_add(s, s->be[i].track, new_track_weight)) {
			err = l4s_err(ENOMEM, "out of memory");
			goto out;
		}
		c->tracks_added++;
	}
out:
	free(sorted);
	free(seen);
	free(bix);
	return err;
}

void spec_shares(const struct svc_spec *s, double *track_share, double *be_share)
{
	/* The table's own arithmetic (model_effective): a backend's effective weight is
	 * track weight x its weight x 2^20 / the sum of weights in its track, in integers,
	 * so what a command prints is the share the table is built from. */
	unsigned __int128 *sum = calloc((size_t)s->ntr + 1, sizeof(*sum)), total = 0;
	__u64 *eff = calloc((size_t)s->nbe + 1, sizeof(*eff));

	for (int t = 0; t < s->ntr; t++)
		if (track_share)
			track_share[t] = 0;
	for (int i = 0; i < s->nbe; i++)
		if (be_share)
			be_share[i] = 0;
	if (!sum || !eff)
		goto out;
	for (int i = 0; i < s->nbe; i++) {
		const struct spec_track *t = spec_track(s, s->be[i].track);

		if (t)
			sum[t - s->tr] += s->be[i].weight;
	}
	for (int i = 0; i < s->nbe; i++) {
		const struct spec_track *t = spec_track(s, s->be[i].track);

		if (!t || !sum[t - s->tr] || !t->weight || !s->be[i].weight)
			continue;
		eff[i] = (__u64)(((unsigned __int128)t->weight * s->be[i].weight << 20) /
				 sum[t - s->tr]);
		total += eff[i];
	}
	if (!total)
		goto out;
	for (int i = 0; i < s->nbe; i++) {
		const struct spec_track *t = spec_track(s, s->be[i].track);
		double share = (double)eff[i] * 100.0 / (double)total;

		if (be_share)
			be_share[i] = share;
		if (t && track_share)
			track_share[t - s->tr] += share;
	}
out:
	free(sum);
	free(eff);
}
