/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address and port rewriting with incremental checksum updates, in two flavours:
 * XDP writes the frame directly and updates checksums by RFC 1624; tc goes through
 * the skb helpers, which also keep CHECKSUM_PARTIAL / CHECKSUM_COMPLETE skbs right.
 */
#ifndef L4S_NAT_H
#define L4S_NAT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"
#include "csum.h"

enum l4s_side { L4S_SRC = 0, L4S_DST = 1 };

/* Byte offset of the rewritten address inside the IP header. */
static __always_inline __u32 l3_addr_off(int v6, int side)
{
	if (v6)
		return side == L4S_DST ? 24 : 8;
	return side == L4S_DST ? 16 : 12;
}

/*
 * XDP: rewrite the source or destination address and port of a parsed frame.
 * Returns 0, or -1 when the frame no longer holds the headers (never expected
 * after a successful parse; the caller drops and counts it).
 */
static __always_inline int xdp_rewrite(void *data, void *data_end, struct l4s_pkt *p, int side,
				       const struct l4s_addr *na, __be16 nport)
{
	int v6 = p->key.family == L4S_AF_INET6;
	__u32 l3 = p->l3_off, l4 = p->l4_off;
	const struct l4s_addr *oa = side == L4S_DST ? &p->key.dst : &p->key.src;
	__be16 oport = side == L4S_DST ? p->key.dport : p->key.sport;
	__u16 *l4csum;
	__be16 *port;
	__u64 acc;

	if (l3 > 64 || l4 > L4S_MAX_L4_OFF)
		return -1;
	if (p->key.proto == IPPROTO_TCP_) {
		struct tcphdr *th = data + l4;

		if ((void *)(th + 1) > data_end)
			return -1;
		l4csum = &th->check;
		port = side == L4S_DST ? &th->dest : &th->source;
	} else {
		struct udphdr *uh = data + l4;

		if ((void *)(uh + 1) > data_end)
			return -1;
		l4csum = &uh->check;
		port = side == L4S_DST ? &uh->dest : &uh->source;
	}

	if (v6) {
		struct ipv6hdr *ip6h = data + l3;

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		__builtin_memcpy((void *)ip6h + l3_addr_off(1, side), na->addr, 16);
	} else {
		struct iphdr *iph = data + l3;

		if ((void *)(iph + 1) > data_end)
			return -1;
		acc = csum_begin(iph->check);
		acc = csum_add_diff32(acc, oa->addr[0], na->addr[0]);
		iph->check = csum_finish(acc);
		if (side == L4S_DST)
			iph->daddr = na->addr[0];
		else
			iph->saddr = na->addr[0];
	}

	/* UDP over IPv4 may carry no checksum (0): it stays 0. */
	if (p->key.proto == IPPROTO_UDP_ && *l4csum == 0 && !v6) {
		*port = nport;
		return 0;
	}
	acc = csum_begin(*l4csum);
	acc = csum_add_diff_addr(acc, oa->addr, na->addr, v6);
	acc = csum_add_diff16(acc, oport, nport);
	*l4csum = csum_finish(acc);
	if (p->key.proto == IPPROTO_UDP_ && *l4csum == 0)
		*l4csum = 0xffff; /* a computed 0 is sent as all ones (RFC 768) */
	*port = nport;
	return 0;
}

/* tc: the same rewrite through the skb helpers. Returns 0 or a negative error. */
static __always_inline int tc_rewrite(struct __sk_buff *skb, struct l4s_pkt *p, int side,
				      const struct l4s_addr *na, __be16 nport)
{
	int v6 = p->key.family == L4S_AF_INET6;
	const struct l4s_addr *oa = side == L4S_DST ? &p->key.dst : &p->key.src;
	__be16 oport = side == L4S_DST ? p->key.dport : p->key.sport;
	__u32 csum_off, flags = 0;
	__u32 addr_off = p->l3_off + l3_addr_off(v6, side);
	__u32 port_off = p->l4_off + (side == L4S_DST ? 2 : 0);
	int err;

	if (p->key.proto == IPPROTO_TCP_) {
		csum_off = p->l4_off + 16;
	} else {
		csum_off = p->l4_off + 6;
		flags = BPF_F_MARK_MANGLED_0;
	}

	if (v6) {
#pragma unroll
		for (int i = 0; i < 4; i++) {
			err = bpf_l4_csum_replace(skb, csum_off, oa->addr[i], na->addr[i],
						  flags | BPF_F_PSEUDO_HDR | 4);
			if (err)
				return err;
		}
		err = bpf_skb_store_bytes(skb, addr_off, na->addr, 16, 0);
	} else {
		err = bpf_l4_csum_replace(skb, csum_off, oa->addr[0], na->addr[0],
					  flags | BPF_F_PSEUDO_HDR | 4);
		if (err)
			return err;
		err = bpf_l3_csum_replace(skb, p->l3_off + 10, oa->addr[0], na->addr[0], 4);
		if (err)
			return err;
		err = bpf_skb_store_bytes(skb, addr_off, &na->addr[0], 4, 0);
	}
	if (err)
		return err;
	err = bpf_l4_csum_replace(skb, csum_off, oport, nport, flags | 2);
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, port_off, &nport, 2, 0);
}

#endif
