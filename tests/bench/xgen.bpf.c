// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The forwarding bench's packet generator (tests/bench/l4s-xgen.c): run by
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (Linux 5.18), each run sends its
 * frame out of the device it is run on (the redirect is to the ingress ifindex of the
 * test context), with the source port stepped over xgen_cfg's flow count, as
 * xdp-trafficgen does. The kernel builds and recycles the frames: the sender is not
 * the limit of what it measures.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct xgen_cfg {
	__u32 flows;   /* distinct source ports, from 10000 */
	__u32 counter; /* frames so far (one CPU runs the generator) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xgen_cfg);
} xgen_cfg SEC(".maps");

SEC("xdp")
int xgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 zero = 0, n;
	struct xgen_cfg *c = bpf_map_lookup_elem(&xgen_cfg, &zero);
	__be16 *sport, old, new;

	if (!c || (void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_ABORTED;
	sport = (void *)(ip + 1);
	if ((void *)(sport + 1) > data_end)
		return XDP_ABORTED;
	n = c->counter++;
	old = *sport;
	new = bpf_htons(10000 + (c->flows ? n % c->flows : 0));
	*sport = new;
	if (ip->protocol == 17) { /* UDP: no checksum (IPv4 allows it) */
		struct udphdr *u = (void *)(ip + 1);

		if ((void *)(u + 1) > data_end)
			return XDP_ABORTED;
		u->check = 0;
	} else if (ip->protocol == 6) { /* TCP: the checksum follows the port */
		struct tcphdr *t = (void *)(ip + 1);
		__u32 s;

		if ((void *)(t + 1) > data_end)
			return XDP_ABORTED;
		s = (__u16)~t->check + (__u16)~old + (__u16)new;
		s = (s & 0xffff) + (s >> 16);
		s = (s & 0xffff) + (s >> 16);
		t->check = (__u16)~s;
	}
	return bpf_redirect(ctx->ingress_ifindex, 0);
}
