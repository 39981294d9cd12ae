// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include "pkt.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x01 }, smac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	size_t off = 0, l3, l4, l4len;
	uint8_t *p;

	memset(buf, 0, cap);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	off = 12;
	if (s->vlan) {
		pkt_put16(buf + off, 0x8100);
		pkt_put16(buf + off + 2, 100);
		off += 4;
	}
	pkt_put16(buf + off, s->v6 ? 0x86dd : 0x0800);
	off += 2;
	l3 = off;
	l4len = (s->proto == IPPROTO_TCP ? 20 : s->proto == IPPROTO_UDP ? 8 : 8) + (size_t)s->payload;
	if (s->v6) {
		p = buf + l3;
		p[0] = 0x60;
		p[6] = s->v6_exthdr ? 60 : s->proto;
		p[7] = 64;
		inet_pton(AF_INET6, s->src, p + 8);
		inet_pton(AF_INET6, s->dst, p + 24);
		l4 = l3 + 40;
		if (s->v6_exthdr) {
			buf[l4] = s->proto; /* next header */
			buf[l4 + 1] = 0;    /* 8 bytes: PadN option fills it */
			buf[l4 + 2] = 1;
			buf[l4 + 3] = 4;
			l4 += 8;
		}
		pkt_put16(p + 4, (uint16_t)(l4 - l3 - 40 + l4len));
	} else {
		p = buf + l3;
		p[0] = (uint8_t)(0x40 | (5 + s->ip_opts / 4));
		p[8] = 64;
		p[9] = s->proto;
		pkt_put16(p + 6, s->frag);
		inet_pton(AF_INET, s->src, p + 12);
		inet_pton(AF_INET, s->dst, p + 16);
		for (int i = 0; i < s->ip_opts; i++)
			p[20 + i] = 1; /* NOP options */
		l4 = l3 + 20 + (size_t)s->ip_opts;
		pkt_put16(p + 2, (uint16_t)(l4 - l3 + l4len));
		pkt_put16(p + 4, 0x1234);
	}
	p = buf + l4;
	pkt_put16(p, s->sport);
	pkt_put16(p + 2, s->dport);
	if (s->proto == IPPROTO_TCP) {
		uint32_t seq = s->seq ? s->seq : 0x01020304;

		uint32_t ack = s->ack ? s->ack : 0x01020305; /* answers the default SYN */

		pkt_put16(p + 4, (uint16_t)(seq >> 16));
		pkt_put16(p + 6, (uint16_t)seq);
		pkt_put16(p + 8, (uint16_t)(ack >> 16));
		pkt_put16(p + 10, (uint16_t)ack);
		p[12] = 5 << 4;
		p[13] = s->tcp_flags ? s->tcp_flags : TCP_F_SYN;
		pkt_put16(p + 14, 64240);
	} else if (s->proto == IPPROTO_UDP) {
		pkt_put16(p + 4, (uint16_t)l4len);
	}
	for (int i = 0; i < s->payload; i++)
		buf[l4 + (s->proto == IPPROTO_TCP ? 20 : 8) + (size_t)i] = (uint8_t)('a' + i % 26);
	off = l4 + l4len;
	pkt_fix_csums(buf, off);
	if (s->udp_nocsum && !s->v6 && s->proto == IPPROTO_UDP)
		pkt_put16(buf + l4 + 6, 0);
	return off;
}

struct pkt_info pkt_info(const uint8_t *buf, size_t len)
{
	struct pkt_info pi = { 0 };
	size_t off = 12;
	uint16_t et;

	if (len < 14)
		return pi;
	et = get16(buf + off);
	off += 2;
	if (et == 0x8100 || et == 0x88a8) { /* one tag, as a NIC without offload shows it */
		if (len < off + 4)
			return pi;
		et = get16(buf + off + 2);
		off += 4;
	}
	pi.l3 = off;
	if (et == 0x0800) {
		if (len < off + 20 || buf[off] >> 4 != 4 || (buf[off] & 0xf) < 5)
			return pi;
		pi.proto = buf[off + 9];
		pi.frag = (get16(buf + off + 6) & 0x3fff) != 0;
		memcpy(pi.src, buf + off + 12, 4);
		memcpy(pi.dst, buf + off + 16, 4);
		pi.l4 = off + (size_t)(buf[off] & 0xf) * 4;
	} else if (et == 0x86dd) {
		uint8_t nh;

		if (len < off + 40 || buf[off] >> 4 != 6)
			return pi;
		pi.v6 = 1;
		nh = buf[off + 6];
		memcpy(pi.src, buf + off + 8, 16);
		memcpy(pi.dst, buf + off + 24, 16);
		pi.l4 = off + 40;
		/* Hop-by-hop, routing, destination options, AH; a fragment header ends it. */
		for (int i = 0; i < 16 && (nh == 0 || nh == 43 || nh == 60 || nh == 51); i++) {
			size_t hl;

			if (len < pi.l4 + 2)
				return pi;
			hl = nh == 51 ? ((size_t)buf[pi.l4 + 1] + 2) * 4 : ((size_t)buf[pi.l4 + 1] + 1) * 8;
			nh = buf[pi.l4];
			pi.l4 += hl;
		}
		if (nh == 44)
			pi.frag = 1;
		pi.proto = nh;
	} else {
		return pi;
	}
	if (len < pi.l4 + 4)
		return pi;
	pi.sport = get16(buf + pi.l4);
	pi.dport = get16(buf + pi.l4 + 2);
	pi.ok = 1;
	return pi;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Checksum over the pseudo header and the L4 segment with its checksum field as is. */
static uint16_t l4_sum(const uint8_t *buf, struct pkt_info *pi, size_t l4len)
{
	uint32_t s = 0;
	size_t alen = pi->v6 ? 16 : 4;

	s = sum16(pi->src, alen, s);
	s = sum16(pi->dst, alen, s);
	s += pi->proto;
	s += (uint32_t)l4len;
	s = sum16(buf + pi->l4, l4len, s);
	return fold(s);
}

/* L4 length from the IP header, or SIZE_MAX when the IP header says less than the
 * headers before L4 take. */
static size_t l4_len(const uint8_t *buf, const struct pkt_info *pi)
{
	size_t ip = pi->v6 ? (size_t)get16(buf + pi->l3 + 4) + 40 : get16(buf + pi->l3 + 2);

	return ip < pi->l4 - pi->l3 ? SIZE_MAX : ip - (pi->l4 - pi->l3);
}

int pkt_csums_ok(const uint8_t *buf, size_t len)
{
	struct pkt_info pi = pkt_info(buf, len);
	size_t l4len;
	size_t csoff;

	if (!pi.ok)
		return 0;
	if (!pi.v6 && fold(sum16(buf + pi.l3, pi.l4 - pi.l3, 0)) != 0xffff)
		return 0;
	l4len = l4_len(buf, &pi);
	if (l4len > len - pi.l4 || l4len < (pi.proto == IPPROTO_TCP ? 20u : 8u))
		return 0;
	csoff = pi.proto == IPPROTO_TCP ? 16 : 6;
	if (pi.proto == IPPROTO_UDP && !pi.v6 && get16(buf + pi.l4 + csoff) == 0)
		return 1;
	return l4_sum(buf, &pi, l4len) == 0xffff;
}

void pkt_fix_csums(uint8_t *buf, size_t len)
{
	struct pkt_info pi = pkt_info(buf, len);
	size_t l4len, csoff;
	uint16_t c;

	if (!pi.ok)
		return;
	if (!pi.v6) {
		pkt_put16(buf + pi.l3 + 10, 0);
		pkt_put16(buf + pi.l3 + 10, (uint16_t)~fold(sum16(buf + pi.l3, pi.l4 - pi.l3, 0)));
	}
	if (pi.proto != IPPROTO_TCP && pi.proto != IPPROTO_UDP)
		return;
	l4len = l4_len(buf, &pi);
	if (l4len > len - pi.l4 || l4len < (pi.proto == IPPROTO_TCP ? 20u : 8u))
		return;
	csoff = pi.proto == IPPROTO_TCP ? 16 : 6;
	pkt_put16(buf + pi.l4 + csoff, 0);
	c = (uint16_t)~l4_sum(buf, &pi, l4len);
	if (pi.proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	pkt_put16(buf + pi.l4 + csoff, c);
}

void pkt_set_addr_port(uint8_t *buf, size_t len, int dst, const char *addr, uint16_t port)
{
	struct pkt_info pi = pkt_info(buf, len);

	if (!pi.ok)
		return;
	if (pi.v6)
		inet_pton(AF_INET6, addr, buf + pi.l3 + (dst ? 24 : 8));
	else
		inet_pton(AF_INET, addr, buf + pi.l3 + (dst ? 16 : 12));
	pkt_put16(buf + pi.l4 + (dst ? 2 : 0), port);
}
