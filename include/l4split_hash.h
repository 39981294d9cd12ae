/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow hash, shared by the BPF programs and userspace (tests, tools) so both
 * compute the same slot for the same flow. lookup3-style mixing (Bob Jenkins,
 * public domain design) over 32-bit words with a fixed seed.
 */
#ifndef L4SPLIT_HASH_H
#define L4SPLIT_HASH_H

#include "l4split.h"

#ifdef __bpf__
#define L4S_HASH_INLINE static __always_inline
#else
#define L4S_HASH_INLINE static inline
#endif

#define L4S_ROL32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

#define L4S_MIX(a, b, c)                                                                           \
	do {                                                                                       \
		a -= c; a ^= L4S_ROL32(c, 4); c += b;                                              \
		b -= a; b ^= L4S_ROL32(a, 6); a += c;                                              \
		c -= b; c ^= L4S_ROL32(b, 8); b += a;                                              \
		a -= c; a ^= L4S_ROL32(c, 16); c += b;                                             \
		b -= a; b ^= L4S_ROL32(a, 19); a += c;                                             \
		c -= b; c ^= L4S_ROL32(b, 4); b += a;                                              \
	} while (0)

#define L4S_FINAL(a, b, c)                                                                         \
	do {                                                                                       \
		c ^= b; c -= L4S_ROL32(b, 14);                                                     \
		a ^= c; a -= L4S_ROL32(c, 11);                                                     \
		b ^= a; b -= L4S_ROL32(a, 25);                                                     \
		c ^= b; c -= L4S_ROL32(b, 16);                                                     \
		a ^= c; a -= L4S_ROL32(c, 4);                                                      \
		b ^= a; b -= L4S_ROL32(a, 14);                                                     \
		c ^= b; c -= L4S_ROL32(b, 24);                                                     \
	} while (0)

/* Hash of an address (client-IP affinity). */
L4S_HASH_INLINE __u32 l4s_hash_addr(const struct l4s_addr *a, __u32 seed)
{
	__u32 x = 0xdeadbeef + 16 + seed, y = x, z = x;

	x += a->addr[0];
	y += a->addr[1];
	z += a->addr[2];
	L4S_MIX(x, y, z);
	x += a->addr[3];
	L4S_FINAL(x, y, z);
	return z;
}

/* Hash of a 5-tuple (struct l4s_flow_key, 10 words). */
L4S_HASH_INLINE __u32 l4s_hash_flow(const struct l4s_flow_key *k, __u32 seed)
{
	const __u32 *w = (const __u32 *)k;
	__u32 x = 0xdeadbeef + 40 + seed, y = x, z = x;

	x += w[0]; y += w[1]; z += w[2];
	L4S_MIX(x, y, z);
	x += w[3]; y += w[4]; z += w[5];
	L4S_MIX(x, y, z);
	x += w[6]; y += w[7]; z += w[8];
	L4S_MIX(x, y, z);
	x += w[9];
	L4S_FINAL(x, y, z);
	return z;
}

#endif
