// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "l4split_hash.h"
#include "table.h"

#define SEED_OFFSET 0x6d61676cu /* "magl" */
#define SEED_SKIP   0x65766c31u /* "evl1" */

static int be_cmp(const void *a, const void *b)
{
	const struct table_backend *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(&x->addr, &y->addr, sizeof(x->addr));
	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static const __u64 *rem_sort_base;

/* Larger remainder first; ties to the earlier backend. */
static int rem_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (rem_sort_base[x] != rem_sort_base[y])
		return rem_sort_base[x] > rem_sort_base[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

int table_quotas(const struct table_backend *bes, int n, __u32 m, __u32 *quota)
{
	unsigned __int128 total = 0;
	__u64 *rem;
	__u32 given = 0;

	for (int i = 0; i < n; i++)
		total += bes[i].weight;
	memset(quota, 0, sizeof(*quota) * (size_t)n);
	if (!total)
		return 0;
	rem = calloc((size_t)n, sizeof(*rem));
	if (!rem)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		unsigned __int128 x = (unsigned __int128)m * bes[i].weight;

		quota[i] = (__u32)(x / total);
		rem[i] = (__u64)(x % total);
		given += quota[i];
	}
	/* Hand out what is left to the largest remainders; ties to the earlier backend.
	 * Fewer slots are left than backends with a remainder (each remainder is below
	 * total), so each gets at most one: the first m - given in that order, one sort
	 * (a scan of every backend per slot was O(n^2): 25 M steps at 5,000 backends). */
	if (given < m) {
		int *ix = malloc(sizeof(*ix) * (size_t)n), k = 0;

		if (!ix) {
			free(rem);
			return -ENOMEM;
		}
		for (int i = 0; i < n; i++)
			if (bes[i].weight)
				ix[k++] = i;
		rem_sort_base = rem;
		qsort(ix, (size_t)k, sizeof(*ix), rem_cmp);
		for (int i = 0; given < m && i < k; i++, given++)
			quota[ix[i]]++;
		free(ix);
	}
	free(rem);
	return 0;
}

struct perm {
	__u32 offset, skip, cur; /* cur: the next slot to try, offset + k * skip (mod m) */
};

/*
 * The order backends take turns: backend b's k-th turn (k < quota_b) comes at virtual
 * time (2k+1) / (2 quota_b), ties to the lower index. Every turn is placed in one of m
 * buckets by floor(time * m), which keeps that order between buckets; a bucket holds
 * about one turn, put in order by the exact comparison. The same order a heap of the
 * backends gives, in O(m) instead of O(m log n) (a heap was half a weight change's
 * time at 100 backends).
 */
struct turn {
	__u32 b, k;
};

/* Does turn x come before turn y? (2kx+1)/qx < (2ky+1)/qy, exactly; then by backend. */
static int turn_before(const struct turn *x, const struct turn *y, const __u32 *quota)
{
	__u64 l = (2ull * x->k + 1) * quota[y->b], r = (2ull * y->k + 1) * quota[x->b];

	if (l != r)
		return l < r;
	return x->b < y->b;
}

/*
 * The buckets of backend b's turns, floor((2k+1) m / 2q) for k = 0 .. q-1, one step at
 * a time: the numerator grows by 2m, so quotient and remainder do by fixed amounts (a
 * division per turn was a third of table_build).
 */
struct bucket_walk {
	__u64 q, r, dq, dr, d;
};

static void bucket_walk_init(struct bucket_walk *w, __u32 quota, __u32 m)
{
	w->d = 2ull * quota;
	w->q = m / w->d;
	w->r = m % w->d;
	w->dq = 2ull * m / w->d;
	w->dr = 2ull * m % w->d;
}

static __u32 bucket_walk_next(struct bucket_walk *w)
{
	__u32 at = (__u32)w->q;

	w->q += w->dq;
	w->r += w->dr;
	if (w->r >= w->d) {
		w->r -= w->d;
		w->q++;
	}
	return at;
}

/* The turns in order into @out (@start: m + 1 counters, scratch). */
static void turns_order(const __u32 *quota, int n, __u32 m, struct turn *out, __u32 *start)
{
	struct bucket_walk w;
	__u32 lo = 0;

	memset(start, 0, sizeof(*start) * ((size_t)m + 1));
	for (int b = 0; b < n; b++) {
		if (!quota[b])
			continue;
		bucket_walk_init(&w, quota[b], m);
		for (__u32 k = 0; k < quota[b]; k++)
			start[bucket_walk_next(&w) + 1]++;
	}
	for (__u32 i = 0; i < m; i++)
		start[i + 1] += start[i];
	/* Into the buckets (after this, bucket i ends where start[i] points). */
	for (int b = 0; b < n; b++) {
		if (!quota[b])
			continue;
		bucket_walk_init(&w, quota[b], m);
		for (__u32 k = 0; k < quota[b]; k++)
			out[start[bucket_walk_next(&w)]++] = (struct turn){ (__u32)b, k };
	}
	/* Each bucket's few turns in order. */
	for (__u32 i = 0; i < m; i++) {
		for (__u32 j = lo + 1; j < start[i]; j++) {
			struct turn t = out[j];
			__u32 at = j;

			while (at > lo && turn_before(&t, &out[at - 1], quota)) {
				out[at] = out[at - 1];
				at--;
			}
			out[at] = t;
		}
		lo = start[i];
	}
}

int table_build(const struct table_backend *in, int n, __u32 m, __u32 *table)
{
	struct table_backend *bes = NULL;
	struct perm *p = NULL;
	struct turn *order = NULL;
	__u32 *quota = NULL, *start = NULL, total = 0;
	__u64 taken[(L4S_TABLE_MAX + 63) / 64];
	int err = -ENOMEM;

	if (m < 2 || m > L4S_TABLE_MAX)
		return -EINVAL;
	for (__u32 i = 0; i < m; i++)
		table[i] = L4S_NO_BACKEND;
	if (n == 0)
		return 0;

	bes = malloc(sizeof(*bes) * (size_t)n);
	p = calloc((size_t)n, sizeof(*p));
	quota = calloc((size_t)n, sizeof(*quota));
	order = malloc(sizeof(*order) * (size_t)m);
	start = malloc(sizeof(*start) * ((size_t)m + 1));
	if (!bes || !p || !quota || !order || !start)
		goto out;
	memcpy(bes, in, sizeof(*bes) * (size_t)n);
	qsort(bes, (size_t)n, sizeof(*bes), be_cmp);
	err = table_quotas(bes, n, m, quota);
	if (err)
		goto out;
	for (int i = 0; i < n; i++) {
		struct l4s_addr k = bes[i].addr;

		/* Mix the port into the last word so two ports of one address differ. */
		k.addr[3] ^= (__u32)bes[i].port << 8 ^ bes[i].family;
		p[i].offset = l4s_hash_addr(&k, SEED_OFFSET) % m;
		p[i].skip = l4s_hash_addr(&k, SEED_SKIP) % (m - 1) + 1;
		p[i].cur = p[i].offset;
		total += quota[i];
	}
	turns_order(quota, n, m, order, start);
	/* Which slots are taken, as bits: the walks below probe ~ln(m) slots per slot
	 * filled, at random; the bits (2 KiB at M = 16381) stay in the L1 cache, the
	 * table (64 KiB) does not. */
	memset(taken, 0, sizeof(*taken) * ((m + 63) / 64));
	for (__u32 t = 0; t < total; t++) {
		struct perm *pb = &p[order[t].b];
		__u32 slot;

		/* Next preferred slot of b that is still free (m prime: the walk covers all). */
		for (;;) {
			slot = pb->cur;
			pb->cur += pb->skip; /* both below m: one subtraction is the modulo */
			if (pb->cur >= m)
				pb->cur -= m;
			if (!(taken[slot / 64] >> (slot % 64) & 1))
				break;
		}
		taken[slot / 64] |= 1ull << (slot % 64);
		table[slot] = bes[order[t].b].id;
	}
	err = 0;
out:
	free(bes);
	free(p);
	free(quota);
	free(order);
	free(start);
	return err;
}
