/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sending a rewritten frame on from XDP: bpf_fib_lookup and a redirect when the
 * egress device is a known XDP redirect target (l4s_txports), otherwise XDP_PASS
 * so the kernel routes it (bridges, devices without ndo_xdp_xmit, unknown
 * neighbours, VLAN-tagged frames). Every path is counted.
 */
#ifndef L4S_FORWARD_H
#define L4S_FORWARD_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "counters.h"

#define AF_INET_  2
#define AF_INET6_ 10

static __always_inline int xdp_send(struct xdp_md *ctx, struct l4s_pkt *p)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;
	__u32 l3 = p->l3_off, ifindex, *tx;
	int rc;

	/* Nothing to redirect to: skip the FIB lookup altogether. */
	__u32 zero = 0;
	struct l4s_config *cfg = bpf_map_lookup_elem(&l4s_config, &zero);

	if (!cfg || !(cfg->flags & L4S_CFG_F_REDIRECT) || p->vlan || l3 != sizeof(*eth)) {
		count_reason(L4S_R_TX_KERNEL);
		return XDP_PASS;
	}
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = p->key.proto;
	fib.sport = p->key.sport;
	if (p->key.family == L4S_AF_INET) {
		struct iphdr *iph = data + sizeof(*eth);

		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		if (iph->ttl <= 1) {
			count_reason(L4S_R_TX_KERNEL);
			return XDP_PASS; /* the kernel sends time-exceeded */
		}
		fib.family = AF_INET_;
		fib.tos = iph->tos;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
		fib.dport = 0;
	} else {
		struct ipv6hdr *ip6h = data + sizeof(*eth);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		if (ip6h->hop_limit <= 1) {
			count_reason(L4S_R_TX_KERNEL);
			return XDP_PASS;
		}
		fib.family = AF_INET6_;
		fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0FFFFFFF);
		fib.tot_len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, 16);
	}

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		count_reason(L4S_R_TX_KERNEL_NO_NEIGH);
		return XDP_PASS;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		count_reason(L4S_R_TX_KERNEL);
		return XDP_PASS;
	}
	ifindex = fib.ifindex;
	tx = bpf_map_lookup_elem(&l4s_txports, &ifindex);
	if (!tx) {
		count_reason(L4S_R_TX_KERNEL_NOT_TARGET);
		return XDP_PASS;
	}

	/* We forward it ourselves: do what the kernel's forwarding would. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (p->key.family == L4S_AF_INET) {
		struct iphdr *iph = data + sizeof(*eth);
		__u64 acc;
		__u16 old, new;

		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		old = *(__u16 *)&iph->ttl;
		iph->ttl--;
		new = *(__u16 *)&iph->ttl;
		acc = csum_begin(iph->check);
		acc = csum_add_diff16(acc, old, new);
		iph->check = csum_finish(acc);
	} else {
		struct ipv6hdr *ip6h = data + sizeof(*eth);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		ip6h->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, 6);
	__builtin_memcpy(eth->h_source, fib.smac, 6);
	count_reason(L4S_R_TX_REDIRECT);
	return bpf_redirect_map(&l4s_txports, ifindex, 0);
}

#endif
