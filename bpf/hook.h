/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The hook adapter: what differs between XDP and tc for the packet paths, behind one
 * set of helpers taking the context as void * and the hook as a constant (HOOK_XDP or
 * HOOK_TC). Every caller passes a literal, so after inlining each program keeps only
 * its own branch (as Cilium's ctx_* helpers do for its one context type).
 */
#ifndef L4S_HOOK_H
#define L4S_HOOK_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "nat.h"
#include "forward.h"
#include "counters.h"

#define HOOK_XDP 0
#define HOOK_TC  1

/*
 * Which body of the forward path a program runs (a constant, as the hook): the fast
 * one (l4s_xdp_fwd, l4s_tc_fwd) leaves its rare paths (the reject of a new flow with
 * no backend, a SNAT port to find, an ICMP error to translate) to the slow one
 * (l4s_xdp_slow, l4s_tc_slow) through a tail call, so the common packets do not carry
 * their code (issue 20). The slow body is the whole path; it runs again from the
 * parse, with the frame as the fast one left it (unchanged), and skips only what the
 * fast one counted before its call (the service's packets and bytes).
 */
#define L4S_PATH_FAST 0
#define L4S_PATH_SLOW 1

#define TC_ACT_OK_   0
#define TC_ACT_SHOT_ 2
#define L4S_TC_PULL  256 /* bytes of headers made linear before parsing at tc */

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

/* skb->data_end, read as skb_data() reads skb->data. */
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

/* Ready the frame for direct access (tc: pull the headers in). */
static __always_inline void hook_prepare(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		tc_pull_headers(ctx);
}

/* Start of the frame. */
static __always_inline void *hook_data(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		return skb_data(ctx);
	return (void *)(long)((struct xdp_md *)ctx)->data;
}

/* End of the linear part of the frame. */
static __always_inline void *hook_data_end(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		return skb_data_end(ctx);
	return (void *)(long)((struct xdp_md *)ctx)->data_end;
}

/* Length of the whole packet (tc: skb->len, which may exceed the linear part). */
static __always_inline __u32 hook_len(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		return ((struct __sk_buff *)ctx)->len;
	return hook_data_end(ctx, hook) - hook_data(ctx, hook);
}

/* The device the packet came in on. */
static __always_inline __u32 hook_ifindex(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		return ((struct __sk_buff *)ctx)->ingress_ifindex;
	return ((struct xdp_md *)ctx)->ingress_ifindex;
}

/* The hook's verdict for "hand to the kernel". */
static __always_inline int hook_pass(int hook)
{
	return hook == HOOK_TC ? TC_ACT_OK_ : XDP_PASS;
}

/* The hook's verdict for "drop". */
static __always_inline int hook_drop(int hook)
{
	return hook == HOOK_TC ? TC_ACT_SHOT_ : XDP_DROP;
}

/* Rewrite the source or destination of the parsed frame (bpf/nat.h); 0 or non-zero. */
static __always_inline int hook_rewrite(void *ctx, int hook, struct l4s_pkt *p, int side,
					const struct l4s_addr *na, __be16 nport)
{
	if (hook == HOOK_TC)
		return tc_rewrite(ctx, p, side, na, nport);
	return xdp_rewrite(hook_data(ctx, hook), hook_data_end(ctx, hook), p, side, na, nport);
}

/* Hand the packet to the hook's slow program (L4S_PATH_SLOW). Returns only when
 * the call failed (the slot is empty): the caller counts L4S_R_NO_SLOW. */
static __always_inline void hook_tail_slow(void *ctx, int hook)
{
	if (hook == HOOK_TC)
		bpf_tail_call(ctx, &l4s_ttail, L4S_TAIL_SLOW);
	else
		bpf_tail_call(ctx, &l4s_xtail, L4S_TAIL_SLOW);
}

/* Send the rewritten frame on: XDP may redirect it itself (bpf/forward.h); tc hands it
 * to the kernel. Counts how it left. */
static __always_inline int hook_send(void *ctx, int hook, struct l4s_pkt *p)
{
	if (hook == HOOK_TC) {
		count_reason(L4S_R_TX_KERNEL);
		return TC_ACT_OK_;
	}
	return xdp_send(ctx, p);
}

#endif
