// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "fuzzpkt.h"
#include "pkt.h"

uint64_t fz_next(struct fz_rng *r)
{
	/* xorshift64*: fast, and one seed replays a whole run */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

int fz_ep_parse(const char *s, struct fz_ep *e)
{
	char host[64];
	const char *colon, *slash = strrchr(s, '/');

	memset(e, 0, sizeof(*e));
	if (!slash)
		return -1;
	e->proto = !strcmp(slash + 1, "tcp") ? IPPROTO_TCP : !strcmp(slash + 1, "udp") ? IPPROTO_UDP : 0;
	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (!colon || (size_t)(colon - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(colon - s - 1));
		host[colon - s - 1] = 0;
		colon++;
		e->v6 = 1;
	} else {
		colon = strchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	e->port = (uint16_t)atoi(colon + 1);
	if (inet_pton(e->v6 ? AF_INET6 : AF_INET, host, e->addr) != 1 || !e->proto)
		return -1;
	return 0;
}

static uint8_t tcp_flags(struct fz_rng *r)
{
	static const uint8_t common[] = { TCP_F_SYN, TCP_F_ACK, TCP_F_PSH | TCP_F_ACK,
					  TCP_F_FIN | TCP_F_ACK, TCP_F_RST, TCP_F_RST | TCP_F_ACK,
					  TCP_F_SYN | TCP_F_ACK };

	return fz_below(r, 4) ? common[fz_below(r, sizeof(common))] : (uint8_t)fz_next(r);
}

static uint16_t port(struct fz_rng *r)
{
	switch (fz_below(r, 16)) {
	case 0: return 0;
	case 1: return 65535;
	default: return (uint16_t)(1024 + fz_below(r, 64512));
	}
}

size_t fz_frame(struct fz_rng *r, const struct fz_ep *src, const struct fz_ep *dst, uint8_t *buf,
		size_t cap)
{
	static const uint8_t ext_types[] = { 0, 43, 60, 51, 60, 0, 44 };
	size_t off = 12, l3, l4, l4len, hlen, payload, topt = 0;
	uint8_t proto = dst->proto, *p;
	uint32_t ntags = fz_below(r, 8) < 6 ? 0 : 1 + fz_below(r, 3);

	if (cap < 1600)
		return 0;
	memset(buf, 0, cap);
	for (int i = 0; i < 12; i++)
		buf[i] = (uint8_t)(i < 6 ? (i ? 0 : 2) : (i == 6 ? 2 : fz_next(r)));
	for (uint32_t i = 0; i < ntags; i++, off += 4) {
		pkt_put16(buf + off, fz_below(r, 2) ? 0x8100 : 0x88a8);
		pkt_put16(buf + off + 2, (uint16_t)fz_below(r, 4096));
	}
	pkt_put16(buf + off, dst->v6 ? 0x86dd : 0x0800);
	l3 = off + 2;
	if (proto == IPPROTO_TCP)
		topt = 4 * fz_below(r, 11);
	payload = fz_below(r, 4) ? fz_below(r, 64) : fz_below(r, 1300);
	hlen = proto == IPPROTO_TCP ? 20 + topt : 8;
	l4len = hlen + payload;
	p = buf + l3;
	if (dst->v6) {
		uint32_t next = fz_below(r, 4) ? 0 : fz_below(r, 7);
		uint8_t *nhp = p + 6;

		p[0] = 0x60;
		p[7] = 64;
		memcpy(p + 8, src->addr, 16);
		memcpy(p + 24, dst->addr, 16);
		l4 = l3 + 40;
		for (uint32_t i = 0; i < next; i++) {
			uint8_t t = ext_types[fz_below(r, sizeof(ext_types))];
			size_t el;

			*nhp = t;
			nhp = buf + l4;
			if (t == 51) {
				buf[l4 + 1] = (uint8_t)(1 + fz_below(r, 4));
				el = ((size_t)buf[l4 + 1] + 2) * 4;
			} else if (t == 44) {
				pkt_put16(buf + l4 + 2, (uint16_t)(fz_below(r, 2) ? 1 : 8 << 3)); /* MF or an offset */
				el = 8;
			} else {
				buf[l4 + 1] = (uint8_t)fz_below(r, 3);
				el = ((size_t)buf[l4 + 1] + 1) * 8;
				buf[l4 + 2] = 1; /* PadN covering the rest */
				buf[l4 + 3] = (uint8_t)(el - 4);
			}
			l4 += el;
		}
		*nhp = proto;
		pkt_put16(p + 4, (uint16_t)(l4 - l3 - 40 + l4len));
	} else {
		size_t opts = fz_below(r, 4) ? 0 : 4 * fz_below(r, 11);

		p[0] = (uint8_t)(0x40 | (5 + opts / 4));
		p[8] = 64;
		p[9] = proto;
		pkt_put16(p + 4, (uint16_t)fz_next(r));
		pkt_put16(p + 6, fz_below(r, 8) ? (fz_below(r, 2) ? 0x4000 : 0) : (uint16_t)fz_next(r));
		memcpy(p + 12, src->addr, 4);
		memcpy(p + 16, dst->addr, 4);
		memset(p + 20, 1, opts); /* NOP options */
		l4 = l3 + 20 + opts;
		pkt_put16(p + 2, (uint16_t)(l4 - l3 + l4len));
	}
	p = buf + l4;
	pkt_put16(p, src->port);
	pkt_put16(p + 2, dst->port);
	if (proto == IPPROTO_TCP) {
		pkt_put16(p + 4, (uint16_t)fz_next(r));
		pkt_put16(p + 6, (uint16_t)fz_next(r));
		p[12] = (uint8_t)((5 + topt / 4) << 4);
		p[13] = tcp_flags(r);
		pkt_put16(p + 14, 64240);
		memset(p + 20, 1, topt); /* NOP options */
	} else {
		pkt_put16(p + 4, (uint16_t)l4len);
	}
	for (size_t i = 0; i < payload; i++)
		p[hlen + i] = (uint8_t)fz_next(r);
	off = l4 + l4len;
	pkt_fix_csums(buf, off);
	if (!dst->v6 && proto == IPPROTO_UDP && !fz_below(r, 8))
		pkt_put16(p + 6, 0); /* IPv4 UDP without a checksum */
	return off;
}

size_t fz_forward(struct fz_rng *r, const struct fz_targets *t, uint8_t *buf, size_t cap)
{
	struct fz_ep src, dst = t->fe[fz_below(r, (uint32_t)t->nfe)];
	uint32_t pick = fz_below(r, 10);

	if (pick == 7) { /* the VIP on a port no service uses */
		dst.port = port(r);
	} else if (pick == 8 && t->nbe) { /* straight to a backend */
		uint8_t proto = dst.proto;

		dst = t->be[fz_below(r, (uint32_t)t->nbe)];
		dst.proto = proto;
	} else if (pick == 9) { /* anywhere else */
		for (int i = 0; i < 16; i++)
			dst.addr[i] = (uint8_t)fz_next(r);
		dst.port = port(r);
	} else if (pick == 6) {
		dst.proto = fz_below(r, 2) ? IPPROTO_TCP : IPPROTO_UDP;
	}
	memset(&src, 0, sizeof(src));
	src.v6 = dst.v6;
	if (dst.v6) {
		static const uint8_t pfx[] = { 0xfd, 0, 0, 9 };

		memcpy(src.addr, pfx, sizeof(pfx));
		src.addr[14] = (uint8_t)fz_below(r, 4);
		src.addr[15] = (uint8_t)fz_next(r);
	} else {
		src.addr[0] = 10;
		src.addr[1] = 9;
		src.addr[2] = (uint8_t)fz_below(r, 4);
		src.addr[3] = (uint8_t)fz_next(r);
	}
	src.port = port(r);
	return fz_frame(r, &src, &dst, buf, cap);
}

/* Offset of the L3 header behind any number of VLAN tags, and its ethertype. */
static size_t l3_of(const uint8_t *buf, size_t len, uint16_t *et)
{
	size_t off = 12;

	*et = 0;
	while (off + 2 <= len) {
		*et = (uint16_t)(buf[off] << 8 | buf[off + 1]);
		if (*et != 0x8100 && *et != 0x88a8)
			return off + 2;
		off += 4;
	}
	return 0;
}

size_t fz_mutate(struct fz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const uint16_t ethertypes[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x8847 };
	static const uint8_t nexthdrs[] = { 0, 43, 60, 51, 44, 6, 17, 58, 59, 255 };
	uint32_t n = fz_below(r, 4);

	for (uint32_t m = 0; m < n; m++) {
		uint16_t et;
		size_t l3 = l3_of(buf, len, &et);
		struct pkt_info pi = pkt_info(buf, len);
		int v4 = et == 0x0800 && l3 + 20 <= len, v6 = et == 0x86dd && l3 + 40 <= len;

		switch (fz_below(r, 12)) {
		case 0: /* truncate */
			len = fz_below(r, (uint32_t)len + 1);
			break;
		case 1: /* any byte of the headers */
			if (len)
				buf[fz_below(r, (uint32_t)(len < 160 ? len : 160))] = (uint8_t)fz_next(r);
			break;
		case 2: /* a bit of the headers */
			if (len)
				buf[fz_below(r, (uint32_t)(len < 100 ? len : 100))] ^= (uint8_t)(1u << fz_below(r, 8));
			break;
		case 3: /* IHL, including < 5 */
			if (v4)
				buf[l3] = (uint8_t)((buf[l3] & 0xf0) | fz_below(r, 16));
			break;
		case 4: /* IP total / payload length: random or off by a little */
			if (v4 || v6) {
				uint8_t *f = buf + l3 + (v4 ? 2 : 4);
				uint16_t cur = (uint16_t)(f[0] << 8 | f[1]);

				pkt_put16(f, fz_below(r, 2) ? (uint16_t)fz_next(r) : (uint16_t)(cur + fz_below(r, 9) - 4));
			}
			break;
		case 5: /* TCP data offset, including past the end */
			if (pi.ok && pi.proto == IPPROTO_TCP && pi.l4 + 13 <= len)
				buf[pi.l4 + 12] = (uint8_t)(fz_below(r, 16) << 4 | (buf[pi.l4 + 12] & 0xf));
			break;
		case 6: /* UDP length */
			if (pi.ok && pi.l4 + 6 <= len)
				pkt_put16(buf + pi.l4 + 4, fz_below(r, 2) ? (uint16_t)fz_next(r) : (uint16_t)fz_below(r, 8));
			break;
		case 7: /* ethertype */
			if (l3 >= 2)
				pkt_put16(buf + l3 - 2, fz_below(r, 8) ? ethertypes[fz_below(r, sizeof(ethertypes) / 2)]
								   : (uint16_t)fz_next(r));
			break;
		case 8: { /* trailing bytes past the IP length (Ethernet padding, or junk) */
			size_t add = fz_below(r, 64);

			for (size_t i = 0; i < add && len < cap; i++)
				buf[len++] = (uint8_t)fz_next(r);
			break;
		}
		case 9: /* fragment bits */
			if (v4)
				pkt_put16(buf + l3 + 6, (uint16_t)fz_next(r));
			break;
		case 10: /* ports 0 and 65535 */
			if (pi.ok)
				pkt_put16(buf + pi.l4 + 2 * fz_below(r, 2), fz_below(r, 2) ? 0 : 65535);
			break;
		default: /* IPv6 next header */
			if (v6)
				buf[l3 + 6] = nexthdrs[fz_below(r, sizeof(nexthdrs))];
			break;
		}
	}
	if (n && fz_below(r, 2))
		pkt_fix_csums(buf, len);
	return len;
}
