/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A small packet builder and an independent checksum verifier for datapath tests. */
#ifndef L4S_TEST_PKT_H
#define L4S_TEST_PKT_H

#include <stddef.h>
#include <stdint.h>

struct pkt_spec {
	int v6;            /* IPv6 instead of IPv4 */
	int vlan;          /* add one 802.1Q tag (VID 100) */
	uint8_t proto;     /* IPPROTO_TCP or IPPROTO_UDP (or anything else) */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t tcp_flags; /* default SYN when 0 and proto is TCP */
	int ip_opts;       /* bytes of IPv4 options (multiple of 4, <= 40) */
	int payload;       /* bytes of payload */
	int udp_nocsum;    /* IPv4 UDP without checksum (0) */
	uint16_t frag;     /* IPv4 frag_off field (host order): 0x2000 = MF, low bits offset */
	int v6_exthdr;     /* IPv6: insert one destination-options header */
	uint32_t seq;      /* TCP sequence number (0: 0x01020304) */
	uint32_t ack;      /* TCP acknowledgment number (0: 0x01020305, the default SYN's + 1) */
};

#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_PSH 0x08
#define TCP_F_ACK 0x10

/* Big-endian 16-bit store. */
static inline void pkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Build the frame; returns its length. */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* What a frame says, read independently of the BPF parser: one VLAN tag (802.1Q or
 * 802.1ad), IPv4 with IHL >= 5, IPv6 with a chain of extension headers. ok when the
 * ports could be read. */
struct pkt_info {
	int ok;
	int v6;
	size_t l3, l4;
	int frag;          /* IPv4 MF/offset, or an IPv6 fragment header */
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};
struct pkt_info pkt_info(const uint8_t *buf, size_t len);

/* Recompute the IPv4 header checksum and the TCP/UDP checksum from scratch:
 * returns 1 when both are right (UDP/IPv4 checksum 0 counts as right). */
int pkt_csums_ok(const uint8_t *buf, size_t len);

/* Fix the checksums of a frame in place (to build expected frames). */
void pkt_fix_csums(uint8_t *buf, size_t len);

/* Rewrite address/port (dst when @dst, else src) without touching checksums. */
void pkt_set_addr_port(uint8_t *buf, size_t len, int dst, const char *addr, uint16_t port);

#endif
