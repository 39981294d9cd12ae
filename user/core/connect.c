// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <math.h>
#include "connect.h"

static const __u64 bounds_us[L4S_CONNECT_BUCKETS - 1] = L4S_CONNECT_BOUNDS_US;

double connect_bound_s(int i)
{
	if (i < 0)
		return 0;
	if (i >= L4S_CONNECT_BUCKETS - 1)
		return INFINITY;
	return (double)bounds_us[i] / 1e6;
}

__u64 connect_count(const struct l4s_connect_hist *h)
{
	__u64 n = 0;

	for (int i = 0; i < L4S_CONNECT_BUCKETS; i++)
		n += h->count[i];
	return n;
}

void connect_add(struct l4s_connect_hist *acc, const struct l4s_connect_hist *h)
{
	for (int i = 0; i < L4S_CONNECT_BUCKETS; i++)
		acc->count[i] += h->count[i];
	acc->sum_ns += h->sum_ns;
}

void connect_delta(struct l4s_connect_hist *out, const struct l4s_connect_hist *now,
		   const struct l4s_connect_hist *then)
{
	for (int i = 0; i < L4S_CONNECT_BUCKETS; i++)
		out->count[i] = now->count[i] >= then->count[i] ? now->count[i] - then->count[i] : 0;
	out->sum_ns = now->sum_ns >= then->sum_ns ? now->sum_ns - then->sum_ns : 0;
}

double connect_quantile(const struct l4s_connect_hist *h, double q)
{
	__u64 total = connect_count(h), below = 0;
	double rank = q * (double)total;

	if (!total)
		return -1;
	for (int i = 0; i < L4S_CONNECT_BUCKETS; i++) {
		if (h->count[i] && (double)(below + h->count[i]) >= rank) {
			double lo = connect_bound_s(i - 1);

			if (i == L4S_CONNECT_BUCKETS - 1)
				return lo;
			return lo + (connect_bound_s(i) - lo) * (rank - (double)below) /
					    (double)h->count[i];
		}
		below += h->count[i];
	}
	return connect_bound_s(L4S_CONNECT_BUCKETS - 2);
}
