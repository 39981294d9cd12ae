/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors about translated flows (fragmentation needed, port unreachable, time
 * exceeded), translated like the flows they quote, so that path MTU discovery and
 * error reporting keep working through l4split:
 *   - at ingress, an error sent to the node's SNAT address about a SNAT flow goes on
 *     to the client, quoting client:port -> VIP:port;
 *   - at the reply path (tc egress), an error sent to a client about a packet it sent
 *     to a backend (nat mode) quotes VIP:port instead of the backend, and comes from
 *     the VIP when the backend sent it.
 * IPv4 and IPv6 (ICMPv6 destination unreachable, packet too big, time exceeded; the
 * quoted packet without extension headers). Direct packet access (the tc caller pulled
 * the headers first), checksums updated incrementally: outer IPv4 header, quoted IPv4
 * header, ICMP; ICMPv6's covers the outer addresses too (pseudo header).
 */
#ifndef L4S_ICMP_H
#define L4S_ICMP_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "snat.h"
#include "norev.h"

#define L4S_IPPROTO_ICMP 1
#define L4S_ICMP_DEST_UNREACH 3
#define L4S_ICMP_TIME_EXCEEDED 11

struct l4s_icmp4 {
	struct iphdr *outer;
	struct icmphdr *icmp;
	struct iphdr *inner;
	__be16 *ports; /* the quoted packet's source and destination ports */
};

/* The outer IP header and the ICMP header of a parsed @family/@proto packet, both
 * within the frame (@outer_len and 8 bytes); 0 when they are there. */
static __always_inline int icmp_locate(void *data, void *data_end, const struct l4s_pkt *p,
				       __u8 family, __u8 proto, __u32 outer_len, void **outer,
				       void **icmp)
{
	if (p->key.family != family || p->key.proto != proto || p->l3_off > 64 ||
	    p->l4_off > L4S_MAX_L4_OFF)
		return -1;
	*outer = data + p->l3_off;
	if (*outer + outer_len > data_end)
		return -1;
	*icmp = data + p->l4_off;
	if (*icmp + 8 > data_end)
		return -1;
	return 0;
}

/* An ICMPv4 error quoting a TCP or UDP packet? Fills @e; 0 when it is one. */
static __always_inline int icmp4_error(void *data, void *data_end, const struct l4s_pkt *p,
				       struct l4s_icmp4 *e)
{
	void *outer, *icmp;
	__u32 ihl;

	if (icmp_locate(data, data_end, p, L4S_AF_INET, L4S_IPPROTO_ICMP, sizeof(struct iphdr),
			&outer, &icmp))
		return -1;
	e->outer = outer;
	e->icmp = icmp;
	if ((void *)(e->outer + 1) > data_end || (void *)(e->icmp + 1) > data_end)
		return -1;
	if (e->icmp->type != L4S_ICMP_DEST_UNREACH && e->icmp->type != L4S_ICMP_TIME_EXCEEDED)
		return -1;
	e->inner = (void *)(e->icmp + 1);
	if ((void *)(e->inner + 1) > data_end)
		return -1;
	if (e->inner->version != 4 || e->inner->ihl < 5 ||
	    (e->inner->protocol != IPPROTO_TCP_ && e->inner->protocol != IPPROTO_UDP_))
		return -1;
	ihl = (e->inner->ihl & 0xf) * 4;
	e->ports = (void *)e->inner + ihl;
	if ((void *)(e->ports + 2) > data_end)
		return -1;
	return 0;
}

/*
 * Rewrite the quoted packet's source (@nsrc:@nsport) and destination (@ndst:@ndport),
 * and the outer destination (@oudst) and source (@ousrc), either 0 to keep it.
 */
static __always_inline void icmp4_rewrite(struct l4s_icmp4 *e, __be32 nsrc, __be16 nsport,
					  __be32 ndst, __be16 ndport, __be32 oudst, __be32 ousrc)
{
	__u64 ia = csum_begin(e->inner->check), ca = csum_begin(e->icmp->checksum), oa;
	__u16 old_check = e->inner->check;

	ia = csum_add_diff32(ia, e->inner->saddr, nsrc);
	ia = csum_add_diff32(ia, e->inner->daddr, ndst);
	ca = csum_add_diff32(ca, e->inner->saddr, nsrc);
	ca = csum_add_diff32(ca, e->inner->daddr, ndst);
	ca = csum_add_diff16(ca, e->ports[0], nsport);
	ca = csum_add_diff16(ca, e->ports[1], ndport);
	e->inner->saddr = nsrc;
	e->inner->daddr = ndst;
	e->ports[0] = nsport;
	e->ports[1] = ndport;
	e->inner->check = csum_finish(ia);
	ca = csum_add_diff16(ca, old_check, e->inner->check); /* the quoted header's own */
	e->icmp->checksum = csum_finish(ca);

	oa = csum_begin(e->outer->check);
	if (oudst) {
		oa = csum_add_diff32(oa, e->outer->daddr, oudst);
		e->outer->daddr = oudst;
	}
	if (ousrc) {
		oa = csum_add_diff32(oa, e->outer->saddr, ousrc);
		e->outer->saddr = ousrc;
	}
	e->outer->check = csum_finish(oa);
}

/* The 5-tuple of the replies to the quoted packet: how its flow is keyed on the way
 * back (l4s_snat for SNAT flows, l4s_rflows for nat ones). */
static __always_inline void icmp4_reply_key(const struct l4s_icmp4 *e, struct l4s_flow_key *k)
{
	k->src.addr[0] = e->inner->daddr;
	k->dst.addr[0] = e->inner->saddr;
	k->sport = e->ports[1];
	k->dport = e->ports[0];
	k->proto = e->inner->protocol;
	k->family = L4S_AF_INET;
}

/* Ingress: an error to the node's SNAT address about a SNAT flow. 1 when translated. */
static __always_inline int icmp4_snat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	struct l4s_flow_key k = {};
	struct l4s_icmp4 e;
	struct l4s_snat *s;

	/* To the address the quoted packet came from: the SNAT entry (its key holds the
	 * node's address, set or the device's) says whether it is ours. */
	if (icmp4_error(data, data_end, p, &e) || e.outer->daddr != e.inner->saddr)
		return 0;
	icmp4_reply_key(&e, &k); /* the quoted packet went node:port -> backend */
	s = bpf_map_lookup_elem(&l4s_snat, &k);
	if (!s)
		return 0;
	icmp4_rewrite(&e, s->client.addr[0], s->cport, s->vip.addr[0], s->vport,
		      s->client.addr[0], 0);
	return 1;
}

/* Reply path: an error to a client about what it sent to a nat-mode backend. */
static __always_inline int icmp4_nat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	struct l4s_flow_key k = {};
	struct l4s_icmp4 e;
	struct l4s_rflow *rf;
	struct l4s_addr vip;
	__be16 vport;
	__be32 backend;

	if (icmp4_error(data, data_end, p, &e))
		return 0;
	icmp4_reply_key(&e, &k); /* the quoted packet went client -> backend */
	rf = bpf_map_lookup_elem(&l4s_rflows, &k);
	if (rf) {
		vip = rf->vip;
		vport = rf->vport;
	} else if (norev_vip(&k, &vip, &vport)) { /* a flow without a reverse entry */
		return 0;
	}
	backend = e.inner->daddr;
	icmp4_rewrite(&e, e.inner->saddr, e.ports[0], vip.addr[0], vport, 0,
		      e.outer->saddr == backend ? vip.addr[0] : 0);
	return 1;
}

/* ---- IPv6 ------------------------------------------------------------------------ */

#define L4S_IPPROTO_ICMPV6 58

struct l4s_icmp6 {
	struct ipv6hdr *outer;
	struct icmp6hdr *icmp;
	struct ipv6hdr *inner;
	__be16 *ports;
};

static __always_inline int icmp6_error(void *data, void *data_end, const struct l4s_pkt *p,
				       struct l4s_icmp6 *e)
{
	void *outer, *icmp;
	__u8 t;

	if (icmp_locate(data, data_end, p, L4S_AF_INET6, L4S_IPPROTO_ICMPV6,
			sizeof(struct ipv6hdr), &outer, &icmp))
		return -1;
	e->outer = outer;
	e->icmp = icmp;
	if ((void *)(e->outer + 1) > data_end || (void *)(e->icmp + 1) > data_end)
		return -1;
	t = e->icmp->icmp6_type;
	if (t != 1 && t != 2 && t != 3) /* unreachable, packet too big, time exceeded */
		return -1;
	e->inner = (void *)(e->icmp + 1);
	if ((void *)(e->inner + 1) > data_end)
		return -1;
	if (e->inner->version != 6 ||
	    (e->inner->nexthdr != IPPROTO_TCP_ && e->inner->nexthdr != IPPROTO_UDP_))
		return -1;
	e->ports = (void *)(e->inner + 1);
	if ((void *)(e->ports + 2) > data_end)
		return -1;
	return 0;
}

static __always_inline __u64 addr6_swap(__u64 acc, struct in6_addr *where,
					const struct l4s_addr *to)
{
	acc = csum_add_diff_addr(acc, where->in6_u.u6_addr32, to->addr, 1);
	__builtin_memcpy(where->in6_u.u6_addr32, to->addr, 16);
	return acc;
}

/* As icmp4_rewrite; @oudst / @ousrc NULL to keep the outer address. */
static __always_inline void icmp6_rewrite(struct l4s_icmp6 *e, const struct l4s_addr *nsrc,
					  __be16 nsport, const struct l4s_addr *ndst,
					  __be16 ndport, const struct l4s_addr *oudst,
					  const struct l4s_addr *ousrc)
{
	__u64 ca = csum_begin(e->icmp->icmp6_cksum);

	ca = addr6_swap(ca, &e->inner->saddr, nsrc);
	ca = addr6_swap(ca, &e->inner->daddr, ndst);
	ca = csum_add_diff16(ca, e->ports[0], nsport);
	ca = csum_add_diff16(ca, e->ports[1], ndport);
	e->ports[0] = nsport;
	e->ports[1] = ndport;
	if (oudst)
		ca = addr6_swap(ca, &e->outer->daddr, oudst);
	if (ousrc)
		ca = addr6_swap(ca, &e->outer->saddr, ousrc);
	e->icmp->icmp6_cksum = csum_finish(ca);
}

static __always_inline void addr6_get(struct l4s_addr *a, const struct in6_addr *from)
{
	__builtin_memcpy(a->addr, from->in6_u.u6_addr32, 16);
}

static __always_inline int addr6_eq(const struct l4s_addr *a, const struct in6_addr *b)
{
	return l4s_addr_eq(a, (const struct l4s_addr *)b->in6_u.u6_addr32);
}

static __always_inline void icmp6_reply_key(const struct l4s_icmp6 *e, struct l4s_flow_key *k)
{
	addr6_get(&k->src, &e->inner->daddr);
	addr6_get(&k->dst, &e->inner->saddr);
	k->sport = e->ports[1];
	k->dport = e->ports[0];
	k->proto = e->inner->nexthdr;
	k->family = L4S_AF_INET6;
}

static __always_inline int icmp6_snat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	struct l4s_flow_key k = {};
	struct l4s_addr client, vip;
	struct l4s_icmp6 e;
	struct l4s_snat *s;

	if (icmp6_error(data, data_end, p, &e) ||
	    !addr6_eq((const struct l4s_addr *)&e.outer->daddr, &e.inner->saddr))
		return 0;
	icmp6_reply_key(&e, &k);
	s = bpf_map_lookup_elem(&l4s_snat, &k);
	if (!s)
		return 0;
	client = s->client;
	vip = s->vip;
	icmp6_rewrite(&e, &client, s->cport, &vip, s->vport, &client, 0);
	return 1;
}

static __always_inline int icmp6_nat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	struct l4s_flow_key k = {};
	struct l4s_addr client, vip;
	struct l4s_icmp6 e;
	struct l4s_rflow *rf;
	__be16 vport;
	int from_backend;

	if (icmp6_error(data, data_end, p, &e))
		return 0;
	icmp6_reply_key(&e, &k);
	rf = bpf_map_lookup_elem(&l4s_rflows, &k);
	if (rf) {
		vip = rf->vip;
		vport = rf->vport;
	} else if (norev_vip(&k, &vip, &vport)) { /* a flow without a reverse entry */
		return 0;
	}
	from_backend = addr6_eq(&k.src, &e.outer->saddr);
	client = k.dst;
	icmp6_rewrite(&e, &client, e.ports[0], &vip, vport, 0, from_backend ? &vip : 0);
	return 1;
}

/* Is the parsed packet an ICMP error of a type icmp_snat_back() looks at? The fast
 * path's test before it hands the packet to the slow one (bpf/ingress.h). */
static __always_inline int icmp_is_error(void *data, void *data_end, const struct l4s_pkt *p)
{
	__u8 *t;

	if (p->l4_off > L4S_MAX_L4_OFF)
		return 0;
	t = data + p->l4_off;
	if ((void *)(t + 1) > data_end)
		return 0;
	if (p->key.family == L4S_AF_INET)
		return p->key.proto == L4S_IPPROTO_ICMP &&
		       (*t == L4S_ICMP_DEST_UNREACH || *t == L4S_ICMP_TIME_EXCEEDED);
	return p->key.family == L4S_AF_INET6 && p->key.proto == L4S_IPPROTO_ICMPV6 && *t >= 1 &&
	       *t <= 3;
}

/* Either family, for the programs. Inline: its 200 bytes of stack beside the forward
 * program's would pass the 512 the verifier allows a chain of calls. */
static __always_inline int icmp_snat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	return p->key.family == L4S_AF_INET ? icmp4_snat_back(data, data_end, p) :
					      icmp6_snat_back(data, data_end, p);
}

/* A rare path: a subprogram of its own (called, not inlined), so the reply path's
 * common case does not carry its code (issue 20). */
static __noinline int icmp_nat_back(void *data, void *data_end, const struct l4s_pkt *p)
{
	return p->key.family == L4S_AF_INET ? icmp4_nat_back(data, data_end, p) :
					      icmp6_nat_back(data, data_end, p);
}

#endif
