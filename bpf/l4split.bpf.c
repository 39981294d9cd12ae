// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split programs:
 *   l4s_xdp_fwd  - XDP, forward path: client -> VIP:port becomes client -> backend
 *   l4s_tc_fwd   - the same forward path at tc ingress (devices without XDP)
 *   l4s_xdp_slow, l4s_tc_slow - their rare paths, tail-called (bpf/hook.h)
 *   l4s_tc_reply - tc egress, reply path: backend -> client becomes VIP -> client
 *   l4s_connect4/6, l4s_sendmsg4/6, l4s_recvmsg4/6, l4s_getpeername4/6, l4s_sockops -
 *                  cgroup hooks, the socket path for clients on the node (bpf/sock.h)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4split.h"
#include "maps.h"
#include "ingress.h"
#include "reply.h"
#include "sock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The forward path (bpf/ingress.h), one body for both hooks: the fast programs, which
 * are attached, and the slow ones they tail-call for their rare paths (l4s_xtail,
 * l4s_ttail; see L4S_PATH_FAST). */
SEC("xdp")
int l4s_xdp_fwd(struct xdp_md *ctx)
{
	return ingress_forward(ctx, HOOK_XDP, L4S_PATH_FAST);
}

SEC("tc")
int l4s_tc_fwd(struct __sk_buff *skb)
{
	return ingress_forward(skb, HOOK_TC, L4S_PATH_FAST);
}

SEC("xdp")
int l4s_xdp_slow(struct xdp_md *ctx)
{
	return ingress_forward(ctx, HOOK_XDP, L4S_PATH_SLOW);
}

SEC("tc")
int l4s_tc_slow(struct __sk_buff *skb)
{
	return ingress_forward(skb, HOOK_TC, L4S_PATH_SLOW);
}

/* The reply path (bpf/reply.h). */
SEC("tc")
int l4s_tc_reply(struct __sk_buff *skb)
{
	return reply_translate(skb);
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
