/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bench's reference balancer (tests/bench/ref_lb.bpf.c), shared by the BPF side and
 * its loader in bench_dp.c: the per-CPU LRU design issue 20 measures l4split against
 * (a SYN skips the flow lookup, one insert into an LRU kept per CPU, a Maglev ring of
 * 65,537 slots per VIP, IPIP / IP6IP6 encapsulation). Bench code only; include-free
 * (the includer brings __u32 and friends).
 */
#ifndef L4S_BENCH_REF_LB_H
#define L4S_BENCH_REF_LB_H

#define REF_RING_SIZE 65537    /* slots per VIP (a prime, as Katran's default) */
#define REF_MAX_VIPS 4
#define REF_MAX_REALS 16
#define REF_FLOWS (1u << 20)   /* LRU entries (split per CPU: BPF_F_NO_COMMON_LRU) */
#define REF_HASH_SEED 0x2d31e867u

/* VIP:port/proto; an IPv4 address in addr[0], the rest 0. */
struct ref_vip_key {
	__u32 addr[4];
	__u16 port;                /* network order */
	__u8 proto;
	__u8 pad;
};

struct ref_vip {
	__u32 num;                 /* which ring: slots [num * REF_RING_SIZE, +REF_RING_SIZE) */
};

/* The 5-tuple; IPv4 addresses in src[0] / dst[0]. */
struct ref_flow_key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport, dport;        /* network order */
	__u8 proto;
	__u8 pad[3];
};

struct ref_flow {
	__u32 real;                /* index into ref_reals */
	__u32 pad;
	__u64 atime;               /* UDP only: last packet, ns */
};

struct ref_real {
	__u32 addr[4];             /* the outer destination; IPv4 in addr[0] */
	__u32 v6;
};

struct ref_stats {
	__u64 packets, bytes;
};

/* The outer IPv4 source of the encapsulation, host order (10.255.0.1); IPv6: fd00:255::1. */
#define REF_SRC4 0x0aff0001u

#endif
