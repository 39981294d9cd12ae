/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket path: cgroup sock_addr hooks for clients on the node itself (pods, host
 * processes), whose packets never cross the node's ingress. A socket that connects
 * (TCP, connected UDP) or sends (unconnected UDP) to a VIP is given a backend from the
 * same service lookup table as the XDP path, and talks to it directly: no per-packet
 * NAT. recvmsg and getpeername show the VIP again, so the application never sees the
 * backend. A sockops program follows each TCP connect to count whether it got through.
 */
#ifndef L4S_SOCK_H
#define L4S_SOCK_H

#include "maps.h"
#include "select.h"
#include "counters.h"
#include "kfeat.h"

#define L4S_ECONNREFUSED 111
#define L4S_TCP_SYN_SENT 2
#define L4S_TCP_CLOSE    7
#define L4S_AF_INET_SYS  2
#define L4S_AF_INET6_SYS 10

static __always_inline int v4_mapped(const struct l4s_addr *a)
{
	return a->addr[0] == 0 && a->addr[1] == 0 && a->addr[2] == bpf_htonl(0xffff);
}

/* An IPv4-mapped IPv6 address (a dual-stack socket reaching an IPv4 VIP) as IPv4. */
static __always_inline int unmap_v4(struct l4s_addr *a, __u8 *family)
{
	if (*family != L4S_AF_INET6 || !v4_mapped(a))
		return 0;
	a->addr[0] = a->addr[3];
	a->addr[2] = 0;
	a->addr[3] = 0;
	*family = L4S_AF_INET;
	return 1;
}

/* The address and port of a sock_addr call (the destination, or the peer on the way
 * back); returns 1 when it was IPv4 mapped into IPv6. */
static __always_inline int sock_addr_get(struct bpf_sock_addr *ctx, int v6, struct l4s_addr *a,
					 __u8 *family, __be16 *port)
{
	*port = (__be16)ctx->user_port;
	if (!v6) {
		a->addr[0] = ctx->user_ip4;
		*family = L4S_AF_INET;
		return 0;
	}
	a->addr[0] = ctx->user_ip6[0];
	a->addr[1] = ctx->user_ip6[1];
	a->addr[2] = ctx->user_ip6[2];
	a->addr[3] = ctx->user_ip6[3];
	*family = L4S_AF_INET6;
	return unmap_v4(a, family);
}

static __always_inline void sock_addr_put(struct bpf_sock_addr *ctx, int v6, int mapped,
					  const struct l4s_addr *a, __be16 port)
{
	if (!v6) {
		ctx->user_ip4 = a->addr[0];
	} else if (mapped) {
		ctx->user_ip6[3] = a->addr[0]; /* ::ffff: stays */
	} else {
		ctx->user_ip6[0] = a->addr[0];
		ctx->user_ip6[1] = a->addr[1];
		ctx->user_ip6[2] = a->addr[2];
		ctx->user_ip6[3] = a->addr[3];
	}
	ctx->user_port = port;
}

/*
 * The socket's slot in the table: a hash of its cookie (unique per socket for the
 * node's uptime), or with client-IP affinity of its network namespace's cookie, so
 * every socket of one pod (one client address) gets the same backend.
 */
static __always_inline struct l4s_backend *sock_pick(struct bpf_sock_addr *ctx,
						     const struct l4s_service *svc, __u32 svc_id,
						     __u32 *bid, __u32 *reason)
{
	int affinity = !!(svc->flags & L4S_SVC_F_AFFINITY_CLIENT_IP);
	__u64 c = affinity ? bpf_get_netns_cookie(ctx) : bpf_get_socket_cookie(ctx);
	struct l4s_addr client = {};
	__u32 remembered = L4S_NO_BACKEND;
	struct l4s_backend *be;
	struct l4s_addr h = {};

	h.addr[0] = (__u32)c;
	h.addr[1] = (__u32)(c >> 32);
	h.addr[2] = svc_id;
	h.addr[3] = (__u32)affinity;
	/* With a timeout, the client (its network namespace) is remembered as at the node. */
	client.addr[0] = h.addr[0];
	client.addr[1] = h.addr[1];
	if (affinity)
		remembered = affinity_pick(AFF_WHO(svc_id, L4S_AFF_F_NETNS), &client);
	be = table_pick(l4s_hash_addr(&h, L4S_HASH_SEED), svc, svc_id, remembered, bid, reason);
	if (be && affinity)
		affinity_put(AFF_WHO(svc_id, L4S_AFF_F_NETNS), &client, *bid, be->gen);
	return be;
}

static __always_inline void sock_count_flow(__u32 bid, __u8 proto)
{
	struct l4s_sock_stats *s = bpf_map_lookup_elem(&l4s_sock_stats, &bid);

	/* Process context: another task may run this on the same CPU in between. */
	if (!s)
		return;
	__sync_fetch_and_add(&s->flows, 1);
	if (proto == IPPROTO_TCP_)
		__sync_fetch_and_add(&s->tcp_flows, 1);
}

/* No backend for a new socket: the call fails with ECONNREFUSED at once (EPERM before
 * Linux 5.18: no bpf_set_retval), where the node path can only drop (and the client
 * waits for its timeout). */
static __always_inline int sock_refuse(__u32 svc_id)
{
	struct l4s_service_stats *ss = service_stats(svc_id);

	if (ss)
		__sync_fetch_and_add(&ss->no_backend, 1);
	count_reason(L4S_R_SOCK_NO_BACKEND);
	if (l4s_have_set_retval)
		bpf_set_retval(-L4S_ECONNREFUSED);
	return 0;
}

/*
 * connect() (TCP, connected UDP) and sendmsg() (unconnected UDP) to a VIP. @sticky:
 * the socket keeps the backend it was given for this VIP (sendmsg is called for every
 * datagram; connect chooses once by nature). Returns what the hook returns.
 */
static __always_inline int sock_forward(struct bpf_sock_addr *ctx, int v6, int sticky)
{
	struct l4s_frontend_key fk = {};
	struct l4s_sock_key sk = {};
	struct l4s_sock_rev rv = {};
	struct l4s_sock_fwd *sf, nf = {};
	struct l4s_frontend *fe;
	struct l4s_service *svc;
	struct l4s_backend *be = 0;
	__u32 svc_id, bid = 0, reason = 0;
	int mapped, fresh = 1;

	mapped = sock_addr_get(ctx, v6, &fk.vip, &fk.family, &fk.port);
	fk.proto = (__u8)ctx->protocol;
	fe = bpf_map_lookup_elem(&l4s_frontends, &fk);
	if (!fe)
		return 1; /* not a VIP: untouched */
	svc_id = fe->svc_id;
	svc = bpf_map_lookup_elem(&l4s_services, &svc_id);
	if (!svc || !(svc->flags & L4S_SVC_F_IN_USE))
		return sock_refuse(svc_id);

	sk.cookie = bpf_get_socket_cookie(ctx);
	sk.proto = fk.proto;
	sk.family = fk.family;
	if (sticky) {
		sk.addr = fk.vip;
		sk.port = fk.port;
		sf = bpf_map_lookup_elem(&l4s_sock_fwd, &sk);
		if (sf && sf->svc_id == svc_id) {
			bid = sf->backend_id;
			be = bpf_map_lookup_elem(&l4s_backends, &bid);
			if (be && (be->flags & L4S_BE_F_IN_USE) && be->gen == sf->backend_gen)
				fresh = 0;
			else
				be = 0;
		}
	}
	if (fresh) {
		be = sock_pick(ctx, svc, svc_id, &bid, &reason);
		if (!be || be->family != fk.family)
			return sock_refuse(svc_id);
		if (sticky) {
			nf.backend_id = bid;
			nf.backend_gen = be->gen;
			nf.svc_id = svc_id;
			bpf_map_update_elem(&l4s_sock_fwd, &sk, &nf, BPF_ANY);
		}
		sock_count_flow(bid, fk.proto);
	}
	if (!be)
		return sock_refuse(svc_id);

	/* What the way back shows instead of the backend. A sticky socket rewrites it only
	 * when the LRU forgot it. */
	sk.addr = be->addr;
	sk.port = be->port;
	if (fresh || !bpf_map_lookup_elem(&l4s_sock_rev, &sk)) {
		rv.vip = fk.vip;
		rv.vport = fk.port;
		rv.backend_id = bid;
		bpf_map_update_elem(&l4s_sock_rev, &sk, &rv, BPF_ANY);
	}
	sock_addr_put(ctx, v6, mapped, &be->addr, be->port);
	count_reason(L4S_R_SOCK_FWD);
	return 1;
}

/* recvmsg() (the source of a datagram) and getpeername(): the backend a socket was
 * given shows as the VIP it asked for. */
static __always_inline int sock_reverse(struct bpf_sock_addr *ctx, int v6)
{
	struct l4s_sock_key sk = {};
	struct l4s_sock_rev *rv;
	int mapped;

	mapped = sock_addr_get(ctx, v6, &sk.addr, &sk.family, &sk.port);
	sk.cookie = bpf_get_socket_cookie(ctx);
	sk.proto = (__u8)ctx->protocol;
	rv = bpf_map_lookup_elem(&l4s_sock_rev, &sk);
	if (!rv)
		return 1;
	sock_addr_put(ctx, v6, mapped, &rv->vip, rv->vport);
	count_reason(L4S_R_SOCK_REV);
	return 1;
}

/* The backend a TCP socket was given by connect4/6, from sockops. */
static __always_inline struct l4s_sock_stats *sockops_stats(struct bpf_sock_ops *skops)
{
	struct l4s_sock_key sk = {};
	struct l4s_sock_rev *rv;
	__u32 bid;

	if (skops->family == L4S_AF_INET_SYS) {
		sk.addr.addr[0] = skops->remote_ip4;
		sk.family = L4S_AF_INET;
	} else if (skops->family == L4S_AF_INET6_SYS) {
		sk.addr.addr[0] = skops->remote_ip6[0];
		sk.addr.addr[1] = skops->remote_ip6[1];
		sk.addr.addr[2] = skops->remote_ip6[2];
		sk.addr.addr[3] = skops->remote_ip6[3];
		sk.family = L4S_AF_INET6;
		unmap_v4(&sk.addr, &sk.family);
	} else {
		return 0;
	}
	/* remote_port holds the network-order port in its upper 16 bits. */
	sk.port = (__be16)(skops->remote_port >> 16);
	sk.proto = IPPROTO_TCP_;
	sk.cookie = bpf_get_socket_cookie(skops);
	rv = bpf_map_lookup_elem(&l4s_sock_rev, &sk);
	if (!rv)
		return 0;
	bid = rv->backend_id;
	return bpf_map_lookup_elem(&l4s_sock_stats, &bid);
}

/* Whether a connect given a backend got through: the socket path's health signal. */
static __always_inline int sockops_follow(struct bpf_sock_ops *skops)
{
	struct l4s_sock_stats *s;
	__u32 flags = skops->bpf_sock_ops_cb_flags;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* Follow state changes only for sockets of the socket path. */
		if (sockops_stats(skops))
			bpf_sock_ops_cb_flags_set(skops, flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		s = sockops_stats(skops);
		if (s)
			__sync_fetch_and_add(&s->tcp_established, 1);
		if (flags & BPF_SOCK_OPS_STATE_CB_FLAG)
			bpf_sock_ops_cb_flags_set(skops, flags & ~BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[0] == L4S_TCP_SYN_SENT && skops->args[1] == L4S_TCP_CLOSE) {
			s = sockops_stats(skops);
			if (s)
				__sync_fetch_and_add(&s->tcp_failed, 1);
		}
		break;
	}
	return 1;
}

#endif
