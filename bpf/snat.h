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
#include "kfeat.h"

#define L4S_AF_INET_FIB  2
#define L4S_AF_INET6_FIB 10

static __always_inline struct l4s_node *node_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&l4s_node, &zero);
}

/* The node's SNAT address for @family ('node set --snat-addr'), or -1 when none is set. */
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

/* The primary address of @family of device @oif (l4s_devaddr), or -1 when it has none. */
static __always_inline int dev_addr(__u32 oif, __u8 family, struct l4s_addr *a)
{
	struct l4s_devaddr *d;

	if (!oif)
		return -1;
	d = bpf_map_lookup_elem(&l4s_devaddr, &oif);
	if (!d)
		return -1;
	if (family == L4S_AF_INET && (d->flags & L4S_NODE_F_ADDR4)) {
		a->addr[0] = d->addr4;
		a->addr[1] = a->addr[2] = a->addr[3] = 0;
		return 0;
	}
	if (family == L4S_AF_INET6 && (d->flags & L4S_NODE_F_ADDR6)) {
		*a = d->addr6;
		return 0;
	}
	return -1;
}

/* The SNAT port range: the node's, or the default one when 'node set' never gave one. */
static __always_inline void snat_range(const struct l4s_node *n, __u32 *lo, __u32 *hi)
{
	if (n && n->port_min) {
		*lo = n->port_min;
		*hi = n->port_max;
	} else {
		*lo = L4S_SNAT_PORT_MIN_DEFAULT;
		*hi = L4S_SNAT_PORT_MAX_DEFAULT;
	}
}

/* The egress device a SNAT_DEV flow recorded (see L4S_FLOW_F_SNAT_DEV). */
static __always_inline __u32 flow_snat_oif(const struct l4s_flow *f)
{
	return (__u32)f->rcheck_s | (f->flags & 0xffff0000u);
}

static __always_inline void flow_set_snat_oif(struct l4s_flow *f, int dev, __u32 oif)
{
	f->flags &= 0xffffu & ~L4S_FLOW_F_SNAT_DEV;
	if (!dev)
		return;
	f->flags |= L4S_FLOW_F_SNAT_DEV | (oif & 0xffff0000u);
	f->rcheck_s = (__u16)oif;
}

static __always_inline __u64 coarse_s(void)
{
	if (l4s_have_coarse_ns)
		return bpf_ktime_get_coarse_ns() / 1000000000ull;
	return bpf_ktime_get_ns() / 1000000000ull; /* before Linux 5.11 */
}

/* Is @be behind another node (or back out where the packet came from)? @oif gets the
 * device the flow leaves by (0 when the FIB has no answer). */
static __always_inline int backend_is_remote(void *ctx, __u32 ifindex, const struct l4s_pkt *p,
					     const struct l4s_backend *be, __u32 *oif)
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
	*oif = 0;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0; /* no route or not forwarded: the kernel decides, as for nat */
	*oif = fib.ifindex;
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

/* A claim on an idle SNAT entry: its key and the last-seen time the claimer read. */
struct l4s_snat_claim_key {
	struct l4s_flow_key k;
	__u64 seen_s;
};

/* What snat_search() inserts: the key (its port filled in turn) and the value. The key
 * and claim_seen together are the claim on an idle entry (a struct l4s_snat_claim_key). */
struct l4s_snat_try {
	struct l4s_flow_key k;
	__u64 claim_seen;
	struct l4s_snat v;
	__u8 claimed; /* the value a claim inserts (here, not on the stack: 512 bytes) */
};

/*
 * Claims on idle SNAT entries (not pinned: a claim matters for the microseconds two CPUs
 * may race for one entry). Of the CPUs that read the same idle entry, the one whose
 * BPF_NOEXIST insert of (entry, seen_s it read) succeeds takes it over: an atomic claim
 * without a compare-and-swap instruction (Linux 5.12), so every kernel runs this code.
 * An entry taken over gets a new seen_s, so a later claim has another key; old claims
 * age out of the LRU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct l4s_snat_claim_key);
	__type(value, __u8);
} l4s_snat_claim SEC(".maps");
_Static_assert(__builtin_offsetof(struct l4s_snat_try, claim_seen) ==
	       __builtin_offsetof(struct l4s_snat_claim_key, seen_s), "claim key layout");

/* Per-CPU scratch for snat_search() (not pinned: it holds nothing between packets). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l4s_snat_try);
} l4s_snat_try SEC(".maps");

/*
 * The port search of snat_alloc(): up to L4S_SNAT_TRIES ports of the range
 * [@lo, @lo + @range), from index @idx by @step (coprime with @range: every port
 * once). A global function: the verifier checks it once, on its own, instead of once
 * per path that reaches a new SNAT flow (the loop, unrolled by the verifier, would
 * cost L4S_SNAT_TRIES times that many). Its arguments are scalars (what kernels
 * since 5.6 allow); the key and value are in l4s_snat_try. Returns the port (host
 * order) or 0.
 */
__attribute__((noinline)) int l4s_snat_search(__u32 idx, __u32 step, __u32 range, __u32 lo)
{
	struct l4s_snat *cur = 0;
	struct l4s_snat_try *t;
	__u32 zero = 0, port = 0;
	__u64 now;

	t = bpf_map_lookup_elem(&l4s_snat_try, &zero);
	if (!t || range == 0 || range > 65536 || step == 0 || step >= 65536 || idx >= range ||
	    lo + range > 65536)
		return 0;
	now = t->v.seen_s;
	for (__u32 i = 0; i < L4S_SNAT_TRIES && i < range; i++) {
		port = lo + idx;
		t->k.dport = bpf_htons((__u16)port);
		idx += step;
		if (idx >= range)
			idx -= range;
		/* Look before inserting: a failed insert into the full LRU map would take
		 * (and evict) a free node first. */
		cur = bpf_map_lookup_elem(&l4s_snat, &t->k);
		if (!cur) {
			if (!bpf_map_update_elem(&l4s_snat, &t->k, &t->v, BPF_NOEXIST))
				return (int)port;
			continue;
		}
		t->claim_seen = cur->seen_s;
		if (snat_reusable(cur, t->claim_seen, now, t->k.proto))
			break; /* claimed below, out of the loop the verifier unrolls */
		cur = 0;
	}
	if (!cur)
		return 0;
	/* Claim it: of two CPUs that saw it free, one inserts the claim (the other gives
	 * up: a race for the same idle port, rare enough to count as no port). Only t and
	 * cur live across the call: the stack is shared with the caller's (512 bytes). */
	t->claimed = 1;
	if (bpf_map_update_elem(&l4s_snat_claim, &t->k, &t->claimed, BPF_NOEXIST))
		return 0;
	cur->seen_s = t->v.seen_s;
	cur->client = t->v.client;
	cur->vip = t->v.vip;
	cur->cport = t->v.cport;
	cur->vport = t->v.vport;
	cur->backend_id = t->v.backend_id;
	cur->flags = 0;
	return bpf_ntohs(t->k.dport);
}

/* gcd(a, b) == 1, for 16-bit values (Euclid takes at most 24 steps on them). */
static __always_inline int coprime(__u32 a, __u32 b)
{
	for (int i = 0; i < 26 && b; i++) {
		__u32 t = a % b;

		a = b;
		b = t;
	}
	return a == 1;
}

/*
 * Give the flow of @p (to backend @bid) a port of @naddr that no live flow to this
 * backend holds. The search visits L4S_SNAT_TRIES distinct ports of the range (all of
 * them when the range is no bigger), from a start and with a stride that the 5-tuple
 * hashes to: flows spread over the range, and two flows do not walk the same sequence
 * (a shared sequence, as in linear probing, piles flows up in clusters). Returns the
 * port (network order), or 0 when every port visited is taken (the caller drops and
 * counts it).
 */
static __always_inline __be16 snat_alloc(const struct l4s_pkt *p, const struct l4s_backend *be,
					 __u32 bid, const struct l4s_node *n,
					 const struct l4s_addr *naddr)
{
	struct l4s_snat_try *t;
	__u32 range, lo, hi, h, step, zero = 0;
	int port;

	snat_range(n, &lo, &hi);
	if (hi < lo || lo == 0 || hi > 65535)
		return 0;
	t = bpf_map_lookup_elem(&l4s_snat_try, &zero);
	if (!t)
		return 0;
	range = hi - lo + 1;
	__builtin_memset(&t->v, 0, sizeof(t->v));
	t->v.client = p->key.src;
	t->v.vip = p->key.dst;
	t->v.cport = p->key.sport;
	t->v.vport = p->key.dport;
	t->v.backend_id = bid;
	t->v.seen_s = coarse_s();
	snat_key(&t->k, p, be, naddr, 0);
	__builtin_memset(t->k.pad, 0, sizeof(t->k.pad));
	h = l4s_hash_flow(&p->key, L4S_HASH_SEED ^ 0x534e4154u);
	/* A stride coprime with the range visits every port once per round. */
	step = range > 1 ? 1 + (h >> 16) % (range - 1) : 1;
	if (!coprime(range, step))
		step = coprime(range, step + 1) ? step + 1 : 1;
	port = l4s_snat_search(h % range, step, range, lo);
	return port > 0 ? bpf_htons((__u16)port) : 0;
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

/* snat_reply() past the lookup: a subprogram (rare next to the packets it is not). */
static __noinline int snat_reply_hit(const struct l4s_pkt *p, __u32 pkt_len, struct l4s_snat *s,
				     struct l4s_snat_back *b)
{
	struct l4s_backend_counts *bs;
	struct l4s_flow_key fk = {};
	struct l4s_flow *f;
	__u32 bid, mark = 0, first = 0;

	bid = s->backend_id;
	bs = backend_counts(bid);
	COUNT_ADD(bs, rx_packets, 1);
	COUNT_ADD(bs, rx_bytes, pkt_len);
	if (p->key.proto == IPPROTO_TCP_ && (p->tcp_flags & TCP_FLAG_RST)) {
		COUNT_ADD(bs, resets, 1);
	} else if (!(s->flags & L4S_FLOW_F_ANSWERED)) {
		s->flags |= L4S_FLOW_F_ANSWERED;
		mark |= L4S_FLOW_F_ANSWERED;
		first = 1;
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
		if (first) /* its connect time */
			connect_answered(&fk, bid, 1);
	}
	return 1;
}

/*
 * A reply of a SNAT flow (backend -> node address:SNAT port): counted like a reply on
 * the reply path, its entry refreshed. Returns 1 with @b filled, 0 when it is not one.
 */
static __always_inline int snat_reply(const struct l4s_pkt *p, __u32 pkt_len,
				      struct l4s_snat_back *b)
{
	struct l4s_node *n = node_config();
	__u32 port = bpf_ntohs(p->key.dport), lo, hi;
	struct l4s_snat *s;

	/* Addressed to a port of the range: the exact entry (backend:port -> this node's
	 * address:port) says whether it is ours, whichever address the flow was given
	 * (set by 'node set', or its egress device's). */
	snat_range(n, &lo, &hi);
	if (port < lo || port > hi)
		return 0;
	s = bpf_map_lookup_elem(&l4s_snat, &p->key);
	if (!s)
		return 0;
	return snat_reply_hit(p, pkt_len, s, b);
}

#endif
