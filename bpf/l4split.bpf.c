// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split programs:
 *   l4s_xdp_fwd  - XDP, forward path: client -> VIP:port becomes client -> backend
 *   l4s_tc_fwd   - the same forward path at tc ingress (devices without XDP)
 *   l4s_tc_reply - tc egress, reply path: backend -> client becomes VIP -> client
 *   l4s_connect4/6, l4s_sendmsg4/6, l4s_recvmsg4/6, l4s_getpeername4/6, l4s_sockops -
 *                  cgroup hooks, the socket path for clients on the node (bpf/sock.h)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4split.h"
#include "maps.h"
#include "parse.h"
#include "nat.h"
#include "select.h"
#include "forward.h"
#include "counters.h"
#include "sock.h"
#include "icmp.h"

#define TC_ACT_OK_   0
#define TC_ACT_SHOT_ 2
#define L4S_TC_PULL  256 /* bytes of headers made linear before parsing at tc */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* A SNAT reply: back to VIP -> client, for the kernel to route to the client. */
static __always_inline int xdp_snat_back(struct xdp_md *ctx, struct l4s_pkt *p,
					 const struct l4s_snat_back *b)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	if (xdp_rewrite(data, data_end, p, L4S_SRC, &b->vip, b->vport) ||
	    xdp_rewrite(data, data_end, p, L4S_DST, &b->client, b->cport)) {
		count_reason(L4S_R_DROP_ADJUST);
		return XDP_DROP;
	}
	count_reason(L4S_R_SNAT_REPLY);
	return XDP_PASS;
}

SEC("xdp")
int l4s_xdp_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct l4s_snat_back back;
	struct l4s_pkt p = {};
	struct l4s_choice c = {};

	if (l4s_parse(data, data_end, &p, data_end - data)) {
		if (p.pass == L4S_R_PASS_PROTO && icmp_snat_back(data, data_end, &p))
			p.pass = L4S_R_ICMP_NAT;
		count_reason(p.pass);
		return XDP_PASS;
	}
	switch (l4s_decide(ctx, ctx->ingress_ifindex, &p, data_end - data, &c)) {
	case L4S_V_PASS:
		if (!p.bad && snat_reply(&p, data_end - data, &back))
			return xdp_snat_back(ctx, &p, &back);
		count_reason(c.reason);
		return XDP_PASS;
	case L4S_V_DROP:
		count_reason(c.reason);
		return XDP_DROP;
	}
	count_reason(c.reason);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (xdp_rewrite(data, data_end, &p, L4S_DST, &c.addr, c.port) ||
	    ((c.flags & L4S_FLOW_F_SNAT) &&
	     xdp_rewrite(data, data_end, &p, L4S_SRC, &c.snat_addr, c.snat_port))) {
		count_reason(L4S_R_DROP_ADJUST);
		return XDP_DROP;
	}
	p.key.dst = c.addr;
	p.key.dport = c.port;
	return xdp_send(ctx, &p);
}

/*
 * skb->data and skb->data_end read with one fixed-offset load each: clang may
 * otherwise keep &skb->data_end in a register across a helper call, and the
 * verifier rejects a context access through a modified pointer.
 */
static __always_inline void *skb_data(struct __sk_buff *skb)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data)));
	return p;
}

static __always_inline void *skb_data_end(struct __sk_buff *skb)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return p;
}

/* Make the first headers linear so direct packet access sees them. */
static __always_inline void tc_pull_headers(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 want = len < L4S_TC_PULL ? len : L4S_TC_PULL;

	if (skb_data(skb) + want > skb_data_end(skb))
		bpf_skb_pull_data(skb, want);
}

SEC("tc")
int l4s_tc_fwd(struct __sk_buff *skb)
{
	struct l4s_snat_back back;
	struct l4s_pkt p = {};
	struct l4s_choice c = {};
	void *data, *data_end;

	tc_pull_headers(skb);
	data = skb_data(skb);
	data_end = skb_data_end(skb);
	if (l4s_parse(data, data_end, &p, skb->len)) {
		if (p.pass == L4S_R_PASS_PROTO && icmp_snat_back(data, data_end, &p))
			p.pass = L4S_R_ICMP_NAT;
		count_reason(p.pass);
		return TC_ACT_OK_;
	}
	switch (l4s_decide(skb, skb->ingress_ifindex, &p, skb->len, &c)) {
	case L4S_V_PASS:
		if (!p.bad && snat_reply(&p, skb->len, &back)) {
			if (tc_rewrite(skb, &p, L4S_SRC, &back.vip, back.vport) ||
			    tc_rewrite(skb, &p, L4S_DST, &back.client, back.cport)) {
				count_reason(L4S_R_DROP_ADJUST);
				return TC_ACT_SHOT_;
			}
			count_reason(L4S_R_SNAT_REPLY);
			return TC_ACT_OK_;
		}
		count_reason(c.reason);
		return TC_ACT_OK_;
	case L4S_V_DROP:
		count_reason(c.reason);
		return TC_ACT_SHOT_;
	}
	count_reason(c.reason);
	if (tc_rewrite(skb, &p, L4S_DST, &c.addr, c.port) ||
	    ((c.flags & L4S_FLOW_F_SNAT) &&
	     tc_rewrite(skb, &p, L4S_SRC, &c.snat_addr, c.snat_port))) {
		count_reason(L4S_R_DROP_ADJUST);
		return TC_ACT_SHOT_;
	}
	count_reason(L4S_R_TX_KERNEL);
	return TC_ACT_OK_;
}

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
 * No reverse entry. The backend index (l4s_bindex) says whether the source is one of
 * our backends: a DSR backend's direct reply gets its source rewritten statelessly;
 * a nat flow whose reverse entry the LRU evicted (the two tables evict apart) is
 * found by its forward entry, its reverse entry written again, and the reply goes out
 * translated. Anything else is not ours.
 */
static __always_inline int reply_miss(struct __sk_buff *skb, struct l4s_pkt *p)
{
	struct l4s_frontend_key k = {};
	struct l4s_flow_key fk = {};
	struct l4s_backend *be;
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
		forward_key(p, &vip, vport, &fk);
		f = bpf_map_lookup_elem(&l4s_flows, &fk);
		/* Only a live nat flow of that backend, and never a new connection on a
		 * reused 5-tuple (its SYN-ACK does not answer the flow's SYN). */
		if (!f || (f->flags & (L4S_FLOW_F_SNAT | L4S_FLOW_F_DSR | L4S_FLOW_F_CLOSED)) ||
		    f->svc_id != ix->svc_id || (tcp_is_synack(p) && !synack_answers(p, f)))
			return TC_ACT_OK_;
		bid = f->backend_id;
		be = bpf_map_lookup_elem(&l4s_backends, &bid);
		if (!be || be->gen != f->backend_gen || be->port != p->key.sport ||
		    !l4s_addr_eq(&be->addr, &p->key.src))
			return TC_ACT_OK_;
		{
			struct l4s_rflow rf = { .vip = vip, .vport = vport, .backend_id = bid };

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

SEC("tc")
int l4s_tc_reply(struct __sk_buff *skb)
{
	struct l4s_backend_stats *bs;
	struct l4s_pkt p = {};
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
	rf = bpf_map_lookup_elem(&l4s_rflows, &p.key);
	if (!rf)
		return reply_miss(skb, &p);
	if (reply_is_stale(&p, rf)) {
		bpf_map_delete_elem(&l4s_rflows, &p.key);
		count_reason(L4S_R_REPLY_STALE);
		return TC_ACT_OK_;
	}

	bid = rf->backend_id;
	bs = backend_stats(bid);
	if (bs) {
		bs->rx_packets++;
		bs->rx_bytes += skb->len;
	}
	if (p.key.proto == IPPROTO_TCP_ && (p.tcp_flags & TCP_FLAG_RST)) {
		if (bs)
			bs->resets++;
	} else if (!(rf->flags & L4S_FLOW_F_ANSWERED)) {
		rf->flags |= L4S_FLOW_F_ANSWERED;
		mark_forward(&p, rf, L4S_FLOW_F_ANSWERED);
		if (bs)
			bs->answered++;
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

/* The socket path (bpf/sock.h): the same services, tables and weights at connect(). */
SEC("cgroup/connect4")
int l4s_connect4(struct bpf_sock_addr *ctx)
{
	return sock_forward(ctx, 0, 0);
}

SEC("cgroup/connect6")
int l4s_connect6(struct bpf_sock_addr *ctx)
{
	return sock_forward(ctx, 1, 0);
}

SEC("cgroup/sendmsg4")
int l4s_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_forward(ctx, 0, 1);
}

SEC("cgroup/sendmsg6")
int l4s_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_forward(ctx, 1, 1);
}

SEC("cgroup/recvmsg4")
int l4s_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_reverse(ctx, 0);
}

SEC("cgroup/recvmsg6")
int l4s_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sock_reverse(ctx, 1);
}

SEC("cgroup/getpeername4")
int l4s_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_reverse(ctx, 0);
}

SEC("cgroup/getpeername6")
int l4s_getpeername6(struct bpf_sock_addr *ctx)
{
	return sock_reverse(ctx, 1);
}

SEC("sockops")
int l4s_sockops(struct bpf_sock_ops *skops)
{
	return sockops_follow(skops);
}
