/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters: by reason, per service, per backend. */
#ifndef L4S_COUNTERS_H
#define L4S_COUNTERS_H

#include "maps.h"

static __always_inline void count_reason(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&l4s_reasons, &reason);

	if (c)
		*c += 1;
}

static __always_inline struct l4s_backend_stats *backend_stats(__u32 id)
{
	return bpf_map_lookup_elem(&l4s_bstats, &id);
}

static __always_inline struct l4s_service_stats *service_stats(__u32 id)
{
	return bpf_map_lookup_elem(&l4s_sstats, &id);
}

#endif
