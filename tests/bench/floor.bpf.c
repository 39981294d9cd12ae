// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Floors for the datapath benchmark: an empty program, and l4split's own parser alone. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4split.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("tc")
int floor_tc(struct __sk_buff *skb)
{
	(void)skb;
	return 0; /* TC_ACT_OK */
}

SEC("xdp")
int floor_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct l4s_pkt p = {};
	int r = l4s_parse(data, data_end, &p, (__u32)(data_end - data));

	/* Use what was parsed, so the compiler keeps the parser. */
	return r || p.key.dport || p.bad ? XDP_PASS : XDP_DROP;
}
