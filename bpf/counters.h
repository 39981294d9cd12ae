/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Counters: by reason and per service (per CPU), per backend (see l4split.h). */
#ifndef L4S_COUNTERS_H
#define L4S_COUNTERS_H

#include "maps.h"

static __always_inline void count_reason(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&l4s_reasons, &reason);

	if (c)
		*c += 1;
}

/* A backend's per-packet counters (this CPU's copy). */
static __always_inline struct l4s_backend_pkts *backend_pkts(__u32 id)
{
	return bpf_map_lookup_elem(&l4s_bstats, &id);
}

/* A backend's per-flow and reply counters: one copy for every CPU, so only through
 * COUNT_ADD. */
static __always_inline struct l4s_backend_counts *backend_counts(__u32 id)
{
	return bpf_map_lookup_elem(&l4s_bcounts, &id);
}

#define COUNT_ADD(c, field, n)                                     \
	do {                                                       \
		if (c)                                             \
			__sync_fetch_and_add(&(c)->field, (n));    \
	} while (0)

static __always_inline struct l4s_service_stats *service_stats(__u32 id)
{
	return bpf_map_lookup_elem(&l4s_sstats, &id);
}

/* A new SNAT flow's first packet (SYN, first UDP datagram): its connect time starts now
 * (a nat flow's start goes into its reverse entry: rflow_put). */
static __always_inline void connect_start(const struct l4s_flow_key *fk)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&l4s_cstart, fk, &now, BPF_ANY);
}

/* The bucket of a connect time of @ns nanoseconds (see L4S_CONNECT_BOUNDS_US). */
static __always_inline __u32 connect_bucket(__u64 ns)
{
	const __u64 bounds[L4S_CONNECT_BUCKETS - 1] = L4S_CONNECT_BOUNDS_US;
	__u32 i;

#pragma unroll
	for (i = 0; i < L4S_CONNECT_BUCKETS - 1; i++)
		if (ns <= bounds[i] * 1000)
			return i;
	return L4S_CONNECT_BUCKETS - 1;
}

/* A connect time of @dt ns for backend @bid: into its histogram. */
static __always_inline void connect_count(__u32 bid, __u64 dt)
{
	struct l4s_connect_hist *h = bpf_map_lookup_elem(&l4s_bconnect, &bid);
	__u32 b;

	if (!h)
		return;
	b = connect_bucket(dt);
	if (b >= L4S_CONNECT_BUCKETS)
		return;
	__sync_fetch_and_add(&h->count[b], 1);
	__sync_fetch_and_add(&h->sum_ns, dt);
}

/* The first answer of a flow that started at @start (ns, bpf_ktime_get_ns) from
 * backend @bid. */
static __always_inline void connect_since(__u32 bid, __u64 start)
{
	__u64 now = bpf_ktime_get_ns();

	connect_count(bid, now > start ? now - start : 0);
}

/*
 * The first answer of the flow @fk (forward 5-tuple) from backend @bid, whose start is
 * in l4s_cstart (a SNAT flow; a nat flow's is in its reverse entry): its connect time
 * goes into the backend's histogram, once (the start is taken out). With @answered 0
 * (a reset), the start is only forgotten.
 */
static __always_inline void connect_answered(const struct l4s_flow_key *fk, __u32 bid,
					     int answered)
{
	__u64 *start, s;

	start = bpf_map_lookup_elem(&l4s_cstart, fk);
	if (!start)
		return;
	s = *start;
	bpf_map_delete_elem(&l4s_cstart, fk);
	if (answered)
		connect_since(bid, s);
}

#endif
