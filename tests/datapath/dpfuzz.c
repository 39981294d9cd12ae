// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Datapath fuzz test: random and mutated frames (tests/lib/fuzzpkt.c) through the real
 * XDP, tc forward and tc reply programs via BPF_PROG_TEST_RUN, with services, backends
 * and live flows configured. For every frame the kernel accepts:
 *   - a frame that is changed was addressed to a service (forward programs) or came
 *     from one of its backends (reply program); only the destination (source)
 *     address and port and the checksums changed, to a backend of that service (to
 *     the service's VIP:port); checksums that were right stay right;
 *   - a dropped frame was addressed to a service and raised exactly one drop reason
 *     counter; a frame that was not dropped raised none; a frame that is not IP is
 *     counted as such.
 * Usage: dpfuzz [--seconds N] [--seed S]. Prints TAP; exit 1 on any violation, with
 * the seed and the frame so the run can be replayed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "cmd.h"
#include "fuzzpkt.h"
#include "pkt.h"
#include "state.h"
#include "l4split.skel.h"

enum { P_XDP, P_TCFWD, P_TCREPLY, P_N };
static const char *const prog_name[P_N] = { "xdp", "tc-forward", "tc-reply" };

/* The services of the run, as the oracle knows them: frontends and backends tagged
 * with the index of their service. */
struct svc_def {
	const char *name, *fe, *flags;
	const char *be[4];
	const char *weights;
};
static const struct svc_def svcs[] = {
	{ "web4", "10.96.0.10:80/tcp", "", { "10.1.0.1:8080", "10.1.0.2:8080" }, "old=1 new=1" },
	{ "dns4", "10.96.0.10:53/udp", "", { "10.1.0.1:5353", "10.1.0.2:5353" }, "old=3 new=1" },
	{ "web6", "[fd00:96::10]:80/tcp", "", { "[fd00:1::1]:8080", "[fd00:1::2]:8080" }, "old=1 new=1" },
	{ "dns6", "[fd00:96::10]:53/udp", "", { "[fd00:1::1]:5353", "[fd00:1::2]:5353" }, "old=1 new=9" },
	{ "aff", "10.96.0.11:80/tcp", "--affinity client-ip",
	  { "10.2.0.1:80", "10.2.0.2:80", "10.2.0.3:80", "10.2.0.4:80" }, NULL },
	{ "zero", "10.96.0.12:80/tcp", "", { "10.3.0.1:80" }, "old=0" },
	{ "edge", "10.96.0.13:65535/udp", "", { "10.4.0.1:1" }, NULL },
};
#define NSVC (int)(sizeof(svcs) / sizeof(svcs[0]))

static struct fz_ep fe[NSVC], be[NSVC * 4];
static int fe_svc[NSVC], be_svc[NSVC * 4], nbe;

/* Replies need live flows: the forward frames the programs rewrote, remembered. */
struct flow_rec {
	struct fz_ep client, backend;
};
#define RING 4096
static struct flow_rec ring[RING];
static unsigned ring_n;

static char pin_dir[] = "/run/l4s-fuzz-XXXXXX";
static struct l4s_state st;
static struct l4split_bpf *skel;
static int prog_fd[P_N];
static uint64_t seed;
static unsigned long violations;

static int ep_of(const struct pkt_info *pi, int src, uint8_t proto, const struct fz_ep *set, int n)
{
	size_t alen = pi->v6 ? 16 : 4;

	for (int i = 0; i < n; i++)
		if (set[i].v6 == pi->v6 && set[i].proto == proto &&
		    !memcmp(set[i].addr, src ? pi->src : pi->dst, alen) &&
		    set[i].port == (src ? pi->sport : pi->dport))
			return i;
	return -1;
}

static int setup(void)
{
	char be_arg[80];

	if (!mkdtemp(pin_dir))
		return -1;
	opt_pin_dir = pin_dir;
	state_set_flow_max(262144);
	for (int s = 0; s < NSVC; s++) {
		if (cli("service add %s %s %s", svcs[s].name, svcs[s].fe, svcs[s].flags) ||
		    fz_ep_parse(svcs[s].fe, &fe[s]))
			return -1;
		fe_svc[s] = s;
		for (int b = 0; b < 4 && svcs[s].be[b]; b++) {
			snprintf(be_arg, sizeof(be_arg), "%s/%s", svcs[s].be[b],
				 fe[s].proto == IPPROTO_TCP ? "tcp" : "udp");
			if (cli("backend add %s %s --track %s", svcs[s].name, svcs[s].be[b],
				b & 1 ? "new" : "old") ||
			    fz_ep_parse(be_arg, &be[nbe]))
				return -1;
			be_svc[nbe++] = s;
		}
		if (svcs[s].weights && cli("weight %s %s", svcs[s].name, svcs[s].weights))
			return -1;
	}
	skel = dp_load(&st, pin_dir, prog_fd); /* P_XDP, P_TCFWD, P_TCREPLY */
	return skel ? 0 : -1;
}

static void teardown(void)
{
	dp_unload(skel, &st, pin_dir);
}

static uint64_t drops_counted(void)
{
	static const enum l4s_reason drops[] = { L4S_R_DROP_TRUNCATED, L4S_R_DROP_MALFORMED,
						 L4S_R_DROP_NO_BACKEND, L4S_R_DROP_NO_TABLE,
						 L4S_R_DROP_ADJUST };
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		sum += dp_reason(&st, drops[i]);
	return sum;
}

/* Neither IPv4 nor IPv6 behind at most one VLAN tag, read independently. */
static int not_ip(const uint8_t *b, size_t len)
{
	size_t off = 12;
	uint16_t et;

	if (len < 14)
		return 0; /* too short to say: counted as malformed */
	et = (uint16_t)(b[off] << 8 | b[off + 1]);
	if (et == 0x8100 || et == 0x88a8) {
		if (len < 18)
			return 0;
		et = (uint16_t)(b[off + 4] << 8 | b[off + 5]);
	}
	return et != 0x0800 && et != 0x86dd;
}

/* The ICMP(v6) checksum of a frame holds (ICMPv6: with its pseudo header). */
static int icmp_ok(const struct pkt_info *pi, const uint8_t *b, size_t len)
{
	uint64_t sum = 0;

	if (pi->l4 >= len)
		return 0;
	if (pi->v6) {
		for (int i = 0; i < 16; i += 2)
			sum += (uint32_t)(pi->src[i] << 8 | pi->src[i + 1]) +
			       (uint32_t)(pi->dst[i] << 8 | pi->dst[i + 1]);
		sum += len - pi->l4 + 58;
	}
	for (size_t i = pi->l4; i < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | (i + 1 < len ? b[i + 1] : 0));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static void hexdump(const char *what, const uint8_t *b, size_t n)
{
	fprintf(stderr, "#   %s (%zu bytes):", what, n);
	for (size_t i = 0; i < n && i < 128; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n#     ", b[i]);
	fprintf(stderr, "\n");
}

static void violation(uint64_t iter, int prog, const char *why, const uint8_t *in, size_t len,
		      const uint8_t *out, size_t olen)
{
	if (++violations <= 5) {
		fprintf(stderr, "# VIOLATION (seed %" PRIu64 ", frame %" PRIu64 ", %s): %s\n", seed,
			iter, prog_name[prog], why);
		hexdump("in", in, len);
		hexdump("out", out, olen);
	}
}

/* Byte offsets a rewrite may touch: one side's address and port, the checksums. */
static void allowed_bytes(const struct pkt_info *pi, int src, uint8_t *mask, size_t len)
{
	size_t a = pi->l3 + (pi->v6 ? (src ? 8 : 24) : (src ? 12 : 16)), alen = pi->v6 ? 16 : 4;
	size_t p = pi->l4 + (src ? 0 : 2), cs = pi->l4 + (pi->proto == IPPROTO_TCP ? 16 : 6);

	memset(mask, 0, len);
	memset(mask + a, 1, alen);
	memset(mask + p, 1, 2);
	if (cs + 2 <= len)
		memset(mask + cs, 1, 2);
	if (!pi->v6)
		memset(mask + pi->l3 + 10, 1, 2);
}

struct tally {
	uint64_t tried, refused, rewritten, dropped, passed, by_prog[P_N];
};

static void check_one(uint64_t iter, int prog, const uint8_t *in, size_t len, struct tally *t)
{
	static uint64_t drops_before, not_ip_before;
	uint8_t out[2048], mask[2048];
	size_t olen;
	int verdict, err, dropped, rejected, reply = prog == P_TCREPLY, f, b;
	struct pkt_info pin = pkt_info(in, len), pout;
	uint64_t drops_now;

	err = try_prog(prog_fd[prog], in, len, out, &olen, &verdict);
	if (err) {
		t->refused++;
		return;
	}
	t->tried++;
	t->by_prog[prog]++;
	drops_now = drops_counted();
	dropped = prog == P_XDP ? verdict == 1 : verdict == 2;
	/* A new flow to a service without a backend is answered (bpf/reject.h): XDP_TX, or
	 * a redirect at tc; counted as a drop. */
	rejected = !reply && verdict == (prog == P_XDP ? 3 : 7);
	dropped |= rejected;
	if (drops_now - drops_before != (uint64_t)dropped)
		violation(iter, prog, dropped ? "dropped without a drop reason counted"
					      : "drop reason counted for a frame not dropped",
			  in, len, out, olen);
	drops_before = drops_now;
	if (prog != P_TCREPLY) {
		uint64_t n = dp_reason(&st, L4S_R_PASS_NOT_IP);

		if (n - not_ip_before != (uint64_t)not_ip(in, len))
			violation(iter, prog, not_ip(in, len) ? "non-IP frame not counted as pass_not_ip"
							      : "IP frame counted as pass_not_ip",
				  in, len, out, olen);
		not_ip_before = n;
	}
	f = pin.ok && !pin.frag ? ep_of(&pin, 0, pin.proto, fe, NSVC) : -1;
	b = pin.ok && !pin.frag ? ep_of(&pin, 1, pin.proto, be, nbe) : -1;
	if (rejected) {
		pout = pkt_info(out, olen);
		if (f < 0)
			violation(iter, prog, "answered a frame not addressed to a service", in, len,
				  out, olen);
		else if (olen > len + 48 || memcmp(pout.src, pin.dst, 16) ||
			 memcmp(pout.dst, pin.src, 16) ||
			 pout.proto != (pin.proto == IPPROTO_UDP ? (pin.v6 ? 58 : 1) : pin.proto) ||
			 !(pin.proto == IPPROTO_TCP ? pout.ok && pkt_csums_ok(out, olen) :
						      icmp_ok(&pout, out, olen)))
			violation(iter, prog, "the answer is not a RST or ICMP error from the VIP to "
					      "the client, or is too long, or its checksums are wrong",
				  in, len, out, olen);
	}
	if (dropped) {
		t->dropped++;
		if (reply ? b < 0 : f < 0)
			violation(iter, prog, reply ? "dropped a frame that is not from a backend"
						    : "dropped a frame not addressed to a service",
				  in, len, out, olen);
		return;
	}
	if (olen == len && !memcmp(in, out, len)) {
		t->passed++;
		return;
	}
	t->rewritten++;
	if (olen != len) {
		violation(iter, prog, "rewrite changed the frame length", in, len, out, olen);
		return;
	}
	if (reply ? b < 0 : f < 0) {
		violation(iter, prog, reply ? "changed a frame that is not from a backend"
					    : "changed a frame not addressed to a service",
			  in, len, out, olen);
		return;
	}
	pout = pkt_info(out, olen);
	if (reply) {
		int g = ep_of(&pout, 1, pin.proto, fe, NSVC);

		if (g < 0 || fe_svc[g] != be_svc[b])
			violation(iter, prog, "reply source is not the VIP:port of the backend's service",
				  in, len, out, olen);
	} else {
		int g = ep_of(&pout, 0, pin.proto, be, nbe);

		if (g < 0 || be_svc[g] != fe_svc[f])
			violation(iter, prog, "destination is not a backend of the service", in, len, out,
				  olen);
		else {
			struct flow_rec *r = &ring[ring_n++ % RING];

			memset(r, 0, sizeof(*r));
			r->client.v6 = pin.v6;
			memcpy(r->client.addr, pin.src, 16);
			r->client.port = pin.sport;
			r->client.proto = pin.proto;
			r->backend = be[g];
		}
	}
	allowed_bytes(&pin, reply, mask, len);
	for (size_t i = 0; i < len; i++)
		if (in[i] != out[i] && !mask[i]) {
			char why[96];

			snprintf(why, sizeof(why), "byte %zu changed that a NAT must not touch", i);
			violation(iter, prog, why, in, len, out, olen);
			break;
		}
	if (pkt_csums_ok(in, len) && !pkt_csums_ok(out, olen))
		violation(iter, prog, "checksums right before the rewrite, wrong after", in, len, out,
			  olen);
}

int main(int argc, char **argv)
{
	struct fz_targets tg = { .fe = fe, .nfe = NSVC, .be = be };
	struct tally t = { 0 };
	uint8_t buf[2048];
	double seconds = 30;
	struct timespec t0, now;
	uint64_t iter = 0;
	struct fz_rng rng;
	int rc = 1;

	seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
	}
	rng.s = seed | 1;
	printf("1..3\n# seed %" PRIu64 ", %.0f s\n", seed, seconds);
	fflush(stdout);
	if (setup()) {
		printf("not ok 1 - setup\n");
		teardown();
		return 1;
	}
	tg.nbe = nbe;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;; iter++) {
		size_t len;
		int prog;

		if ((iter & 1023) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
				break;
		}
		if (ring_n && fz_below(&rng, 10) < 3) {
			const struct flow_rec *r = &ring[fz_below(&rng, ring_n < RING ? ring_n : RING)];

			len = fz_frame(&rng, &r->backend, &r->client, buf, sizeof(buf));
			prog = fz_below(&rng, 10) ? P_TCREPLY : P_XDP;
		} else {
			len = fz_forward(&rng, &tg, buf, sizeof(buf));
			prog = fz_below(&rng, 10) == 0 ? P_TCREPLY : fz_below(&rng, 3) ? P_XDP : P_TCFWD;
		}
		len = fz_mutate(&rng, buf, len, sizeof(buf));
		check_one(iter, prog, buf, len, &t);
		if (violations > 100)
			break;
	}
	printf("# %" PRIu64 " frames tried (xdp %" PRIu64 ", tc forward %" PRIu64 ", tc reply %" PRIu64
	       "), %" PRIu64 " refused by the kernel before the program ran\n",
	       t.tried, t.by_prog[P_XDP], t.by_prog[P_TCFWD], t.by_prog[P_TCREPLY], t.refused);
	printf("# rewritten %" PRIu64 ", dropped %" PRIu64 ", passed unchanged %" PRIu64 "; %lu violations\n",
	       t.rewritten, t.dropped, t.passed, violations);
	printf("%sok 1 - fuzzed frames ran (%" PRIu64 ")\n", t.tried > 1000 ? "" : "not ", t.tried);
	printf("%sok 2 - rewrites and drops exercised (%" PRIu64 " rewritten, %" PRIu64 " dropped)\n",
	       t.rewritten > 100 && t.dropped > 100 ? "" : "not ", t.rewritten, t.dropped);
	printf("%sok 3 - every invariant held for every frame\n", violations ? "not " : "");
	rc = violations || t.tried <= 1000 || t.rewritten <= 100 || t.dropped <= 100;
	teardown();
	return rc;
}
