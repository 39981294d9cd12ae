/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The forward decision, shared by the XDP and tc ingress programs: match the
 * frontend, follow the flow table, or choose a backend from the service's lookup
 * table. The choice is a pure function of the flow hash and the maps.
 */
#ifndef L4S_SELECT_H
#define L4S_SELECT_H

#include "maps.h"
#include "parse.h"
#include "counters.h"
#include "l4split_hash.h"
#include "snat.h"
#include "hook.h"
#include "norev.h"

/* Outcome of l4s_decide(). */
enum l4s_verdict {
	L4S_V_PASS = 0,    /* not ours: hand to the kernel untouched */
	L4S_V_DROP,        /* ours but unusable: drop (reason counted) */
	L4S_V_FORWARD,     /* rewrite to the chosen backend */
};

struct l4s_choice {
	struct l4s_addr addr;
	__be16 port;
	__be16 snat_port;       /* with L4S_FLOW_F_SNAT in flags: the new source port */
	struct l4s_addr snat_addr;
	__u32 backend_id;
	__u32 flags;            /* L4S_FLOW_F_SNAT: rewrite the source too */
	__u32 reason;           /* counted by the caller */
	__u32 reject;           /* L4S_V_DROP of a new flow with no backend: answer it
				 * (a TCP SYN, or a UDP datagram without a flow entry) */
};

static __always_inline int tcp_is_syn(const struct l4s_pkt *p)
{
	return p->key.proto == IPPROTO_TCP_ &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* A TCP segment past the handshake: ACK set, SYN not. */
static __always_inline int tcp_is_midstream(const struct l4s_pkt *p)
{
	return p->key.proto == IPPROTO_TCP_ &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_ACK;
}

static __always_inline int tcp_is_closing(const struct l4s_pkt *p)
{
	return p->key.proto == IPPROTO_TCP_ && (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST));
}

/* Is the flow entry still good to follow for this packet? */
static __always_inline struct l4s_backend *flow_backend(struct l4s_flow *f, __u32 svc_id,
							const struct l4s_pkt *p)
{
	struct l4s_backend *be;
	__u32 id = f->backend_id;

	if (f->svc_id != svc_id)
		return 0;
	/* A new connection on a reused 5-tuple chooses again: after FIN/RST, or a SYN
	 * that is not a retransmission of the opening one (another ISN: a client that
	 * gave up on a backend that never answered, and reused its port). */
	if (tcp_is_syn(p) && ((f->flags & L4S_FLOW_F_CLOSED) ||
			      ((f->flags & L4S_FLOW_F_SEQ) && f->syn_seq != p->seq)))
		return 0;
	be = bpf_map_lookup_elem(&l4s_backends, &id);
	if (!be || !(be->flags & L4S_BE_F_IN_USE) || be->gen != f->backend_gen)
		return 0; /* backend deleted (or its id reused) since */
	return be;
}

/*
 * The reverse entry of a flow: the reply comes from backend:port to client:port and
 * must leave as VIP:port. With @only_missing, write it only when it is not there:
 * the two LRU tables evict independently, and a flow whose reverse entry went
 * would send its replies untranslated (the client answers them with a reset).
 * @start_ns: the flow's connect-time start (0: not timed).
 */
static __always_inline void rflow_put(const struct l4s_pkt *p, const struct l4s_backend *be,
				      __u32 bid, int only_missing, __u64 start_ns)
{
	struct l4s_flow_key rk = {};
	struct l4s_rflow rf = {};

	rk.src = be->addr;
	rk.dst = p->key.src;
	rk.sport = be->port;
	rk.dport = p->key.sport;
	rk.proto = p->key.proto;
	rk.family = p->key.family;
	if (only_missing && bpf_map_lookup_elem(&l4s_rflows, &rk))
		return;
	rf.vip = p->key.dst;
	rf.vport = p->key.dport;
	rf.backend_id = bid;
	rf.start_ns = start_ns;
	bpf_map_update_elem(&l4s_rflows, &rk, &rf, BPF_ANY);
}

/* Pick a backend for a new flow (of hash @hash) from the service's lookup table, or
 * backend @remembered when it is not L4S_NO_BACKEND (affinity_pick: one path on, so the
 * verifier follows one path, not one per source of the id). */
static __always_inline struct l4s_backend *table_pick(__u32 hash, const struct l4s_service *svc,
						      __u32 svc_id, __u32 remembered, __u32 *bid,
						      __u32 *reason)
{
	struct l4s_backend *be;
	__u32 slot, *idp;
	void *table;

	table = bpf_map_lookup_elem(&l4s_tables, &svc_id);
	if (!table || svc->table_size == 0) {
		*reason = L4S_R_DROP_NO_TABLE;
		return 0;
	}
	slot = hash % svc->table_size;
	idp = bpf_map_lookup_elem(table, &slot);
	if (!idp) {
		*reason = L4S_R_DROP_NO_TABLE;
		return 0;
	}
	*bid = remembered != L4S_NO_BACKEND ? remembered : *idp;
	if (*bid == L4S_NO_BACKEND) {
		*reason = L4S_R_DROP_NO_BACKEND;
		return 0;
	}
	be = bpf_map_lookup_elem(&l4s_backends, bid);
	if (!be || !(be->flags & L4S_BE_F_IN_USE)) {
		*reason = L4S_R_DROP_NO_BACKEND;
		return 0;
	}
	return be;
}

/*
 * Client-IP affinity with a timeout (l4s_svcaff, l4s_affinity; see l4split.h). The
 * functions are not inlined and take the service id and family in one word (@who, as
 * AFF_WHO makes it): their keys and clock stay off the forward path's stack (512 bytes
 * for the program and what it calls), and BPF functions take 5 arguments at most.
 */
#define AFF_WHO(svc_id, family) ((svc_id) | (__u32)(family) << 24)

/* The service's timeout in ns, 0 when it has none. */
static __always_inline __u64 affinity_timeout_ns(__u32 svc_id)
{
	struct l4s_svc_aff *a = bpf_map_lookup_elem(&l4s_svcaff, &svc_id);

	return a ? (__u64)a->timeout_s * 1000000000ull : 0;
}

/* The id of the backend @client was given by a new flow less than the service's timeout
 * ago, when it is still there and still takes new flows (backend and track weight above
 * 0); else L4S_NO_BACKEND (no timeout, nothing remembered, expired, gone or drained: the
 * table chooses). */
static __noinline __u32 affinity_pick(__u32 who, const struct l4s_addr *client)
{
	__u32 svc_id = who & 0xffffff;
	struct l4s_aff_key k = { .svc_id = svc_id, .family = (__u8)(who >> 24), .client = *client };
	__u64 tmo = affinity_timeout_ns(svc_id);
	struct l4s_track_key *tk;
	struct l4s_backend *be;
	struct l4s_weight *w;
	struct l4s_track *t;
	struct l4s_aff *a;
	__u32 id;

	if (!tmo)
		return L4S_NO_BACKEND;
	a = bpf_map_lookup_elem(&l4s_affinity, &k);
	if (!a || bpf_ktime_get_ns() - a->last_ns > tmo)
		return L4S_NO_BACKEND;
	id = a->backend_id;
	be = bpf_map_lookup_elem(&l4s_backends, &id);
	if (!be || !(be->flags & L4S_BE_F_IN_USE) || be->gen != a->backend_gen ||
	    be->svc_id != svc_id)
		return L4S_NO_BACKEND;
	w = bpf_map_lookup_elem(&l4s_weights, &id);
	if (!w || !w->weight)
		return L4S_NO_BACKEND;
	id = 0;
	tk = bpf_map_lookup_elem(&l4s_scratch, &id); /* 36 bytes this frame has no room for */
	if (!tk)
		return L4S_NO_BACKEND;
	tk->svc_id = svc_id;
	__builtin_memcpy(tk->name, be->track, L4S_NAME_LEN);
	t = bpf_map_lookup_elem(&l4s_tracks, tk);
	if (!t || !t->weight)
		return L4S_NO_BACKEND;
	return a->backend_id;
}

/* With a timeout: remember (or refresh) that @client was given backend @bid (of
 * generation @gen) now. */
static __noinline void affinity_put(__u32 who, const struct l4s_addr *client, __u32 bid,
				    __u32 gen)
{
	struct l4s_aff_key k = { .svc_id = who & 0xffffff, .family = (__u8)(who >> 24),
				 .client = *client };
	struct l4s_aff a = { .backend_id = bid, .backend_gen = gen };

	if (!affinity_timeout_ns(k.svc_id))
		return;
	a.last_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&l4s_affinity, &k, &a, BPF_ANY);
}

/*
 * The SNAT source of a flow to @be in @mode (auto or snat): 'node set --snat-addr' for
 * the family, else the primary address of the device the flow leaves by (as
 * MASQUERADE). Returns 0 with @c->snat_addr set (and @dev, @oif when it is the
 * device's), 1 when auto mode uses nat (a local backend, or no address to use), or a
 * drop reason.
 */
static __always_inline __u32 snat_choose(void *ctx, __u32 ifindex, const struct l4s_pkt *p,
					 const struct l4s_backend *be, const struct l4s_node *n,
					 __u8 mode, struct l4s_choice *c, int *dev, __u32 *oif)
{
	int have = !node_addr(n, p->key.family, &c->snat_addr), remote = 1;

	*dev = 0;
	*oif = 0;
	if (mode == L4S_MODE_AUTO || !have)
		remote = backend_is_remote(ctx, ifindex, p, be, oif);
	if (mode == L4S_MODE_AUTO && !remote)
		return 1;
	if (have)
		return 0;
	if (dev_addr(*oif, p->key.family, &c->snat_addr))
		return mode == L4S_MODE_SNAT ? L4S_R_DROP_SNAT_NO_ADDR : 1;
	*dev = 1;
	return 0;
}

/*
 * How a new flow reaches backend @be: nat (0), or L4S_FLOW_F_SNAT with a port in
 * @nf / L4S_FLOW_F_DSR. Returns 0, or a drop reason. The fast path (@path) hands a
 * flow that SNAT may take (snat mode, or auto mode to a remote backend) to the slow
 * one: the address and the port search are its code (L4S_R_NO_SLOW when the slot is
 * empty).
 */
static __always_inline __u32 flow_mode(void *ctx, int hook, int path, __u32 ifindex,
				       const struct l4s_pkt *p, const struct l4s_service *svc,
				       const struct l4s_backend *be, __u32 bid, struct l4s_flow *nf,
				       struct l4s_choice *c)
{
	struct l4s_node *n;
	__u8 mode = svc->mode;
	__u32 oif, r;
	int dev;

	if (mode == L4S_MODE_NAT || mode >= L4S_MODE_MAX)
		return 0;
	n = node_config();
	if (mode == L4S_MODE_DSR) {
		if (backend_is_remote(ctx, ifindex, p, be, &oif)) {
			nf->flags |= L4S_FLOW_F_DSR;
			count_reason(L4S_R_DSR_NEW);
		}
		return 0;
	}
	/* 'node unset': SNAT is off, auto uses nat, snat cannot. */
	if (n && (n->flags & L4S_NODE_F_OFF))
		return mode == L4S_MODE_SNAT ? L4S_R_DROP_SNAT_NO_ADDR : 0;
	if (path == L4S_PATH_FAST) {
		/* auto: a local backend is nat (the common case), decided here */
		if (mode == L4S_MODE_AUTO && !backend_is_remote(ctx, ifindex, p, be, &oif))
			return 0;
		hook_tail_slow(ctx, hook);
		return L4S_R_NO_SLOW;
	}
	r = snat_choose(ctx, ifindex, p, be, n, mode, c, &dev, &oif);
	if (r)
		return r == 1 ? 0 : r;
	nf->snat_port = snat_alloc(p, be, bid, n, &c->snat_addr);
	if (!nf->snat_port)
		return L4S_R_DROP_SNAT_EXHAUSTED;
	nf->flags |= L4S_FLOW_F_SNAT;
	flow_set_snat_oif(nf, dev, oif);
	count_reason(L4S_R_SNAT_NEW);
	return 0;
}

/* A known SNAT flow: its port is still its own, else it gets a new one (and a new
 * source, chosen again, when its device lost the address it had): the slow path's
 * work, as for a new flow (see flow_mode). */
static __always_inline __u32 flow_snat_hit(void *ctx, int hook, int path, __u32 ifindex,
					   const struct l4s_pkt *p, struct l4s_flow *f,
					   const struct l4s_backend *be, __u32 bid,
					   struct l4s_choice *c)
{
	struct l4s_node *n = node_config();
	__u32 oif, r;
	__be16 port;
	int dev;

	if (f->flags & L4S_FLOW_F_SNAT_DEV) {
		if (!dev_addr(flow_snat_oif(f), p->key.family, &c->snat_addr) &&
		    !snat_refresh(p, be, &c->snat_addr, f->snat_port, tcp_is_closing(p),
				  tcp_is_syn(p)))
			return 0;
	} else if (!node_addr(n, p->key.family, &c->snat_addr) &&
		   !snat_refresh(p, be, &c->snat_addr, f->snat_port, tcp_is_closing(p),
				 tcp_is_syn(p))) {
		return 0;
	}
	if (n && (n->flags & L4S_NODE_F_OFF))
		return L4S_R_DROP_SNAT_NO_ADDR;
	if (path == L4S_PATH_FAST) {
		hook_tail_slow(ctx, hook);
		return L4S_R_NO_SLOW;
	}
	r = snat_choose(ctx, ifindex, p, be, n, L4S_MODE_SNAT, c, &dev, &oif);
	if (r)
		return r;
	port = snat_alloc(p, be, bid, n, &c->snat_addr);
	if (!port)
		return L4S_R_DROP_SNAT_EXHAUSTED;
	f->snat_port = port;
	flow_set_snat_oif(f, dev, oif);
	return 0;
}

/*
 * Decide what to do with a parsed packet at the frontend. On L4S_V_FORWARD,
 * @c holds the backend to rewrite to; counters for the service, the backend
 * and the flow table are already updated. @c->reason is set in every case.
 * @hook and @path are constants: the fast path tail-calls the slow one for its rare
 * cases (see L4S_PATH_FAST), which counts all but the service's packets and bytes.
 */
static __always_inline int l4s_decide(void *ctx, int hook, int path, __u32 ifindex,
				      struct l4s_pkt *p, __u32 pkt_len, struct l4s_choice *c)
{
	struct l4s_frontend_key fk = {};
	struct l4s_frontend *fe;
	struct l4s_service *svc;
	struct l4s_service_stats *ss;
	struct l4s_backend_pkts *bp;
	struct l4s_backend *be = 0;
	struct l4s_flow *f;
	__u32 svc_id, bid = 0;
	int fresh = 0, syn_retry = 0;

	fk.vip = p->key.dst;
	fk.port = p->key.dport;
	fk.proto = p->key.proto;
	fk.family = p->key.family;
	fe = bpf_map_lookup_elem(&l4s_frontends, &fk);
	if (!fe) {
		c->reason = p->bad ? L4S_R_PASS_MALFORMED : L4S_R_PASS_NOT_SERVICE;
		return L4S_V_PASS;
	}
	if (p->bad) {
		c->reason = p->bad;
		return L4S_V_DROP;
	}
	svc_id = fe->svc_id;
	svc = bpf_map_lookup_elem(&l4s_services, &svc_id);
	if (!svc || !(svc->flags & L4S_SVC_F_IN_USE)) {
		c->reason = L4S_R_DROP_NO_TABLE;
		return L4S_V_DROP;
	}
	ss = service_stats(svc_id);
	if (ss && path == L4S_PATH_FAST) { /* the slow path runs after the fast one */
		ss->packets++;
		ss->bytes += pkt_len;
	}

	f = bpf_map_lookup_elem(&l4s_flows, &p->key);
	if (f) {
		be = flow_backend(f, svc_id, p);
		if (be) {
			bid = f->backend_id;
			if (tcp_is_closing(p))
				f->flags |= L4S_FLOW_F_CLOSED;
			/* The client asks again and the backend never answered: a health signal. */
			syn_retry = tcp_is_syn(p) && !(f->flags & L4S_FLOW_F_ANSWERED);
			if (f->flags & L4S_FLOW_F_SNAT) {
				c->reason = flow_snat_hit(ctx, hook, path, ifindex, p, f, be,
							  bid, c);
				if (c->reason)
					return L4S_V_DROP;
				c->snat_port = f->snat_port;
			} else if (!(f->flags & (L4S_FLOW_F_DSR | L4S_FLOW_F_NOREV))) {
				/* The two LRU tables evict apart: once a second, a packet of the
				 * flow makes sure its reverse entry is still there. */
				__u16 now = (__u16)coarse_s();

				if (f->rcheck_s != now) {
					f->rcheck_s = now;
					rflow_put(p, be, bid, 1, 0);
				}
			}
			c->flags = f->flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR);
			c->reason = L4S_R_FLOW_HIT;
		} else {
			fresh = 2;
		}
	} else {
		fresh = 1;
	}

	if (fresh) {
		struct l4s_flow nf = {};
		struct l4s_bindex *nix = 0;
		__u32 remembered = L4S_NO_BACKEND;
		__u64 start_ns = 0;

		__u32 hash = svc->flags & L4S_SVC_F_AFFINITY_CLIENT_IP ?
				     l4s_hash_addr(&p->key.src, L4S_HASH_SEED) :
				     l4s_hash_flow(&p->key, L4S_HASH_SEED);

		if (svc->flags & L4S_SVC_F_AFFINITY_CLIENT_IP)
			remembered = affinity_pick(AFF_WHO(svc_id, p->key.family), &p->key.src);
		be = table_pick(hash, svc, svc_id, remembered, &bid, &c->reason);
		if (!be) {
			if (c->reason == L4S_R_DROP_NO_BACKEND) {
				/* Only a new flow: an established one's packets keep their path. */
				c->reject = tcp_is_syn(p) ||
					    (p->key.proto == IPPROTO_UDP_ && fresh == 1);
				/* The answer is built by the slow path, which counts it all. */
				if (c->reject && path == L4S_PATH_FAST) {
					hook_tail_slow(ctx, hook);
					count_reason(L4S_R_NO_SLOW);
					c->reject = 0;
				}
				if (ss)
					ss->no_backend++;
			}
			return L4S_V_DROP;
		}
		nf.backend_id = bid;
		nf.backend_gen = be->gen;
		nf.svc_id = svc_id;
		nf.flags = tcp_is_closing(p) ? L4S_FLOW_F_CLOSED : 0;
		if (tcp_is_syn(p)) {
			nf.flags |= L4S_FLOW_F_SEQ;
			nf.syn_seq = p->seq;
		}
		c->reason = flow_mode(ctx, hook, path, ifindex, p, svc, be, bid, &nf, c);
		if (c->reason)
			return L4S_V_DROP;
		/* A nat flow through its backend's one frontend keeps no reverse entry
		 * (bpf/norev.h): its replies find this entry through the backend index. */
		if (!(nf.flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR))) {
			nix = norev_of(&be->addr, be->port, p->key.proto, p->key.family);
			if (norev_ok(nix, p, svc_id))
				nf.flags |= L4S_FLOW_F_NOREV;
		}
		/* (SNAT_DEV: rcheck_s holds the egress device; NOREV: start_us is there) */
		if (!(nf.flags & (L4S_FLOW_F_SNAT_DEV | L4S_FLOW_F_NOREV)))
			nf.rcheck_s = (__u16)coarse_s();
		/* Its connect time starts (DSR replies do not come back through here): in
		 * this entry (no reverse entry), in the reverse entry written below, or for
		 * SNAT in l4s_cstart. */
		if (!(nf.flags & L4S_FLOW_F_DSR) &&
		    (tcp_is_syn(p) || p->key.proto == IPPROTO_UDP_)) {
			if (nf.flags & L4S_FLOW_F_SNAT)
				connect_start(&p->key);
			else
				start_ns = bpf_ktime_get_ns();
			if (nf.flags & L4S_FLOW_F_NOREV) {
				nf.flags |= L4S_FLOW_F_TIMED;
				nf.start_us = (__u32)(start_ns / 1000);
			}
		}
		bpf_map_update_elem(&l4s_flows, &p->key, &nf, BPF_ANY);
		/* Only client-ip affinity has timeouts (the writer refuses one without it):
		 * other services make no call; without a timeout it returns at its first
		 * lookup. */
		if (svc->flags & L4S_SVC_F_AFFINITY_CLIENT_IP)
			affinity_put(AFF_WHO(svc_id, p->key.family), &p->key.src, bid, be->gen);

		/* SNAT replies come back to the node's port (l4s_snat); DSR ones not here. */
		if (!(nf.flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR | L4S_FLOW_F_NOREV))) {
			rflow_put(p, be, bid, 0, start_ns);
			if (nix && !norev_same_fe(nix, p, svc_id))
				norev_evict(nix, p, be);
		}
		c->flags = nf.flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR);
		c->snat_port = nf.snat_port;

		if (ss)
			ss->flows++;
		if (fresh == 2)
			c->reason = L4S_R_FLOW_RECHOSEN;
		else
			c->reason = tcp_is_midstream(p) ? L4S_R_FLOW_LOST : L4S_R_FLOW_NEW;
	}

	bp = backend_pkts(bid);
	if (bp) {
		bp->packets++;
		bp->bytes += pkt_len;
	}
	if (fresh || syn_retry) {
		struct l4s_backend_counts *bc = backend_counts(bid);

		if (fresh)
			COUNT_ADD(bc, flows, 1);
		if (syn_retry)
			COUNT_ADD(bc, syn_retries, 1);
	}
	c->addr = be->addr;
	c->port = be->port;
	c->backend_id = bid;
	return L4S_V_FORWARD;
}

#endif
