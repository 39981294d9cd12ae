/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624: HC' = ~(~HC + ~m + m')).
 * Values are taken as they lie in the packet (network order): one's complement
 * sums do not depend on byte order as long as every word is read the same way.
 */
#ifndef L4S_CSUM_H
#define L4S_CSUM_H

#include "vmlinux.h"

/* Fold a 64-bit one's complement accumulator to 16 bits. */
static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Start an update of checksum @check: accumulator holds ~HC. */
static __always_inline __u64 csum_begin(__u16 check)
{
	return (__u16)~check;
}

/* Account for a 32-bit word changing from @from to @to. */
static __always_inline __u64 csum_add_diff32(__u64 acc, __u32 from, __u32 to)
{
	return acc + (__u32)~from + to;
}

/* Account for a 16-bit word changing from @from to @to. */
static __always_inline __u64 csum_add_diff16(__u64 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

/* Account for a 16-byte (IPv6) or 4-byte (IPv4) address change. */
static __always_inline __u64 csum_add_diff_addr(__u64 acc, const __u32 *from, const __u32 *to,
						int v6)
{
	acc = csum_add_diff32(acc, from[0], to[0]);
	if (v6) {
		acc = csum_add_diff32(acc, from[1], to[1]);
		acc = csum_add_diff32(acc, from[2], to[2]);
		acc = csum_add_diff32(acc, from[3], to[3]);
	}
	return acc;
}

static __always_inline __u16 csum_finish(__u64 acc)
{
	return (__u16)~csum_fold64(acc);
}

#endif
