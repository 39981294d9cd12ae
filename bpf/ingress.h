/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The forward path, one body for XDP and tc ingress: client -> VIP:port becomes
 * client -> backend (and, for a snat service, node -> backend); a reply to a SNAT
 * port becomes VIP -> client again; ICMP errors about SNAT flows go back to the
 * client. What differs between the hooks is in bpf/hook.h.
 */
#ifndef L4S_INGRESS_H
#define L4S_INGRESS_H

#include "hook.h"
#include "select.h"
#include "snat.h"
#include "icmp.h"
#include "reject.h"

/* A SNAT reply: back to VIP -> client, for the kernel to route to the client. */
static __always_inline int ingress_snat_back(void *ctx, int hook, struct l4s_pkt *p,
					     const struct l4s_snat_back *b)
{
	if (hook_rewrite(ctx, hook, p, L4S_SRC, &b->vip, b->vport) ||
	    hook_rewrite(ctx, hook, p, L4S_DST, &b->client, b->cport)) {
		count_reason(L4S_R_DROP_ADJUST);
		return hook_drop(hook);
	}
	count_reason(L4S_R_SNAT_REPLY);
	return hook_pass(hook);
}

/* The forward path of one packet at @hook, by @path (constants: see L4S_PATH_FAST):
 * the hook's verdict. */
static __always_inline int ingress_forward(void *ctx, int hook, int path)
{
	struct l4s_snat_back back;
	struct l4s_pkt p = {};
	struct l4s_choice c = {};
	void *data, *data_end;
	__u32 len;

	hook_prepare(ctx, hook);
	data = hook_data(ctx, hook);
	data_end = hook_data_end(ctx, hook);
	len = hook_len(ctx, hook);
	if (l4s_parse(data, data_end, &p, len)) {
		if (p.pass == L4S_R_PASS_PROTO && path == L4S_PATH_FAST &&
		    icmp_is_error(data, data_end, &p)) {
			hook_tail_slow(ctx, hook);
			count_reason(L4S_R_NO_SLOW); /* passed untranslated */
		} else if (p.pass == L4S_R_PASS_PROTO && path == L4S_PATH_SLOW &&
			   icmp_snat_back(data, data_end, &p)) {
			p.pass = L4S_R_ICMP_NAT;
		}
		count_reason(p.pass);
		return hook_pass(hook);
	}
	switch (l4s_decide(ctx, hook, path, hook_ifindex(ctx, hook), &p, len, &c)) {
	case L4S_V_PASS:
		if (!p.bad && snat_reply(&p, len, &back))
			return ingress_snat_back(ctx, hook, &p, &back);
		count_reason(c.reason);
		return hook_pass(hook);
	case L4S_V_DROP:
		count_reason(c.reason);
		if (path == L4S_PATH_SLOW && c.reject) {
			/* Inline: as a subprogram its frame and this one's would pass the
			 * 512 bytes of stack the verifier allows a chain of calls. */
			int v = reject_send(ctx, hook, &p);

			if (v >= 0)
				return v;
		}
		return hook_drop(hook);
	}
	count_reason(c.reason);
	if (hook_rewrite(ctx, hook, &p, L4S_DST, &c.addr, c.port) ||
	    ((c.flags & L4S_FLOW_F_SNAT) &&
	     hook_rewrite(ctx, hook, &p, L4S_SRC, &c.snat_addr, c.snat_port))) {
		count_reason(L4S_R_DROP_ADJUST);
		return hook_drop(hook);
	}
	p.key.dst = c.addr;
	p.key.dport = c.port;
	return hook_send(ctx, hook, &p);
}

#endif
