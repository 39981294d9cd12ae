/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing shared by the XDP and tc programs: Ethernet, one 802.1Q/802.1ad
 * tag, IPv4 (with options) or IPv6 (with up to L4S_MAX_EXTHDRS extension headers),
 * then the TCP or UDP ports. Works on [data, data_end) so both hooks use it.
 */
#ifndef L4S_PARSE_H
#define L4S_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4split.h"

#define ETH_P_IP_     0x0800
#define ETH_P_IPV6_   0x86DD
#define ETH_P_8021Q_  0x8100
#define ETH_P_8021AD_ 0x88A8
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17
#define L4S_MAX_EXTHDRS 4
#define L4S_MAX_L4_OFF 512 /* headers past this are not parsed: passed as malformed */

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* Two addresses of one family are equal (IPv4 uses word 0, the rest is zero). */
static __always_inline int l4s_addr_eq(const struct l4s_addr *a, const struct l4s_addr *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3];
}

/* What the parser found. Offsets are from the start of the frame. */
struct l4s_pkt {
	struct l4s_flow_key key; /* src, dst, ports, proto, family */
	__u32 l3_off;
	__u32 l4_off;
	__u8 tcp_flags;
	__u8 vlan;       /* 1 when the frame carries a VLAN tag */
	__u8 bad;        /* enum l4s_reason when the L4 header is unusable, else 0 */
	__u8 pass;       /* enum l4s_reason why the frame is not ours (l4s_parse() != 0) */
	__be32 seq;      /* TCP sequence number */
	__be32 ack;      /* TCP acknowledgment number */
};

static __always_inline int l4s_parse_ports(void *data, void *data_end, struct l4s_pkt *p,
					   __u32 l3_len)
{
	__u32 off = p->l4_off;
	void *l4;

	if (off > L4S_MAX_L4_OFF)
		return L4S_R_PASS_MALFORMED;
	l4 = data + off;
	/* Ports unreadable: the packet cannot be matched to a service at all. */
	if (l4 + 4 > data_end)
		return L4S_R_PASS_MALFORMED;
	p->key.sport = *(__be16 *)l4;
	p->key.dport = *(__be16 *)(l4 + 2);

	if (p->key.proto == IPPROTO_TCP_) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end) {
			p->bad = L4S_R_DROP_TRUNCATED;
			return 0;
		}
		if (th->doff < 5) {
			p->bad = L4S_R_DROP_MALFORMED;
			return 0;
		}
		if (l4 + th->doff * 4 > data_end) {
			p->bad = L4S_R_DROP_TRUNCATED;
			return 0;
		}
		p->tcp_flags = ((__u8 *)th)[13];
		p->seq = th->seq;
		p->ack = th->ack_seq;
		if (l3_len < p->l4_off - p->l3_off + th->doff * 4)
			p->bad = L4S_R_DROP_MALFORMED;
	} else {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end) {
			p->bad = L4S_R_DROP_TRUNCATED;
			return 0;
		}
		if (bpf_ntohs(uh->len) < sizeof(*uh) ||
		    l3_len < p->l4_off - p->l3_off + sizeof(*uh))
			p->bad = L4S_R_DROP_MALFORMED;
	}
	return 0;
}

static __always_inline int l4s_parse_ipv4(void *data, void *data_end, struct l4s_pkt *p,
					  __u32 frame_len)
{
	struct iphdr *iph = data + p->l3_off;
	__u32 ihl, tot;

	if ((void *)(iph + 1) > data_end)
		return L4S_R_PASS_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return L4S_R_PASS_MALFORMED;
	if (iph->frag_off & bpf_htons(0x3fff)) /* MF set or offset != 0 */
		return L4S_R_PASS_FRAGMENT;
	ihl = iph->ihl * 4;
	p->l4_off = p->l3_off + ihl;
	p->key.family = L4S_AF_INET;
	p->key.proto = iph->protocol;
	p->key.src.addr[0] = iph->saddr;
	p->key.dst.addr[0] = iph->daddr;
	/* Other protocols are not ours, but ICMP errors about our flows are looked at
	 * with the addresses and l4_off filled in (bpf/icmp.h). */
	if (iph->protocol != IPPROTO_TCP_ && iph->protocol != IPPROTO_UDP_)
		return L4S_R_PASS_PROTO;

	tot = bpf_ntohs(iph->tot_len);
	if (l4s_parse_ports(data, data_end, p, tot))
		return L4S_R_PASS_MALFORMED;
	if (!p->bad && (tot < ihl || p->l3_off + tot > frame_len))
		p->bad = tot < ihl ? L4S_R_DROP_MALFORMED : L4S_R_DROP_TRUNCATED;
	return 0;
}

static __always_inline int l4s_parse_ipv6(void *data, void *data_end, struct l4s_pkt *p,
					  __u32 frame_len)
{
	struct ipv6hdr *ip6h = data + p->l3_off;
	__u32 off, plen;
	__u8 nh;

	if ((void *)(ip6h + 1) > data_end)
		return L4S_R_PASS_MALFORMED;
	if (ip6h->version != 6)
		return L4S_R_PASS_MALFORMED;
	nh = ip6h->nexthdr;
	off = p->l3_off + sizeof(*ip6h);

#pragma unroll
	for (int i = 0; i < L4S_MAX_EXTHDRS; i++) {
		__u8 *eh;

		if (nh == IPPROTO_TCP_ || nh == IPPROTO_UDP_)
			break;
		if (nh == 44) /* fragment header */
			return L4S_R_PASS_FRAGMENT;
		if (nh != 0 && nh != 43 && nh != 60 && nh != 51)
			break;
		if (off > L4S_MAX_L4_OFF)
			return L4S_R_PASS_MALFORMED;
		eh = data + off;
		if ((void *)(eh + 2) > data_end)
			return L4S_R_PASS_MALFORMED;
		/* AH counts its length in 4-byte units, the others in 8-byte units. */
		off += nh == 51 ? (eh[1] + 2) * 4 : (eh[1] + 1) * 8;
		nh = eh[0];
	}
	if (off > L4S_MAX_L4_OFF)
		return nh != IPPROTO_TCP_ && nh != IPPROTO_UDP_ ? L4S_R_PASS_PROTO :
								   L4S_R_PASS_MALFORMED;
	p->l4_off = off;
	p->key.family = L4S_AF_INET6;
	p->key.proto = nh;
	__builtin_memcpy(p->key.src.addr, &ip6h->saddr, 16);
	__builtin_memcpy(p->key.dst.addr, &ip6h->daddr, 16);
	if (nh != IPPROTO_TCP_ && nh != IPPROTO_UDP_)
		return L4S_R_PASS_PROTO; /* addresses filled in for bpf/icmp.h */

	plen = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
	if (l4s_parse_ports(data, data_end, p, plen))
		return L4S_R_PASS_MALFORMED;
	if (!p->bad && p->l3_off + plen > frame_len)
		p->bad = L4S_R_DROP_TRUNCATED;
	return 0;
}

/*
 * Parse the frame. Returns 0 when p->key is complete (p->bad may still say the
 * L4 header is unusable), or 1 when the packet cannot be ours, with the reason in
 * p->pass (a separate field: L4S_R_PASS_NOT_IP is 0 and cannot be a return value).
 * [data, data_end) must hold the headers; @frame_len is the whole frame, which for
 * an skb (GSO/GRO, paged) can be longer than its linear part: lengths in the IP
 * header are checked against it, not against data_end.
 */
static __always_inline int l4s_not_ours(struct l4s_pkt *p, int reason)
{
	p->pass = (__u8)reason;
	return 1;
}

static __always_inline int l4s_parse(void *data, void *data_end, struct l4s_pkt *p,
				     __u32 frame_len)
{
	struct ethhdr *eth = data;
	__u16 proto;
	int r;

	if ((void *)(eth + 1) > data_end)
		return l4s_not_ours(p, L4S_R_PASS_MALFORMED);
	proto = eth->h_proto;
	p->l3_off = sizeof(*eth);
	if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_)) {
		struct vlan_hdr *vh = data + sizeof(*eth);

		if ((void *)(vh + 1) > data_end)
			return l4s_not_ours(p, L4S_R_PASS_MALFORMED);
		proto = vh->h_vlan_encapsulated_proto;
		p->l3_off += sizeof(*vh);
		p->vlan = 1;
	}
	if (proto == bpf_htons(ETH_P_IP_))
		r = l4s_parse_ipv4(data, data_end, p, frame_len);
	else if (proto == bpf_htons(ETH_P_IPV6_))
		r = l4s_parse_ipv6(data, data_end, p, frame_len);
	else
		return l4s_not_ours(p, L4S_R_PASS_NOT_IP);
	/* The IP parsers return 0 or a pass reason, never L4S_R_PASS_NOT_IP (0). */
	return r ? l4s_not_ours(p, r) : 0;
}

#endif
