/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The weighted lookup table builder (pure; no maps). Each backend owns a number of
 * slots proportional to its effective weight, exact to one slot (largest remainder),
 * placed by Maglev permutations so a weight change moves few slots. Deterministic:
 * the same backends and weights give the same table on every node.
 */
#ifndef L4S_TABLE_H
#define L4S_TABLE_H

#include <stdint.h>
#include "l4split.h"

struct table_backend {
	__u32 id;            /* backend id written into slots */
	struct l4s_addr addr;
	__u16 port;          /* host order */
	__u8 family;
	__u64 weight;        /* effective weight, any scale; 0 = no slots */
};

/*
 * Fill @table (@m slots, @m prime) for @n backends. Backends may be given in any
 * order; they are sorted by address internally. Slots get L4S_NO_BACKEND when
 * every weight is 0. Returns 0 or -errno.
 */
int table_build(const struct table_backend *bes, int n, __u32 m, __u32 *table);

/* Slots each backend would get (largest remainder). @quota has @n entries. */
int table_quotas(const struct table_backend *bes, int n, __u32 m, __u32 *quota);

#endif
