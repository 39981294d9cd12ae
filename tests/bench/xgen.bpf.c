// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The forwarding bench's packet generator (tests/bench/l4s-xgen.c), made of XDP frames
 * that regenerate themselves, so no sender (socket, skb, syscall) is on the path:
 *
 *   kick (a few frames, once) -> xgl0 ==veth==> xgl1 [xgen_loop] --broadcast--+--> xgl0 (again)
 *                                                                               +--> xgh0
 *   xgh0 ==veth==> xgh1 [xgen_hand] --cpumap--> GEN CPU -> NODE CPU [xgen_cpu] --> IFNAME
 *
 * xgen_loop rewrites each frame's source port (FLOWS flows) and sends one copy round the
 * loop and one toward the node; the loop runs in the softirq of the generator's CPU.
 * xgen_hand moves the node's copies to the other CPU through a cpumap, whose program
 * (xgen_cpu) sends them out of IFNAME (the link to the node): the node's veth gets
 * xdp_frames (no skb) and its whole path runs on that other CPU, not sharing it with the
 * generator. Frames the node's CPU cannot take are dropped at the cpumap's queue, so
 * what arrives at the pods is what the node can forward.
 *
 * Bounded: every program drops its frame once xgen_cfg.stop is set or the deadline
 * (CLOCK_MONOTONIC ns) has passed, so the loop dies with or without its user.
 *
 * xgen_sink is the receiver: attached to each pod's eth0, it counts and drops IPv4 (the
 * pod's rx counters count what arrived; nothing above XDP spends the pod's time).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct xgen_cfg {
	__u32 flows;    /* distinct source ports, from 10000 */
	__u32 out_ifindex; /* the link to the node (xgen_cpu's target) */
	__u32 cpu;      /* the node's CPU: the cpumap key */
	__u32 stop;     /* set by the user: every program drops */
	__u64 deadline_ns; /* bpf_ktime_get_ns() past which every program drops */
};

enum { XGEN_LOOP, XGEN_OFFERED, XGEN_HANDED, XGEN_SINK, XGEN_NCOUNT };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xgen_cfg);
} xgen_cfg SEC(".maps");

/* frames per stage (XGEN_*), per CPU: the user sums them */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XGEN_NCOUNT);
	__type(key, __u32);
	__type(value, __u64);
} xgen_cnt SEC(".maps");

/* the loop's fan-out: xgl0 (round again) and xgh0 (toward the node) */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} xgen_fan SEC(".maps");

/* the hand-off to the node's CPU; the user sets its entry with xgen_cpu as program */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} xgen_cpus SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&xgen_cnt, &what);

	if (c)
		(*c)++;
}

static __always_inline struct xgen_cfg *running(void)
{
	__u32 zero = 0;
	struct xgen_cfg *c = bpf_map_lookup_elem(&xgen_cfg, &zero);

	if (!c || c->stop || bpf_ktime_get_ns() > c->deadline_ns)
		return 0;
	return c;
}

/* The next flow: the source port stepped over cfg->flows ports (TCP checksum kept). */
static __always_inline int next_flow(struct xdp_md *ctx, struct xgen_cfg *c, __u32 n)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__be16 *sport, old, new;

	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return -1;
	sport = (void *)(ip + 1);
	if ((void *)(sport + 1) > data_end)
		return -1;
	old = *sport;
	new = bpf_htons(10000 + (c->flows ? n % c->flows : 0));
	*sport = new;
	if (ip->protocol == 17) { /* UDP: no checksum (IPv4 allows it) */
		struct udphdr *u = (void *)(ip + 1);

		if ((void *)(u + 1) > data_end)
			return -1;
		u->check = 0;
	} else if (ip->protocol == 6) { /* TCP: the checksum follows the port */
		struct tcphdr *t = (void *)(ip + 1);
		__u32 s;

		if ((void *)(t + 1) > data_end)
			return -1;
		s = (__u16)~t->check + (__u16)~old + (__u16)new;
		s = (s & 0xffff) + (s >> 16);
		s = (s & 0xffff) + (s >> 16);
		t->check = (__u16)~s;
	}
	return 0;
}

__u32 loop_n; /* frames through the loop (one CPU runs it) */

SEC("xdp")
int xgen_loop(struct xdp_md *ctx)
{
	struct xgen_cfg *c = running();

	if (!c || next_flow(ctx, c, loop_n++))
		return XDP_DROP;
	count(XGEN_LOOP);
	return bpf_redirect_map(&xgen_fan, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

SEC("xdp")
int xgen_hand(struct xdp_md *ctx)
{
	struct xgen_cfg *c = running();

	(void)ctx;
	if (!c)
		return XDP_DROP;
	count(XGEN_OFFERED);
	return bpf_redirect_map(&xgen_cpus, c->cpu, 0);
}

SEC("xdp/cpumap")
int xgen_cpu(struct xdp_md *ctx)
{
	struct xgen_cfg *c = running();

	(void)ctx;
	if (!c)
		return XDP_DROP;
	count(XGEN_HANDED);
	return bpf_redirect(c->out_ifindex, 0);
}

SEC("xdp")
int xgen_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	/* ARP and the rest pass: the node keeps resolving the pod */
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	count(XGEN_SINK);
	return XDP_DROP;
}
