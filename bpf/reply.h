/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reply path at tc egress: backend -> client becomes VIP -> client, through the
 * backend index (l4s_bindex) and the forward entry for flows that keep no reverse
 * entry (bpf/norev.h), through the reverse entry the forward path wrote (l4s_rflows),
 * or without one through the index again (DSR replies, reverse entries the LRU
 * evicted). It also feeds the health counters (answered, resets, the connect time)
 * and marks forward entries answered or closed.
 */
#ifndef L4S_REPLY_H
#define L4S_REPLY_H

#include "hook.h"
#include "select.h"
#include "icmp.h"
#include "norev.h"

/* The forward key of the flow a reply to VIP:@vport belongs to (client -> VIP). */
static __always_inline void forward_key(const struct l4s_pkt *p, const struct l4s_addr *vip,
					__be16 vport, struct l4s_flow_key *fk)
{
	fk->src = p->key.dst;
	fk->dst = *vip;
	fk->sport = p->key.dport;
	fk->dport = vport;
	fk->proto = p->key.proto;
	fk->family = p->key.family;
}

/* The forward entry of the flow a reply belongs to, or NULL. */
static __always_inline struct l4s_flow *forward_of(const struct l4s_pkt *p,
						   const struct l4s_rflow *rf)
{
	struct l4s_flow_key fk = {};

	forward_key(p, &rf->vip, rf->vport, &fk);
	return bpf_map_lookup_elem(&l4s_flows, &fk);
}

/* A TCP SYN-ACK. */
static __always_inline int tcp_is_synack(const struct l4s_pkt *p)
{
	return p->key.proto == IPPROTO_TCP_ &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK);
}

/* Does SYN-ACK @p answer the SYN that opened flow @f? */
static __always_inline int synack_answers(const struct l4s_pkt *p, const struct l4s_flow *f)
{
	if (f->flags & L4S_FLOW_F_SEQ)
		return bpf_ntohl(p->ack) == bpf_ntohl(f->syn_seq) + 1;
	return !(f->flags & L4S_FLOW_F_CLOSED);
}

/* Set @flag on the forward entry: ANSWERED at the first reply (health), CLOSED on
 * FIN/RST (a later SYN on the 5-tuple chooses again). */
static __always_inline void mark_forward(const struct l4s_pkt *p, const struct l4s_rflow *rf,
					 __u32 flag)
{
	struct l4s_flow *f = forward_of(p, rf);

	if (f)
		f->flags |= flag;
}

/* The first reply of a flow: with @answered, the forward entry is marked answered and
 * the connect time counted; a reset (@answered 0) only ends the timing. The start is in
 * the reverse entry; without one there (an entry repaired, or carried over from layout
 * 4), in l4s_cstart if anywhere. */
static __always_inline void first_reply(const struct l4s_pkt *p, struct l4s_rflow *rf,
					int answered)
{
	struct l4s_flow_key fk = {};
	struct l4s_flow *f;
	__u64 start = rf->start_ns;

	forward_key(p, &rf->vip, rf->vport, &fk);
	if (answered) {
		f = bpf_map_lookup_elem(&l4s_flows, &fk);
		if (f)
			f->flags |= L4S_FLOW_F_ANSWERED;
	}
	if (!start) {
		connect_answered(&fk, rf->backend_id, answered);
		return;
	}
	rf->start_ns = 0;
	if (answered)
		connect_since(rf->backend_id, start);
}

/*
 * A SYN-ACK must answer the SYN that opened the flow of its reverse entry. When it
 * does not, the entry outlived its flow and this is another connection on the same
 * 5-tuple that never went through the VIP: a client that reached the backend
 * directly (the socket path, or a pod address) from a port it once used for the VIP.
 * Rewriting it would break it; both entries of the old flow are forgotten.
 */
static __always_inline int reply_is_stale(const struct l4s_pkt *p, const struct l4s_rflow *rf)
{
	struct l4s_flow_key fk = {};
	struct l4s_flow *f;

	if (!tcp_is_synack(p))
		return 0;
	forward_key(p, &rf->vip, rf->vport, &fk);
	f = bpf_map_lookup_elem(&l4s_flows, &fk);
	if (f && synack_answers(p, f))
		return 0;
	if (f)
		bpf_map_delete_elem(&l4s_flows, &fk);
	return 1;
}

/*
 * A reply of flow @f, which keeps no reverse entry (L4S_FLOW_F_NOREV), found through
 * index entry @ix (@fk: the flow's forward key). What the reverse entry path does,
 * with the flow's state in its forward entry: a SYN-ACK that does not answer the
 * flow's SYN is another connection on a reused 5-tuple (left alone, the flow
 * forgotten); otherwise the health counters, the first answer's connect time, the
 * close, and the source rewritten to the VIP.
 */
static __always_inline int reply_norev(struct __sk_buff *skb, struct l4s_pkt *p,
				       const struct l4s_bindex *ix, struct l4s_flow *f,
				       const struct l4s_flow_key *fk)
{
	struct l4s_backend_counts *bs;
	struct l4s_addr vip;
	__be16 vport;
	__u32 bid;

	if (tcp_is_synack(p) && !synack_answers(p, f)) {
		bpf_map_delete_elem(&l4s_flows, fk);
		count_reason(L4S_R_REPLY_STALE);
		return TC_ACT_OK_;
	}
	bid = f->backend_id;
	bs = backend_counts(bid);
	COUNT_ADD(bs, rx_packets, 1);
	COUNT_ADD(bs, rx_bytes, skb->len);
	if (p->key.proto == IPPROTO_TCP_ && (p->tcp_flags & TCP_FLAG_RST)) {
		COUNT_ADD(bs, resets, 1);
		if (!(f->flags & L4S_FLOW_F_ANSWERED))
			f->flags &= ~L4S_FLOW_F_TIMED; /* refused: not a connect time */
	} else if (!(f->flags & L4S_FLOW_F_ANSWERED)) {
		__u32 flags = f->flags;

		f->flags = (flags | L4S_FLOW_F_ANSWERED) & ~L4S_FLOW_F_TIMED;
		COUNT_ADD(bs, answered, 1);
		if (flags & L4S_FLOW_F_TIMED) {
			__u32 us = (__u32)(bpf_ktime_get_ns() / 1000) - f->start_us;

			connect_count(bid, (__u64)us * 1000);
		}
	}
	if (tcp_is_closing(p) && !(f->flags & L4S_FLOW_F_CLOSED))
		f->flags |= L4S_FLOW_F_CLOSED;
	vip = ix->vip;
	vport = ix->vport;
	if (tc_rewrite(skb, p, L4S_SRC, &vip, vport)) {
		count_reason(L4S_R_DROP_ADJUST);
		return TC_ACT_SHOT_;
	}
	count_reason(L4S_R_REPLY_NAT);
	return TC_ACT_OK_;
}

/*
 * No reverse entry. The backend index (l4s_bindex) says whether the source is one of
 * our backends: a DSR backend's direct reply gets its source rewritten statelessly;
 * a nat flow whose reverse entry the LRU evicted (the two tables evict apart) is
 * found by its forward entry, its reverse entry written again, and the reply goes out
 * translated. Anything else is not ours (flows without a reverse entry came before).
 */
static __always_inline int reply_miss(struct __sk_buff *skb, struct l4s_pkt *p)
{
	struct l4s_frontend_key k = {};
	struct l4s_flow_key fk = {};
	struct l4s_bindex *ix;
	struct l4s_flow *f;
	struct l4s_addr vip;
	__be16 vport;
	__u32 bid, reason = L4S_R_DSR_REPLY;

	k.vip = p->key.src;
	k.port = p->key.sport;
	k.proto = p->key.proto;
	k.family = p->key.family;
	ix = bpf_map_lookup_elem(&l4s_bindex, &k);
	if (!ix)
		return TC_ACT_OK_;
	vip = ix->vip;
	vport = ix->vport;
	if (!(ix->flags & L4S_BINDEX_F_DSR)) {
		f = forward_by_index(&p->key, ix, &fk);
		/* Only a live nat flow of that backend, and never a new connection on a
		 * reused 5-tuple (its SYN-ACK does not answer the flow's SYN). */
		if (!f || (f->flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR | L4S_FLOW_F_CLOSED |
				       L4S_FLOW_F_NOREV)) ||
		    (tcp_is_synack(p) && !synack_answers(p, f)))
			return TC_ACT_OK_;
		bid = f->backend_id;
		{
			struct l4s_rflow rf = { .vip = vip, .vport = vport, .backend_id = bid,
						.flags = (__u16)(f->flags & L4S_FLOW_F_ANSWERED) };

			bpf_map_update_elem(&l4s_rflows, &p->key, &rf, BPF_ANY);
		}
		reason = L4S_R_REPLY_REPAIRED;
	}
	if (tc_rewrite(skb, p, L4S_SRC, &vip, vport)) {
		count_reason(L4S_R_DROP_ADJUST);
		return TC_ACT_SHOT_;
	}
	count_reason(reason);
	return TC_ACT_OK_;
}

/* The reply path of one packet at tc egress: the tc verdict. */
static __always_inline int reply_translate(struct __sk_buff *skb)
{
	struct l4s_backend_counts *bs;
	struct l4s_pkt p = {};
	struct l4s_bindex *ix;
	struct l4s_rflow *rf;
	struct l4s_addr vip;
	void *data, *data_end;
	__u32 bid;
	__be16 vport;

	tc_pull_headers(skb);
	data = skb_data(skb);
	data_end = skb_data_end(skb);
	if (l4s_parse(data, data_end, &p, skb->len)) {
		if (p.pass == L4S_R_PASS_PROTO && icmp_nat_back(data, data_end, &p))
			count_reason(L4S_R_ICMP_NAT);
		return TC_ACT_OK_;
	}
	if (p.bad)
		return TC_ACT_OK_;
	/* A backend with a no-reverse-entry record: its service's flows through the
	 * record's VIP:port keep no reverse entry (bpf/norev.h). */
	ix = norev_of(&p.key.src, p.key.sport, p.key.proto, p.key.family);
	if (ix) {
		struct l4s_flow_key fk = {};
		struct l4s_flow *f = forward_by_index(&p.key, ix, &fk);

		if (f && (f->flags & L4S_FLOW_F_NOREV))
			return reply_norev(skb, &p, ix, f, &fk);
	}
	rf = bpf_map_lookup_elem(&l4s_rflows, &p.key);
	if (!rf)
		return reply_miss(skb, &p);
	if (reply_is_stale(&p, rf)) {
		bpf_map_delete_elem(&l4s_rflows, &p.key);
		count_reason(L4S_R_REPLY_STALE);
		return TC_ACT_OK_;
	}

	bid = rf->backend_id;
	bs = backend_counts(bid);
	COUNT_ADD(bs, rx_packets, 1);
	COUNT_ADD(bs, rx_bytes, skb->len);
	if (p.key.proto == IPPROTO_TCP_ && (p.tcp_flags & TCP_FLAG_RST)) {
		COUNT_ADD(bs, resets, 1);
		if (!(rf->flags & L4S_FLOW_F_ANSWERED))
			first_reply(&p, rf, 0);
	} else if (!(rf->flags & L4S_FLOW_F_ANSWERED)) {
		rf->flags |= L4S_FLOW_F_ANSWERED;
		first_reply(&p, rf, 1);
		COUNT_ADD(bs, answered, 1);
	}
	if (tcp_is_closing(&p) && !(rf->flags & L4S_FLOW_F_CLOSED)) {
		rf->flags |= L4S_FLOW_F_CLOSED;
		mark_forward(&p, rf, L4S_FLOW_F_CLOSED);
	}

	vip = rf->vip;
	vport = rf->vport;
	if (tc_rewrite(skb, &p, L4S_SRC, &vip, vport)) {
		count_reason(L4S_R_DROP_ADJUST);
		return TC_ACT_SHOT_;
	}
	count_reason(L4S_R_REPLY_NAT);
	return TC_ACT_OK_;
}

#endif
