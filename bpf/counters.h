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

#endif
