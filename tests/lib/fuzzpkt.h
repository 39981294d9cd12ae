/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Random and mutated frames for the datapath fuzz test (tests/datapath/dpfuzz.c) and
 * for the spray in the netns lab (l4s-traffic spray): well-formed frames to services,
 * non-services and replies, then broken the ways real networks and attackers break
 * them (truncations, bad lengths, IHL < 5, IPv6 extension header chains, VLAN
 * stacks, TCP data offsets past the end, ports 0 and 65535).
 */
#ifndef L4S_TEST_FUZZPKT_H
#define L4S_TEST_FUZZPKT_H

#include <stddef.h>
#include <stdint.h>

/* One address:port/proto the generator aims at. */
struct fz_ep {
	int v6;
	uint8_t addr[16];
	uint16_t port;
	uint8_t proto;
};

struct fz_rng {
	uint64_t s;
};

uint64_t fz_next(struct fz_rng *r);
static inline uint32_t fz_below(struct fz_rng *r, uint32_t n)
{
	return n ? (uint32_t)(fz_next(r) % n) : 0;
}

/* Parse "10.96.0.10:80/tcp" or "[fd00::1]:53/udp" into @e; 0 on success. */
int fz_ep_parse(const char *s, struct fz_ep *e);

/* What the generator may aim at: frontends (to services), backends (replies come from
 * them), clients (sources of forward traffic). */
struct fz_targets {
	const struct fz_ep *fe;
	int nfe;
	const struct fz_ep *be;
	int nbe;
};

/* A well-formed frame from @src to @dst (ports and proto of @src are used as the
 * source side; @dst->proto picks TCP or UDP), with random VLAN tags, IPv4 options,
 * IPv6 extension headers, TCP flags and options and payload. Returns its length. */
size_t fz_frame(struct fz_rng *r, const struct fz_ep *src, const struct fz_ep *dst, uint8_t *buf,
		size_t cap);

/* A random forward frame: to a frontend, a frontend address on another port, a
 * backend, or elsewhere, from a random client. */
size_t fz_forward(struct fz_rng *r, const struct fz_targets *t, uint8_t *buf, size_t cap);

/* Break @buf in 0..3 random ways (may change its length); with probability 1/2 the
 * checksums are made right again afterwards. Returns the new length. */
size_t fz_mutate(struct fz_rng *r, uint8_t *buf, size_t len, size_t cap);

#endif
