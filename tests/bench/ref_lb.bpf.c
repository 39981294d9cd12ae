// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ref_lb: the bench's reference XDP balancer, a per-CPU LRU design (issue 20 measured
 * l4split against Katran's; Katran is not on the bench machines, so this is our own
 * program of the same shape, for bench_dp.c's side-by-side rows only):
 *  - parse Ethernet, IPv4 (no options, no fragments) or IPv6, TCP or UDP;
 *  - VIP:port/proto in a hash: no match, XDP_PASS untouched;
 *  - a TCP SYN skips the flow lookup; anything else looks the 5-tuple up in a 1M-entry
 *    LRU_HASH created with BPF_F_NO_COMMON_LRU (each CPU evicts from its own list);
 *  - on a miss (or a SYN): the VIP's Maglev ring (65,537 backend indexes) at the flow
 *    hash, and one insert into the LRU;
 *  - a per-CPU counter per backend (packets, bytes);
 *  - IPIP (IPv4) or IP6IP6 (IPv6) encapsulation towards the backend, XDP_TX.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ref_lb.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IP_DF_OFF 0x3fff           /* MF + fragment offset */
#define ETH_ALEN 6

/* VIP:port/proto -> its ring number. Written by the loader, read per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, REF_MAX_VIPS);
	__type(key, struct ref_vip_key);
	__type(value, struct ref_vip);
} ref_vips SEC(".maps");

/* The rings, REF_RING_SIZE backend indexes per VIP. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, REF_MAX_VIPS * REF_RING_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} ref_ring SEC(".maps");

/* Backends by index. Written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, REF_MAX_REALS);
	__type(key, __u32);
	__type(value, struct ref_real);
} ref_reals SEC(".maps");

/* Flows: the backend a 5-tuple was given; an LRU per CPU. Written and read per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, REF_FLOWS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct ref_flow_key);
	__type(value, struct ref_flow);
} ref_flows SEC(".maps");

/* Per-backend counters, per CPU. Written per packet, read by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REF_MAX_REALS);
	__type(key, __u32);
	__type(value, struct ref_stats);
} ref_stats SEC(".maps");

static __always_inline __u32 rol32(__u32 w, int s)
{
	return (w << s) | (w >> (32 - s));
}

/* Bob Jenkins' lookup3 final mix of three words (public domain). */
static __always_inline __u32 mix3(__u32 a, __u32 b, __u32 c)
{
	c ^= b, c -= rol32(b, 14);
	a ^= c, a -= rol32(c, 11);
	b ^= a, b -= rol32(a, 25);
	c ^= b, c -= rol32(b, 16);
	a ^= c, a -= rol32(c, 4);
	b ^= a, b -= rol32(a, 14);
	c ^= b, c -= rol32(b, 24);
	return c;
}

/* The flow hash: client address and both ports (the VIP is fixed by the ring). */
static __always_inline __u32 flow_hash(const struct ref_flow_key *k, int v6)
{
	__u32 ports = ((__u32)k->sport << 16) | k->dport, a = k->src[0];

	if (v6)
		a = mix3(k->src[0] + REF_HASH_SEED, k->src[1], k->src[2] ^ k->src[3]);
	return mix3(a + REF_HASH_SEED, ports + REF_HASH_SEED, REF_HASH_SEED ^ k->proto);
}

/* The IPv4 header checksum of a 20-byte header whose check field is 0. */
static __always_inline __u16 ip4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 s = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Push the outer header for @r in front of the frame; the new Ethernet header takes the
 * old one's addresses, reversed (the bench does not route). */
static __always_inline int encap(struct xdp_md *ctx, const struct ref_real *r, int v6,
				 __u32 inner_len)
{
	int room = v6 ? (int)sizeof(struct ipv6hdr) : (int)sizeof(struct iphdr);
	void *data, *data_end;
	struct ethhdr *neth, *oeth;

	if (bpf_xdp_adjust_head(ctx, -room))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	neth = data;
	oeth = data + room;
	if ((void *)(oeth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(neth->h_dest, oeth->h_source, ETH_ALEN);
	__builtin_memcpy(neth->h_source, oeth->h_dest, ETH_ALEN);
	if (v6) {
		struct ipv6hdr *o = (void *)(neth + 1);

		if ((void *)(o + 1) > data_end)
			return XDP_DROP;
		neth->h_proto = bpf_htons(ETH_P_IPV6);
		*(__u32 *)o = bpf_htonl(0x60000000);
		o->payload_len = bpf_htons((__u16)inner_len);
		o->nexthdr = IPPROTO_IPV6;
		o->hop_limit = 64;
		o->saddr.in6_u.u6_addr32[0] = bpf_htonl(0xfd000255);
		o->saddr.in6_u.u6_addr32[1] = 0;
		o->saddr.in6_u.u6_addr32[2] = 0;
		o->saddr.in6_u.u6_addr32[3] = bpf_htonl(1);
		__builtin_memcpy(&o->daddr, r->addr, 16);
	} else {
		struct iphdr *o = (void *)(neth + 1);

		if ((void *)(o + 1) > data_end)
			return XDP_DROP;
		neth->h_proto = bpf_htons(ETH_P_IP);
		o->version = 4;
		o->ihl = 5;
		o->tos = 0;
		o->tot_len = bpf_htons((__u16)(inner_len + sizeof(*o)));
		o->id = 0;
		o->frag_off = 0;
		o->ttl = 64;
		o->protocol = IPPROTO_IPIP;
		o->check = 0;
		o->saddr = bpf_htonl(REF_SRC4);
		o->daddr = r->addr[0];
		o->check = ip4_csum(o);
	}
	return XDP_TX;
}

SEC("xdp")
int ref_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ref_flow_key fk = {};
	struct ref_vip_key vk = {};
	struct ref_flow *f = NULL;
	struct ref_vip *vip;
	struct ref_real *r;
	struct ref_stats *st;
	__u32 off, inner_len, real, v6, syn = 0;
	__u8 l4;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl != 5 || (ip->frag_off & bpf_htons(IP_DF_OFF)))
			return XDP_PASS;
		l4 = ip->protocol;
		fk.src[0] = ip->saddr;
		fk.dst[0] = ip->daddr;
		inner_len = bpf_ntohs(ip->tot_len);
		off = sizeof(*eth) + sizeof(*ip);
		v6 = 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		l4 = ip6->nexthdr;
		__builtin_memcpy(fk.src, &ip6->saddr, 16);
		__builtin_memcpy(fk.dst, &ip6->daddr, 16);
		inner_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		off = sizeof(*eth) + sizeof(*ip6);
		v6 = 1;
	} else {
		return XDP_PASS;
	}
	if (l4 == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		fk.sport = th->source;
		fk.dport = th->dest;
		syn = th->syn;
	} else if (l4 == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		fk.sport = uh->source;
		fk.dport = uh->dest;
	} else {
		return XDP_PASS;
	}
	fk.proto = l4;
	__builtin_memcpy(vk.addr, fk.dst, 16);
	vk.port = fk.dport;
	vk.proto = l4;
	vip = bpf_map_lookup_elem(&ref_vips, &vk);
	if (!vip)
		return XDP_PASS;

	if (!syn)
		f = bpf_map_lookup_elem(&ref_flows, &fk);
	if (f) {
		real = f->real;
	} else {
		__u32 slot = vip->num * REF_RING_SIZE + flow_hash(&fk, v6) % REF_RING_SIZE;
		struct ref_flow nf = {};
		__u32 *p = bpf_map_lookup_elem(&ref_ring, &slot);

		if (!p)
			return XDP_DROP;
		real = *p;
		nf.real = real;
		if (l4 == IPPROTO_UDP)
			nf.atime = bpf_ktime_get_ns();
		bpf_map_update_elem(&ref_flows, &fk, &nf, BPF_ANY);
	}
	r = bpf_map_lookup_elem(&ref_reals, &real);
	if (!r)
		return XDP_DROP;
	st = bpf_map_lookup_elem(&ref_stats, &real);
	if (st) {
		st->packets++;
		st->bytes += (__u64)(data_end - data);
	}
	return encap(ctx, r, v6, inner_len);
}
