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
	/* Hand out what is left to the largest remainders; ties to the earlier backend. */
	while (given < m) {
		int best = -1;

		for (int i = 0; i < n; i++) {
			if (!bes[i].weight)
				continue;
			if (best < 0 || rem[i] > rem[best])
				best = i;
		}
		quota[best]++;
		rem[best] = 0;
		given++;
	}
	free(rem);
	return 0;
}

struct perm {
	__u32 offset, skip, cur, quota, taken; /* cur: the next slot to try, offset + k * skip */
};

/* Min-heap of backends ordered by the virtual time of their next pick. */
struct heap {
	int *idx;
	int n;
	struct perm *p;
};

/* Backend a picks before b when (2*taken_a+1)/quota_a < (2*taken_b+1)/quota_b. */
static int heap_less(const struct heap *h, int a, int b)
{
	const struct perm *x = &h->p[a], *y = &h->p[b];
	__u64 l = (2ull * x->taken + 1) * y->quota, r = (2ull * y->taken + 1) * x->quota;

	if (l != r)
		return l < r;
	return a < b;
}

static void heap_down(struct heap *h, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < h->n && heap_less(h, h->idx[l], h->idx[m]))
			m = l;
		if (r < h->n && heap_less(h, h->idx[r], h->idx[m]))
			m = r;
		if (m == i)
			return;
		t = h->idx[i];
		h->idx[i] = h->idx[m];
		h->idx[m] = t;
		i = m;
	}
}

int table_build(const struct table_backend *in, int n, __u32 m, __u32 *table)
{
	struct table_backend *bes = NULL;
	struct perm *p = NULL;
	__u32 *quota = NULL;
	struct heap h = {};
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
	h.idx = calloc((size_t)n, sizeof(*h.idx));
	if (!bes || !p || !quota || !h.idx)
		goto out;
	memcpy(bes, in, sizeof(*bes) * (size_t)n);
	qsort(bes, (size_t)n, sizeof(*bes), be_cmp);
	err = table_quotas(bes, n, m, quota);
	if (err)
		goto out;

	h.p = p;
	for (int i = 0; i < n; i++) {
		struct l4s_addr k = bes[i].addr;

		/* Mix the port into the last word so two ports of one address differ. */
		k.addr[3] ^= (__u32)bes[i].port << 8 ^ bes[i].family;
		p[i].offset = l4s_hash_addr(&k, SEED_OFFSET) % m;
		p[i].skip = l4s_hash_addr(&k, SEED_SKIP) % (m - 1) + 1;
		p[i].cur = p[i].offset;
		p[i].quota = quota[i];
		if (quota[i])
			h.idx[h.n++] = i;
	}
	for (int i = h.n / 2 - 1; i >= 0; i--)
		heap_down(&h, i);

	for (__u32 filled = 0; filled < m && h.n > 0; filled++) {
		int b = h.idx[0];
		struct perm *pb = &p[b];
		__u32 slot;

		/* Next preferred slot of b that is still free (m prime: the walk covers all). */
		for (;;) {
			slot = pb->cur;
			pb->cur += pb->skip; /* both below m: one subtraction is the modulo */
			if (pb->cur >= m)
				pb->cur -= m;
			if (table[slot] == L4S_NO_BACKEND)
				break;
		}
		table[slot] = bes[b].id;
		pb->taken++;
		if (pb->taken == pb->quota)
			h.idx[0] = h.idx[--h.n];
		heap_down(&h, 0);
	}
	err = 0;
out:
	free(bes);
	free(p);
	free(quota);
	free(h.idx);
	return err;
}
