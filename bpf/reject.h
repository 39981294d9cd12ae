/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reject instead of silence (as kube-proxy's REJECT rule and Cilium's "no service
 * backend" reply): a new flow to a service with no backend of weight > 0 is answered,
 * out of the device it came in on, so the client fails at once instead of waiting for
 * its timeout:
 *   - a TCP SYN gets a RST|ACK from VIP:port (seq 0, ack = its seq + 1 + payload);
 *   - a UDP datagram without a flow entry gets an ICMP port unreachable (v4 type 3
 *     code 3, v6 type 1 code 4) from the VIP, quoting the datagram from its IP header
 *     on: as much as fits in 576 bytes (IPv4, RFC 1812 4.3.2.3) or 1280 (IPv6, RFC
 *     4443 2.4), cut to a multiple of 4 bytes (never less than the IPv4 header and 8
 *     bytes, which is what RFC 792 asks).
 * Not a reflector: a RST is never longer than the SYN it answers, an ICMP error is at
 * most 28 (IPv4) / 48 (IPv6) bytes longer than the datagram, and none is sent for a
 * source that cannot be a unicast host (0.0.0.0, multicast, broadcast-class, ::). No
 * rate limit, as kube-proxy has none here; the drop counters count every one.
 *
 * The frame is rebuilt in place: the L2 header (VLAN tag kept) with the MACs swapped,
 * a fresh IP header without options or extension headers (TTL 64), then TCP or ICMP,
 * checksums computed in full. XDP sends it with XDP_TX; tc grows or trims the skb
 * with bpf_skb_change_head/tail and redirects it to the egress of its device.
 */
#ifndef L4S_REJECT_H
#define L4S_REJECT_H

#include "hook.h"

#define L4S_REJECT_TTL       64
#define L4S_ICMP4_QUOTE_MAX  (576 - 20 - 8)
#define L4S_ICMP6_QUOTE_MAX  (1280 - 40 - 8)
#define L4S_QUOTE_WORDS_MAX  (L4S_ICMP6_QUOTE_MAX / 4)
#define L4S_TC_ACT_REDIRECT  7
#define L4S_IPPROTO_ICMP_    1
#define L4S_IPPROTO_ICMPV6_  58

/* Sum of @n 16-bit words (a constant) at @p, for a checksum. */
static __always_inline __u64 csum_words16(__u64 acc, const void *p, int n)
{
	const __u16 *w = p;

#pragma unroll
	for (int i = 0; i < n; i++)
		acc += w[i];
	return acc;
}

/* The pseudo header's address part: source and destination of @family. */
static __always_inline __u64 csum_addrs(__u64 acc, const struct l4s_addr *s,
					const struct l4s_addr *d, int v6)
{
	acc += s->addr[0] + (__u64)d->addr[0];
	if (v6)
		acc += (__u64)s->addr[1] + s->addr[2] + s->addr[3] + d->addr[1] + d->addr[2] +
		       d->addr[3];
	return acc;
}

/* May a packet from @a be answered? Not from ::, 0.0.0.0, multicast or class E. */
static __always_inline int reject_src_ok(const struct l4s_addr *a, int v6)
{
	__u8 first = ((const __u8 *)a->addr)[0];

	if (v6)
		return first != 0xff && (a->addr[0] | a->addr[1] | a->addr[2] | a->addr[3]);
	return first != 0 && first < 224;
}

/*
 * p->l3_off, as the parser sets it (bpf/parse.h: 14, or 18 after a VLAN tag), in a form
 * every verifier bounds: clang may spill p->l3_off before its range check and use that
 * copy after it, and verifiers before Linux 6.x then see an offset of up to 4 GiB that
 * no packet check can cover ("R3 offset is outside of the packet" on 5.10 and 6.1).
 */
#define L3_OFF(p) ((p)->vlan ? 18u : 14u)

/* Write the L2 header at @to from the one at @from (@l2 bytes: 14, or 18 with a VLAN
 * tag), source and destination MACs swapped. @to <= @from; they may overlap. */
static __always_inline int reject_l2(__u8 *to, const __u8 *from, void *data_end, int vlan)
{
	__u8 hdr[18];

	if ((void *)from + 18 > data_end)
		return -1;
	__builtin_memcpy(hdr, from + 6, 6);
	__builtin_memcpy(hdr + 6, from, 6);
	if (vlan) {
		__builtin_memcpy(hdr + 12, from + 12, 6);
		__builtin_memcpy(to, hdr, 18);
	} else {
		__builtin_memcpy(hdr + 12, from + 12, 2);
		__builtin_memcpy(to, hdr, 14);
	}
	return 0;
}

/* A fresh IP header at @ip, from @s to @d, carrying @l4len bytes of @proto. Returns the
 * pseudo-header sum for the L4 checksum (ICMPv4 has none: 0). */
static __always_inline __u64 reject_ip(void *ip, const struct l4s_addr *s,
				       const struct l4s_addr *d, int v6, __u8 proto,
				       __u16 l4len)
{
	if (v6) {
		struct ipv6hdr h = {};

		*(__be32 *)&h = bpf_htonl(0x60000000);
		h.payload_len = bpf_htons(l4len);
		h.nexthdr = proto;
		h.hop_limit = L4S_REJECT_TTL;
		__builtin_memcpy(&h.saddr, s->addr, 16);
		__builtin_memcpy(&h.daddr, d->addr, 16);
		__builtin_memcpy(ip, &h, sizeof(h));
		return csum_addrs(0, s, d, 1) + bpf_htons(l4len) + bpf_htons(proto);
	} else {
		struct iphdr h = {};

		h.version = 4;
		h.ihl = 5;
		h.tot_len = bpf_htons(20 + l4len);
		h.frag_off = bpf_htons(0x4000); /* DF */
		h.ttl = L4S_REJECT_TTL;
		h.protocol = proto;
		h.saddr = s->addr[0];
		h.daddr = d->addr[0];
		h.check = csum_finish(csum_words16(0, &h, 10));
		__builtin_memcpy(ip, &h, sizeof(h));
		if (proto == L4S_IPPROTO_ICMP_)
			return 0;
		return csum_addrs(0, s, d, 0) + bpf_htons(l4len) + bpf_htons(proto);
	}
}

/*
 * TCP: the SYN parsed in @p becomes a RST|ACK back to the client, in place; the frame's
 * new length in @new_len. 0, or -1 when it cannot be (the caller drops it).
 */
static __always_inline int reject_tcp(void *data, void *data_end, const struct l4s_pkt *p,
				      __u32 *new_len)
{
	int v6 = p->key.family == L4S_AF_INET6;
	__u32 l3 = L3_OFF(p), l4 = p->l4_off, iplen, seglen, iph = v6 ? 40 : 20;
	struct tcphdr t = {};
	struct tcphdr *th;
	void *ip;
	__u64 acc;

	if (l3 > 18 || l4 > L4S_MAX_L4_OFF)
		return -1;
	th = data + l4;
	if ((void *)(th + 1) > data_end)
		return -1;
	if (v6) {
		struct ipv6hdr *h = data + l3;

		if ((void *)(h + 1) > data_end)
			return -1;
		iplen = 40 + bpf_ntohs(h->payload_len);
	} else {
		struct iphdr *h = data + l3;

		if ((void *)(h + 1) > data_end)
			return -1;
		iplen = bpf_ntohs(h->tot_len);
	}
	seglen = iplen - (l4 - l3);
	if (iplen < l4 - l3 + th->doff * 4)
		return -1;
	t.source = p->key.dport;
	t.dest = p->key.sport;
	/* RFC 793, reset generation for a segment without ACK: seq 0, ack = SEG.SEQ +
	 * SEG.LEN (the SYN, a FIN and the payload each count). */
	t.ack_seq = bpf_htonl(bpf_ntohl(p->seq) + seglen - th->doff * 4 + 1 +
			      (p->tcp_flags & TCP_FLAG_FIN ? 1 : 0));
	((__u8 *)&t)[12] = 5 << 4;
	((__u8 *)&t)[13] = TCP_FLAG_RST | TCP_FLAG_ACK;

	if (reject_l2(data, data, data_end, p->vlan))
		return -1;
	ip = data + l3;
	if (v6) {
		if (ip + 60 > data_end)
			return -1;
		acc = reject_ip(ip, &p->key.dst, &p->key.src, 1, IPPROTO_TCP_, 20);
		t.check = csum_finish(csum_words16(acc, &t, 10));
		__builtin_memcpy(ip + 40, &t, 20);
	} else {
		if (ip + 40 > data_end)
			return -1;
		acc = reject_ip(ip, &p->key.dst, &p->key.src, 0, IPPROTO_TCP_, 20);
		t.check = csum_finish(csum_words16(acc, &t, 10));
		__builtin_memcpy(ip + 20, &t, 20);
	}
	*new_len = l3 + iph + 20;
	return 0;
}

/*
 * UDP: the frame has already been given @delta = IP + ICMP header bytes of room at its
 * front and cut to the L2 header + @qlen bytes of quote: write the L2 header, the IP
 * and ICMP headers, and the ICMP checksum over the quote. 0 or -1.
 */
static __always_inline int reject_icmp_fill(void *data, void *data_end, const struct l4s_pkt *p,
					    __u32 qlen)
{
	int v6 = p->key.family == L4S_AF_INET6;
	__u32 l3 = L3_OFF(p), delta = v6 ? 48 : 28, n = qlen / 4;
	__u32 icmp[2] = {};
	void *ip;
	__u8 *q;
	__u64 acc;

	if (l3 > 18 || data + 18 + 48 > data_end)
		return -1;
	if (reject_l2(data, data + delta, data_end, p->vlan))
		return -1;
	ip = data + l3;
	if (ip + 48 > data_end)
		return -1;
	if (v6) {
		acc = reject_ip(ip, &p->key.dst, &p->key.src, 1, L4S_IPPROTO_ICMPV6_, 8 + qlen);
		((__u8 *)icmp)[0] = 1; /* destination unreachable */
		((__u8 *)icmp)[1] = 4; /* port unreachable */
	} else {
		acc = reject_ip(ip, &p->key.dst, &p->key.src, 0, L4S_IPPROTO_ICMP_, 8 + qlen);
		((__u8 *)icmp)[0] = 3; /* destination unreachable */
		((__u8 *)icmp)[1] = 3; /* port unreachable */
	}
	acc += icmp[0];
	q = ip + delta;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < L4S_QUOTE_WORDS_MAX; i++) {
		__u32 *w;

		if (i >= n)
			break;
		w = (void *)(q + i * 4);
		/* Keep clang from folding the check into arithmetic on data_end, which
		 * the verifier refuses. */
		asm volatile("" : "+r"(w));
		if ((void *)(w + 1) > data_end)
			return -1;
		acc += *w;
	}
	((__u16 *)icmp)[1] = csum_finish(acc);
	if (v6)
		__builtin_memcpy(ip + 40, icmp, 8);
	else
		__builtin_memcpy(ip + 20, icmp, 8);
	return 0;
}

/* The quote of the UDP datagram parsed in @p: its IP length, cut as the RFCs want. */
static __always_inline __u32 reject_qlen(void *data, void *data_end, const struct l4s_pkt *p)
{
	__u32 len, max;

	if (p->l3_off > 18)
		return 0;
	if (p->key.family == L4S_AF_INET6) {
		struct ipv6hdr *h = data + p->l3_off;

		if ((void *)(h + 1) > data_end)
			return 0;
		len = 40 + bpf_ntohs(h->payload_len);
		max = L4S_ICMP6_QUOTE_MAX;
	} else {
		struct iphdr *h = data + p->l3_off;

		if ((void *)(h + 1) > data_end)
			return 0;
		len = bpf_ntohs(h->tot_len);
		max = L4S_ICMP4_QUOTE_MAX;
	}
	if (len > max)
		len = max;
	return len & ~3u;
}

/*
 * Answer the new flow parsed in @p (a TCP SYN or a UDP datagram) that has no backend:
 * the hook's verdict (XDP_TX, or a redirect to the device's egress), or -1 when it
 * could not be built; the frame may have changed then, and the caller drops it.
 */
static __always_inline int reject_send(void *ctx, int hook, const struct l4s_pkt *p)
{
	int v6 = p->key.family == L4S_AF_INET6;
	__u32 delta = v6 ? 48 : 28, len, qlen;
	void *data, *data_end;

	if (!reject_src_ok(&p->key.src, v6))
		return -1;
	data = hook_data(ctx, hook);
	data_end = hook_data_end(ctx, hook);
	len = hook_len(ctx, hook);
	if (p->key.proto == IPPROTO_TCP_) {
		__u32 new_len;

		if (reject_tcp(data, data_end, p, &new_len) || new_len > len)
			return -1;
		if (hook == HOOK_TC) {
			if (bpf_skb_change_tail(ctx, new_len, 0))
				return -1;
		} else if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)len)) {
			return -1;
		}
	} else {
		qlen = reject_qlen(data, data_end, p);
		if (qlen < 28 || p->l3_off + qlen > len)
			return -1;
		if (hook == HOOK_TC) {
			if (bpf_skb_change_tail(ctx, p->l3_off + qlen, 0) ||
			    bpf_skb_change_head(ctx, delta, 0) ||
			    bpf_skb_pull_data(ctx, p->l3_off + delta + qlen))
				return -1;
		} else if (bpf_xdp_adjust_tail(ctx, (int)(p->l3_off + qlen) - (int)len) ||
			   bpf_xdp_adjust_head(ctx, -(int)delta)) {
			return -1;
		}
		if (reject_icmp_fill(hook_data(ctx, hook), hook_data_end(ctx, hook), p, qlen))
			return -1;
	}
	if (hook == HOOK_TC)
		return bpf_redirect(((struct __sk_buff *)ctx)->ifindex, 0);
	return XDP_TX;
}

#endif
