/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Backends on other nodes. Whether a backend is remote is read from this node's
 * routing (bpf_fib_lookup) when a flow starts: a backend reached through a gateway,
 * or back out of the device the packet came in on, is remote. A remote backend's
 * replies would not come back through this node, so the flow is SNATed: the source
 * becomes the node's address and a port of its own (struct l4s_snat), and the reply,
 * addressed to that port, is rewritten back to VIP -> client when it comes in.
 */
#ifndef L4S_SNAT_H
#define L4S_SNAT_H

#include "maps.h"
#include "parse.h"
#include "counters.h"
#include "l4split_hash.h"

#define L4S_AF_INET_FIB  2
#define L4S_AF_INET6_FIB 10

static __always_inline struct l4s_node *node_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&l4s_node, &zero);
}

/* The node's SNAT address for @family, or NULL when none is set. */
static __always_inline int node_addr(const struct l4s_node *n, __u8 family, struct l4s_addr *a)
{
	if (!n)
		return -1;
	if (family == L4S_AF_INET && (n->flags & L4S_NODE_F_ADDR4)) {
		a->addr[0] = n->addr4;
		a->addr[1] = a->addr[2] = a->addr[3] = 0;
		return 0;
	}
	if (family == L4S_AF_INET6 && (n->flags & L4S_NODE_F_ADDR6)) {
		*a = n->addr6;
		return 0;
	}
	return -1;
}

static __always_inline __u64 coarse_s(void)
{
	return bpf_ktime_get_coarse_ns() / 1000000000ull;
}

/* Is @be behind another node (or back out where the packet came from)? */
static __always_inline int backend_is_remote(void *ctx, __u32 ifindex, const struct l4s_pkt *p,
					     const struct l4s_backend *be)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.ifindex = ifindex;
	fib.l4_protocol = p->key.proto;
	fib.sport = p->key.sport;
	fib.dport = be->port;
	if (p->key.family == L4S_AF_INET) {
		fib.family = L4S_AF_INET_FIB;
		fib.ipv4_src = p->key.src.addr[0];
		fib.ipv4_dst = be->addr.addr[0];
	} else {
		fib.family = L4S_AF_INET6_FIB;
		__builtin_memcpy(fib.ipv6_src, p->key.src.addr, 16);
		__builtin_memcpy(fib.ipv6_dst, be->addr.addr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0; /* no route or not forwarded: the kernel decides, as for nat */
	if (fib.ifindex == ifindex)
		return 1; /* one-armed: the backend's replies would bypass us */
	if (p->key.family == L4S_AF_INET)
		return fib.ipv4_dst != be->addr.addr[0]; /* the next hop is a gateway */
	return !l4s_addr_eq((const struct l4s_addr *)fib.ipv6_dst, &be->addr);
}

/* May a new flow take over this entry's port? Its flow closed a while ago, or went
 * idle long enough for any client or backend to have given up on it. */
static __always_inline int snat_reusable(const struct l4s_snat *s, __u64 seen, __u64 now,
					 __u8 proto)
{
	__u64 idle = now - seen;

	if (s->flags & L4S_FLOW_F_CLOSED)
		return idle >= L4S_SNAT_CLOSED_REUSE_S;
	return idle >= (proto == IPPROTO_TCP_ ? L4S_SNAT_TCP_IDLE_S : L4S_SNAT_UDP_IDLE_S);
}

static __always_inline void snat_key(struct l4s_flow_key *k, const struct l4s_pkt *p,
				     const struct l4s_backend *be, const struct l4s_addr *naddr,
				     __be16 nport)
{
	k->src = be->addr;
	k->dst = *naddr;
	k->sport = be->port;
	k->dport = nport;
	k->proto = p->key.proto;
	k->family = p->key.family;
}

/*
 * Give the flow of @p (to backend @bid) a port of @naddr that no live flow to this
 * backend holds. Returns the port (network order), or 0 when every port tried is
 * taken (the caller drops and counts it).
 */
static __always_inline __be16 snat_alloc(const struct l4s_pkt *p, const struct l4s_backend *be,
					 __u32 bid, const struct l4s_node *n,
					 const struct l4s_addr *naddr)
{
	struct l4s_flow_key k = {};
	struct l4s_snat v = {};
	__u64 now = coarse_s();
	__u32 range, base;

	if (n->port_max < n->port_min || n->port_min == 0)
		return 0;
	range = (__u32)n->port_max - n->port_min + 1;
	v.client = p->key.src;
	v.vip = p->key.dst;
	v.cport = p->key.sport;
	v.vport = p->key.dport;
	v.backend_id = bid;
	v.seen_s = now;
	snat_key(&k, p, be, naddr, 0);
	/* Start where the 5-tuple hashes to: flows spread over the range. */
	base = l4s_hash_flow(&p->key, L4S_HASH_SEED ^ 0x534e4154u);
	for (__u32 i = 0; i < L4S_SNAT_TRIES; i++) {
		struct l4s_snat *cur;
		__u64 seen;

		k.dport = bpf_htons((__u16)(n->port_min + (base + i) % range));
		if (!bpf_map_update_elem(&l4s_snat, &k, &v, BPF_NOEXIST))
			return k.dport;
		cur = bpf_map_lookup_elem(&l4s_snat, &k);
		if (!cur)
			continue;
		seen = cur->seen_s;
		if (!snat_reusable(cur, seen, now, p->key.proto))
			continue;
		/* Claim it: of two CPUs that saw it free, one wins the swap. */
		if (__sync_val_compare_and_swap(&cur->seen_s, seen, now) != seen)
			continue;
		cur->client = v.client;
		cur->vip = v.vip;
		cur->cport = v.cport;
		cur->vport = v.vport;
		cur->backend_id = bid;
		cur->flags = 0;
		return k.dport;
	}
	return 0;
}

/*
 * A packet of a known SNAT flow: its entry must still be its own (a port is taken
 * over only after the flow closed or idled out); refresh it, and mark it closed on
 * FIN/RST (@closing) or open again on a new SYN (@opening). Returns 0, or -1 when
 * the port went to another flow (the caller allocates a new one).
 */
static __always_inline int snat_refresh(const struct l4s_pkt *p, const struct l4s_backend *be,
					const struct l4s_addr *naddr, __be16 nport, int closing,
					int opening)
{
	struct l4s_flow_key k = {};
	struct l4s_snat *s;

	snat_key(&k, p, be, naddr, nport);
	s = bpf_map_lookup_elem(&l4s_snat, &k);
	if (!s || s->cport != p->key.sport || !l4s_addr_eq(&s->client, &p->key.src))
		return -1;
	s->seen_s = coarse_s();
	if (closing)
		s->flags |= L4S_FLOW_F_CLOSED;
	else if (opening)
		s->flags &= ~(L4S_FLOW_F_CLOSED | L4S_FLOW_F_ANSWERED);
	return 0;
}

/* What a SNAT reply is rewritten to. */
struct l4s_snat_back {
	struct l4s_addr vip, client;
	__be16 vport, cport;
};

/*
 * A reply of a SNAT flow (backend -> node address:SNAT port): counted like a reply on
 * the reply path, its entry refreshed. Returns 1 with @b filled, 0 when it is not one.
 */
static __always_inline int snat_reply(const struct l4s_pkt *p, __u32 pkt_len,
				      struct l4s_snat_back *b)
{
	struct l4s_node *n = node_config();
	struct l4s_backend_counts *bs;
	struct l4s_flow_key fk = {};
	struct l4s_addr na;
	struct l4s_snat *s;
	struct l4s_flow *f;
	__u16 port = bpf_ntohs(p->key.dport);
	__u32 bid, mark = 0;

	if (!n || port < n->port_min || port > n->port_max || node_addr(n, p->key.family, &na) ||
	    !l4s_addr_eq(&na, &p->key.dst))
		return 0;
	s = bpf_map_lookup_elem(&l4s_snat, &p->key);
	if (!s)
		return 0;
	bid = s->backend_id;
	bs = backend_counts(bid);
	COUNT_ADD(bs, rx_packets, 1);
	COUNT_ADD(bs, rx_bytes, pkt_len);
	if (p->key.proto == IPPROTO_TCP_ && (p->tcp_flags & TCP_FLAG_RST)) {
		COUNT_ADD(bs, resets, 1);
	} else if (!(s->flags & L4S_FLOW_F_ANSWERED)) {
		s->flags |= L4S_FLOW_F_ANSWERED;
		mark |= L4S_FLOW_F_ANSWERED;
		COUNT_ADD(bs, answered, 1);
	}
	if (p->key.proto == IPPROTO_TCP_ && (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))) {
		s->flags |= L4S_FLOW_F_CLOSED;
		mark |= L4S_FLOW_F_CLOSED;
	}
	s->seen_s = coarse_s();
	b->vip = s->vip;
	b->vport = s->vport;
	b->client = s->client;
	b->cport = s->cport;
	if (mark) {
		fk.src = s->client;
		fk.dst = s->vip;
		fk.sport = s->cport;
		fk.dport = s->vport;
		fk.proto = p->key.proto;
		fk.family = p->key.family;
		f = bpf_map_lookup_elem(&l4s_flows, &fk);
		if (f)
			f->flags |= mark;
	}
	return 1;
}

#endif
