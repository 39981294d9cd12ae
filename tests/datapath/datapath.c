// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Datapath tests: the real programs through BPF_PROG_TEST_RUN. The state is set up
 * with the real command layer (service/backend/weight) in a pin directory of the
 * test's own; each case sends a crafted frame and checks the verdict and every byte
 * of the frame that comes out, with checksums recomputed independently (tests/lib/pkt.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include "cli.h"
#include "cmd.h"
#include "err.h"
#include "pkt.h"
#include "state.h"
#include "l4split.skel.h"

#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define XDP_TX_   3
#define TC_REDIRECT_ 7
#define TC_OK_    0
#define TC_SHOT_  2

static char pin_dir[] = "/run/l4s-dp-XXXXXX";
static struct l4s_state st;
static struct l4split_bpf *skel;
static int fd_xdp, fd_tcfwd, fd_tcreply;

static int run_prog(int fd, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	int ret, err = try_prog(fd, in, len, out, outlen, &ret);

	if (err)
		print_message("# BPF_PROG_TEST_RUN refused a %zu-byte frame: %d\n", len, err);
	assert_int_equal(err, 0);
	return ret;
}

static __u64 reason(enum l4s_reason r)
{
	return dp_reason(&st, r);
}

/* Index of the backend the frame was sent to, from a list of "addr" strings. */
static int which(const uint8_t *buf, size_t len, const char *const *addrs, int n)
{
	struct pkt_info pi = pkt_info(buf, len);

	for (int i = 0; i < n; i++) {
		uint8_t a[16] = { 0 };

		if (inet_pton(pi.v6 ? AF_INET6 : AF_INET, addrs[i], a) == 1 &&
		    !memcmp(a, pi.dst, pi.v6 ? 16 : 4))
			return i;
	}
	return -1;
}

static const char *const be4[] = { "10.1.0.1", "10.1.0.2" };
/* mf4: a service with two frontends (10.96.0.16 and .17, port 80): its flows keep
 * reverse entries (bpf/norev.h). */
static const char *const mf4_be[] = { "10.8.0.1", "10.8.0.2" };
static const char *const be6[] = { "fd00:1::1", "fd00:1::2" };

static int teardown(void **state);

/* The state every test shares; cmocka skips the teardown of a group whose setup fails,
 * so a failed setup removes what it made itself (the pin directory is a bpffs mount). */
static int setup_state(void);

static int setup(void **state)
{
	if (!mkdtemp(pin_dir))
		return -1;
	if (setup_state()) {
		if (skel)
			teardown(state);
		else
			dp_setup_failed(NULL, &st, pin_dir);
		return -1;
	}
	return 0;
}

static int setup_state(void)
{
	opt_pin_dir = pin_dir;
	state_set_flow_max(262144);
	if (cli("service add web4 10.96.0.10:80/tcp") || cli("service add dns4 10.96.0.10:53/udp") ||
	    cli("service add web6 [fd00:96::10]:80/tcp") ||
	    cli("service add dns6 [fd00:96::10]:53/udp") ||
	    cli("service add aff 10.96.0.11:80/tcp --affinity client-ip") ||
	    cli("service add zero 10.96.0.12:80/tcp") || cli("service add dist 10.96.0.13:80/tcp") ||
	    cli("service add dist4 10.96.0.14:80/tcp --table-size 65521"))
		return -1;
	for (int i = 0; i < 2; i++) {
		const char *t = i ? "new" : "old";

		if (cli("backend add web4 %s:8080 --track %s", be4[i], t) ||
		    cli("backend add dns4 %s:5353 --track %s", be4[i], t) ||
		    cli("backend add web6 [%s]:8080 --track %s", be6[i], t) ||
		    cli("backend add dns6 [%s]:5353 --track %s", be6[i], t))
			return -1;
	}
	if (cli("weight web4 old=1 new=1") || cli("weight dns4 old=1 new=1") ||
	    cli("weight web6 old=1 new=1") || cli("weight dns6 old=1 new=1"))
		return -1;
	for (int i = 1; i <= 4; i++)
		if (cli("backend add aff 10.2.0.%d:80", i) || cli("backend add dist4 10.4.0.%d:80", i))
			return -1;
	if (cli("backend add zero 10.3.0.1:80") || cli("weight zero default=0"))
		return -1;
	/* Client-IP affinity with a timeout: two backends, one per track. */
	if (cli("service add afft 10.96.0.15:80/tcp --affinity client-ip --affinity-timeout 100") ||
	    cli("backend add afft 10.7.0.1:80 --track a") ||
	    cli("backend add afft 10.7.0.2:80 --track b") || cli("weight afft a=1 b=1"))
		return -1;
	/* Reject: one service per family and protocol, none with a backend of weight > 0. */
	if (cli("service add zero6 [fd00:96::12]:80/tcp") ||
	    cli("service add zerou 10.96.0.12:53/udp") ||
	    cli("service add zerou6 [fd00:96::12]:53/udp") ||
	    cli("backend add zero6 [fd00:3::1]:80") || cli("weight zero6 default=0") ||
	    cli("backend add zerou 10.3.0.1:53") || cli("weight zerou default=0"))
		return -1; /* zerou6: no backend at all */
	/* SNAT: a range of 4 ports, to see it run out. */
	if (cli("service add sn4 10.96.0.30:80/tcp --mode snat") ||
	    cli("backend add sn4 10.6.0.1:8080") ||
	    cli("service add sn6 [fd00:96::30]:80/tcp --mode snat") ||
	    cli("backend add sn6 [fd00:6::1]:8080") ||
	    cli("node set --snat-addr 10.99.0.1 --snat-addr fd00:99::1 --snat-ports 40000-40003"))
		return -1;
	if (cli("service add mf4 10.96.0.16:80/tcp 10.96.0.17:80/tcp") ||
	    cli("backend add mf4 %s:8080", mf4_be[0]) || cli("backend add mf4 %s:8080", mf4_be[1]))
		return -1;
	if (cli("backend add dist 10.5.0.1:80 --track a") ||
	    cli("backend add dist 10.5.0.2:80 --track b") || cli("weight dist a=99 b=1"))
		return -1;
	{
		int fds[3];

		skel = dp_load(&st, pin_dir, fds);
		if (!skel)
			return -1;
		fd_xdp = fds[0];
		fd_tcfwd = fds[1];
		fd_tcreply = fds[2];
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dp_unload(skel, &st, pin_dir);
	return 0;
}

/* Internet checksum of @n bytes (0xffff over data that includes a right checksum). */
static uint16_t inet_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* ICMP checksum sum (0xffff when right): ICMPv6 covers a pseudo header too. */
static uint16_t icmp_sum(int v6, const uint8_t *ip, const uint8_t *ic, size_t iclen)
{
	uint32_t s = 0;

	if (v6) {
		s += inet_sum(ip + 8, 32); /* both addresses */
		s += (uint32_t)iclen;
		s += 58;
	}
	s += inet_sum(ic, iclen);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* An ICMP(v6) error from @osrc to @odst quoting a TCP packet @isrc:@isport ->
 * @idst:@idport (its first @l4q bytes of TCP header: 20, or 8 for the ports and the
 * sequence number only), checksums right; returns the frame length. */
static size_t icmp_build(int v6, const char *osrc, const char *odst, const char *isrc,
			 uint16_t isport, const char *idst, uint16_t idport, size_t l4q, uint8_t *f)
{
	int af = v6 ? AF_INET6 : AF_INET;
	size_t iph = v6 ? 40 : 20, len = 14 + iph + 8 + iph + l4q;
	uint8_t *ip = f + 14, *ic = ip + iph, *in = ic + 8, *l4 = in + iph;

	memset(f, 0, len);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		pkt_put16(ip + 4, (uint16_t)(8 + iph + l4q));
		ip[6] = 58;
		ip[7] = 64;
		in[0] = 0x60;
		pkt_put16(in + 4, 1440);
		in[6] = IPPROTO_TCP;
		in[7] = 63;
		ic[0] = 2; /* packet too big */
		pkt_put16(ic + 6, 1280);
	} else {
		ip[0] = 0x45;
		pkt_put16(ip + 2, (uint16_t)(iph + 8 + iph + l4q));
		ip[8] = 64;
		ip[9] = 1;
		in[0] = 0x45;
		pkt_put16(in + 2, 1500);
		in[6] = 0x40; /* DF */
		in[8] = 63;
		in[9] = IPPROTO_TCP;
		ic[0] = 3;
		ic[1] = 4; /* fragmentation needed */
		pkt_put16(ic + 6, 1200);
	}
	inet_pton(af, osrc, ip + (v6 ? 8 : 12));
	inet_pton(af, odst, ip + (v6 ? 24 : 16));
	inet_pton(af, isrc, in + (v6 ? 8 : 12));
	inet_pton(af, idst, in + (v6 ? 24 : 16));
	pkt_put16(l4, isport);
	pkt_put16(l4 + 2, idport);
	if (l4q >= 20) {
		l4[12] = 5 << 4;
		l4[13] = TCP_F_ACK;
	}
	if (!v6) {
		pkt_put16(ip + 10, (uint16_t)~inet_sum(ip, 20));
		pkt_put16(in + 10, (uint16_t)~inet_sum(in, 20));
	}
	pkt_put16(ic + 2, 0);
	pkt_put16(ic + 2, (uint16_t)~icmp_sum(v6, ip, ic, 8 + iph + l4q));
	return len;
}

/* Every checksum of an ICMP(v6) error frame holds. */
static int icmp_csums_ok(int v6, const uint8_t *f, size_t len)
{
	size_t iph = v6 ? 40 : 20;
	const uint8_t *ip = f + 14, *ic = ip + iph;

	if (!v6 && (inet_sum(ip, 20) != 0xffff || inet_sum(ic + 8, 20) != 0xffff))
		return 0;
	return icmp_sum(v6, ip, ic, len - 14 - iph) == 0xffff;
}

/* A backend counter (word @w of struct l4s_backend_stats) summed over all backends. */
static __u64 bsum(int w)
{
	__u64 total = 0;
	struct l4s_backend_stats c;

	for (__u32 id = 0; id < 64; id++)
		if (!state_backend_stats(&st, id, &c))
			total += ((const __u64 *)&c)[w];
	return total;
}

#define BS_ANSWERED 5
#define BS_RESETS   6
#define BS_SYNRTX   7

/* ------------------------------------------------------------------------------------
 * The cases. Each is one row: what it shows, its setup (l4split commands, map fills),
 * the packet in, the verdict, and the packet out, which the driver builds independently
 * from the packet in (every rewritten byte, checksums recomputed by tests/lib/pkt.c) and
 * compares byte for byte. Rows run in order and share one state: a row may follow the
 * flow of the rows before it (the backend and SNAT ports they got are remembered).
 */
enum { P_XDP, P_TC_FWD, P_TC_REPLY };

/* The packet out. */
enum {
	OUT_NONE,  /* dropped: not looked at */
	OUT_SAME,  /* the packet in, byte for byte */
	OUT_NAT,   /* the packet in with addresses/ports rewritten (dst, src below) */
	OUT_FRAME, /* exactly the frame .want builds (ICMP errors) */
};

/* Which of the case's backends the destination becomes. */
enum {
	PICK_ANY,   /* any one: remembered for the rows after */
	PICK_SAME,  /* the remembered one */
	PICK_OTHER, /* the other one (two backends); the remembered one stays */
};

/* The source port a SNAT flow gets. */
enum {
	SP_NEW = 1, /* one of the range that no earlier flow of this family holds (remembered) */
	SP_FIRST,   /* the first flow's */
};

/* The destination port of the packet in. */
enum {
	IN_SNAT_PORT = 1, /* the first SNAT flow's port (a reply to it) */
	IN_FREE_PORT,     /* a port of the SNAT range no flow holds */
};

/* In .src or an ICMP address: the remembered backend (compared by address). */
static const char saved_be[] = "(remembered backend)";
#define SAVED saved_be

/* An ICMP error frame, as icmp_build() makes it; isport 0: the first SNAT port. */
struct icmp_spec {
	int v6;
	const char *osrc, *odst, *isrc;
	uint16_t isport;
	const char *idst;
	uint16_t idport;
	size_t l4q;
};

struct count {
	int on;
	enum l4s_reason r;
	__u64 d; /* moves by exactly this much */
};

struct dp_case {
	const char *what;
	/* setup, before the packet: l4split commands (%T, %O: the remembered web4 backend's
	 * track and the other one), then a map fill */
	const char *cmd;
	void (*fill)(void);
	/* packet in */
	int prog;
	struct pkt_spec in;
	int in_dport;            /* IN_SNAT_PORT, IN_FREE_PORT */
	struct icmp_spec icmp;   /* an ICMP error instead, when .icmp.osrc */
	const uint8_t *raw;      /* a raw frame instead (raw_len bytes) */
	size_t raw_len;
	void (*edit)(uint8_t *f, size_t len); /* bytes changed after building */
	size_t trim;             /* bytes cut off the end */
	int repeat;              /* sent this many times, sport + i each (0: once) */
	/* expected */
	int verdict;
	int out;
	const char *const *bes;  /* OUT_NAT: the destination becomes one of these at bport */
	int nb;
	uint16_t bport;
	int pick;
	const char *src;         /* OUT_NAT: the source becomes src:sport ... */
	uint16_t sport;
	int snat_port;           /* ... or src at a SNAT port (SP_*) */
	struct icmp_spec want;   /* OUT_FRAME */
	struct count count[2];   /* reason counters */
	int bstat_on, bstat_w;   /* a backend counter summed over backends */
	__u64 bstat_d;
	/* undone after the packet: l4split commands */
	const char *undo;
};

#define DST(list, port) .bes = list, .nb = (int)(sizeof(list) / sizeof(list[0])), .bport = port
#define COUNT(reason, delta) { 1, reason, delta }

/* What the rows before remembered. */
static struct {
	int be;                 /* index of the backend chosen */
	const char *const *bes; /* in which list (NULL: be4 or be6) */
	uint16_t port[2][8];    /* SNAT ports held, per family */
	int nport[2];
} mem;

static const char *const aff_be[] = { "10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4" };
static const char *const sn4_be[] = { "10.6.0.1" };
static const char *const sn6_be[] = { "fd00:6::1" };
static const char *const sn4_client[] = { "10.9.0.30" };

static void flows_clear(void)
{
	uint8_t key[sizeof(struct l4s_flow_key)];

	while (bpf_map_get_next_key(st.flows, NULL, key) == 0)
		bpf_map_delete_elem(st.flows, key);
}

static void rflows_clear(void)
{
	uint8_t key[sizeof(struct l4s_flow_key)];

	while (bpf_map_get_next_key(st.rflows, NULL, key) == 0)
		bpf_map_delete_elem(st.rflows, key);
}

static void both_clear(void)
{
	rflows_clear();
	flows_clear();
}

/* TCP data offset 4 (< 5). */
static void edit_doff(uint8_t *f, size_t len)
{
	f[pkt_info(f, len).l4 + 12] = 4 << 4;
}

/* TCP data offset 4, and IPv4 IHL 4 (< 5): not parseable at all. */
static void edit_doff_ihl(uint8_t *f, size_t len)
{
	edit_doff(f, len);
	f[14] = 0x44;
}

static const uint8_t arp_frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2,
				       0x08, 0x06 };

#define TCP4(s, sp, d, dp) .proto = IPPROTO_TCP, .src = s, .sport = sp, .dst = d, .dport = dp
#define UDP4(s, sp, d, dp) .proto = IPPROTO_UDP, .src = s, .sport = sp, .dst = d, .dport = dp
#define TCP6(s, sp, d, dp) .v6 = 1, TCP4(s, sp, d, dp)
#define UDP6(s, sp, d, dp) .v6 = 1, UDP4(s, sp, d, dp)
#define SYNACK (TCP_F_SYN | TCP_F_ACK)
#define DRAIN  "weight web4 %T=0 %O=1" /* the remembered backend takes no new flows */
#define UNDRAIN "weight web4 %T=1 %O=1"
#define SNAT_NODE "node set --snat-addr 10.99.0.1 --snat-addr fd00:99::1 --snat-ports 40000-40003"

/* A reply from the remembered web4/web6 backend (8080) to @c:@p. */
#define REPLY4(c, p) .proto = IPPROTO_TCP, .src = SAVED, .sport = 8080, .dst = c, .dport = p
#define REPLY6(c, p) .v6 = 1, REPLY4(c, p)

static const struct dp_case cases[] = {
	/* New flows: the destination becomes a backend, nothing else changes. */
	{ "new flow, IPv4 TCP: to a web4 backend", .prog = P_XDP,
	  .in = { TCP4("10.9.0.1", 40000, "10.96.0.10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "new flow, IPv4 UDP: to a dns4 backend", .prog = P_XDP,
	  .in = { UDP4("10.9.0.1", 40001, "10.96.0.10", 53), .payload = 33 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 5353) },
	{ "new flow, IPv4 UDP without checksum: none out", .prog = P_XDP,
	  .in = { UDP4("10.9.0.1", 40002, "10.96.0.10", 53), .payload = 12, .udp_nocsum = 1 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 5353) },
	{ "new flow, IPv6 TCP", .prog = P_XDP,
	  .in = { TCP6("fd00:9::1", 40003, "fd00:96::10", 80), .payload = 7 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be6, 8080) },
	{ "new flow, IPv6 UDP", .prog = P_XDP,
	  .in = { UDP6("fd00:9::1", 40004, "fd00:96::10", 53), .payload = 20 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be6, 5353) },
	{ "new flow, IPv6 with a destination-options header", .prog = P_XDP,
	  .in = { TCP6("fd00:9::2", 40005, "fd00:96::10", 80), .v6_exthdr = 1 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be6, 8080) },
	{ "tc forward, IPv4 TCP", .prog = P_TC_FWD,
	  .in = { TCP4("10.9.0.3", 40006, "10.96.0.10", 80), .payload = 5 },
	  .verdict = TC_OK_, .out = OUT_NAT, DST(be4, 8080) },
	{ "tc forward, IPv6 UDP", .prog = P_TC_FWD,
	  .in = { UDP6("fd00:9::3", 40006, "fd00:96::10", 53), .payload = 5 },
	  .verdict = TC_OK_, .out = OUT_NAT, DST(be6, 5353) },
	{ "new flow, 802.1Q tagged", .prog = P_XDP,
	  .in = { TCP4("10.9.0.4", 40007, "10.96.0.10", 80), .vlan = 1, .payload = 3 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "new flow, 4 bytes of IPv4 options", .prog = P_XDP,
	  .in = { TCP4("10.9.0.5", 40008, "10.96.0.10", 80), .ip_opts = 4 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "new flow, 40 bytes of IPv4 options", .prog = P_XDP,
	  .in = { TCP4("10.9.0.5", 40009, "10.96.0.10", 80), .ip_opts = 40 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },

	/* A weight change: the established flow stays, new flows avoid the drained backend. */
	{ "weight change: a SYN gets a backend", .prog = P_XDP,
	  .in = { TCP4("10.9.0.6", 41000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "weight change: its backend drained, the established flow stays", .cmd = DRAIN,
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.6", 41000, "10.96.0.10", 80), .tcp_flags = TCP_F_ACK | TCP_F_PSH,
		  .payload = 10 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME },
	{ "weight change: 200 new flows all avoid the drained backend", .prog = P_XDP,
	  .in = { TCP4("10.9.0.6", 42000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .repeat = 200,
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_OTHER,
	  .undo = UNDRAIN },

	/* A SYN on a closed 5-tuple chooses again; a retransmitted SYN stays. */
	{ "SYN rechoice: a SYN gets a backend", .prog = P_XDP,
	  .in = { TCP4("10.9.0.7", 41001, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "SYN rechoice: backend drained, the retransmitted SYN stays", .cmd = DRAIN,
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.7", 41001, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 0) } },
	{ "SYN rechoice: the client's FIN stays", .prog = P_XDP,
	  .in = { TCP4("10.9.0.7", 41001, "10.96.0.10", 80), .tcp_flags = TCP_F_FIN | TCP_F_ACK },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 0) } },
	{ "SYN rechoice: a new SYN on the closed 5-tuple chooses again", .prog = P_XDP,
	  .in = { TCP4("10.9.0.7", 41001, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_OTHER,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 1) }, .undo = UNDRAIN },

	/* A client gives up on a backend that never answered and reuses its port: the new
	 * SYN (another sequence number) chooses again; a retransmission of it stays. */
	{ "reused port: a SYN gets a backend", .prog = P_XDP,
	  .in = { TCP4("10.9.0.17", 41011, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 1000 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "reused port: backend drained (a rollback), its retransmission stays", .cmd = DRAIN,
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.17", 41011, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 1000 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 0) } },
	{ "reused port: a SYN with another sequence number chooses again", .prog = P_XDP,
	  .in = { TCP4("10.9.0.17", 41011, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 777777 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_OTHER,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 1) } },
	{ "reused port: the new connection's retransmission stays", .prog = P_XDP,
	  .in = { TCP4("10.9.0.17", 41011, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 777777 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_OTHER,
	  .count = { COUNT(L4S_R_FLOW_RECHOSEN, 0) }, .undo = UNDRAIN },

	/* The reply path: backend -> client becomes VIP -> client. */
	{ "reply NAT, IPv4: a flow", .prog = P_XDP,
	  .in = { TCP4("10.9.0.8", 41002, "10.96.0.10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "reply NAT, IPv4: its reply comes from the VIP", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.8", 41002), .tcp_flags = SYNACK, .payload = 9 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80 },
	{ "reply NAT, IPv4: a reply of no tracked flow is left alone", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.8", 41003), .tcp_flags = SYNACK, .payload = 9 },
	  .verdict = TC_OK_, .out = OUT_SAME },
	{ "reply NAT, IPv6: a flow", .prog = P_XDP,
	  .in = { TCP6("fd00:9::8", 41002, "fd00:96::10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be6, 8080) },
	{ "reply NAT, IPv6: its reply comes from the VIP", .prog = P_TC_REPLY,
	  .in = { REPLY6("fd00:9::8", 41002), .tcp_flags = SYNACK, .payload = 9 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "fd00:96::10", .sport = 80 },
	{ "reply NAT, IPv6: a reply of no tracked flow is left alone", .prog = P_TC_REPLY,
	  .in = { REPLY6("fd00:9::8", 41003), .tcp_flags = SYNACK, .payload = 9 },
	  .verdict = TC_OK_, .out = OUT_SAME },

	/* A SYN-ACK that does not answer its reverse entry's flow (a direct connection from a
	 * port once used for the VIP) passes untouched, and so does the rest of it; the VIP
	 * reopened from that port is translated again. */
	{ "stale reply: a flow", .prog = P_XDP,
	  .in = { TCP4("10.9.0.18", 41012, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 5000 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "stale reply: its SYN-ACK comes from the VIP", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.18", 41012), .tcp_flags = SYNACK, .ack = 5001 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80,
	  .count = { COUNT(L4S_R_REPLY_STALE, 0) } },
	{ "stale reply: a SYN-ACK answering another SYN passes untouched", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.18", 41012), .tcp_flags = SYNACK, .ack = 9001 },
	  .verdict = TC_OK_, .out = OUT_SAME, .count = { COUNT(L4S_R_REPLY_STALE, 1) } },
	{ "stale reply: the entry is forgotten, the rest passes too", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.18", 41012), .tcp_flags = TCP_F_ACK, .ack = 9001, .payload = 5 },
	  .verdict = TC_OK_, .out = OUT_SAME, .count = { COUNT(L4S_R_REPLY_STALE, 0) } },
	{ "stale reply: the client opens the VIP again from that port", .prog = P_XDP,
	  .in = { TCP4("10.9.0.18", 41012, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN,
		  .seq = 12000 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "stale reply: its SYN-ACK is translated again", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.18", 41012), .tcp_flags = SYNACK, .ack = 12001 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80,
	  .count = { COUNT(L4S_R_REPLY_STALE, 0) } },

	/* SNAT: the source becomes the node's address and a port of its range (4 ports). */
	{ "SNAT: a flow gets the node's address and a port of the range", .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41000, "10.96.0.30", 80), .tcp_flags = TCP_F_SYN, .seq = 7 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn4_be, 8080), .src = "10.99.0.1",
	  .snat_port = SP_NEW },
	{ "SNAT: the flow keeps its port", .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41000, "10.96.0.30", 80), .tcp_flags = TCP_F_ACK, .seq = 7 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn4_be, 8080), .src = "10.99.0.1",
	  .snat_port = SP_FIRST },
	{ "SNAT: the reply to the node's port goes back VIP -> client", .prog = P_XDP,
	  .in = { TCP4("10.6.0.1", 8080, "10.99.0.1", 0), .tcp_flags = SYNACK, .ack = 8 },
	  .in_dport = IN_SNAT_PORT,
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn4_client, 41000), .src = "10.96.0.30",
	  .sport = 80, .count = { COUNT(L4S_R_SNAT_REPLY, 1) } },
	{ "SNAT: a reply to a port no flow holds is not ours", .prog = P_XDP,
	  .in = { TCP4("10.6.0.1", 8081, "10.99.0.1", 0), .tcp_flags = SYNACK, .ack = 8 },
	  .in_dport = IN_FREE_PORT,
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_SNAT_REPLY, 0) } },
	{ "SNAT: an ICMP fragmentation-needed about the flow goes back to the client",
	  .prog = P_XDP,
	  .icmp = { 0, "10.210.0.2", "10.99.0.1", "10.99.0.1", 0, "10.6.0.1", 8080, 8 },
	  .verdict = XDP_PASS_, .out = OUT_FRAME,
	  .want = { 0, "10.210.0.2", "10.9.0.30", "10.9.0.30", 41000, "10.96.0.30", 80, 8 },
	  .count = { COUNT(L4S_R_ICMP_NAT, 1) } },
	{ "SNAT: three more flows take the three other ports", .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41001, "10.96.0.30", 80), .tcp_flags = TCP_F_SYN, .seq = 7 },
	  .repeat = 3,
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn4_be, 8080), .src = "10.99.0.1",
	  .snat_port = SP_NEW },
	{ "SNAT: a fifth flow finds no port: dropped and counted", .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41004, "10.96.0.30", 80), .tcp_flags = TCP_F_SYN, .seq = 7 },
	  .verdict = XDP_DROP_, .out = OUT_NONE,
	  .count = { COUNT(L4S_R_DROP_SNAT_EXHAUSTED, 1) } },
	{ "SNAT: node unset, a flow that has a port keeps it", .cmd = "node unset",
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41000, "10.96.0.30", 80), .tcp_flags = TCP_F_ACK, .seq = 7 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn4_be, 8080), .src = "10.99.0.1",
	  .snat_port = SP_FIRST },
	{ "SNAT: node unset, a new flow has no address: dropped and counted", .prog = P_XDP,
	  .in = { TCP4("10.9.0.30", 41005, "10.96.0.30", 80), .tcp_flags = TCP_F_SYN, .seq = 7 },
	  .verdict = XDP_DROP_, .out = OUT_NONE,
	  .count = { COUNT(L4S_R_DROP_SNAT_NO_ADDR, 1) }, .undo = SNAT_NODE },
	{ "SNAT, IPv6: a flow gets the node's address and a port of the range", .prog = P_XDP,
	  .in = { TCP6("fd00:9::30", 41030, "fd00:96::30", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(sn6_be, 8080), .src = "fd00:99::1",
	  .snat_port = SP_NEW },
	{ "SNAT, IPv6: an ICMPv6 packet too big about it goes back to the client",
	  .prog = P_XDP,
	  .icmp = { 1, "fd00:210::2", "fd00:99::1", "fd00:99::1", 0, "fd00:6::1", 8080, 20 },
	  .verdict = XDP_PASS_, .out = OUT_FRAME,
	  .want = { 1, "fd00:210::2", "fd00:9::30", "fd00:9::30", 41030, "fd00:96::30", 80, 20 } },

	/* ICMP errors about nat flows, on the reply path: the quoted packet went to the
	 * backend, the client gets it quoting the VIP, from the VIP (the backend sent it). */
	{ "ICMP nat, IPv4: a flow", .prog = P_XDP,
	  .in = { TCP4("10.9.0.40", 41020, "10.96.0.10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080) },
	{ "ICMP nat, IPv4: the backend's error about it quotes the VIP", .prog = P_TC_REPLY,
	  .icmp = { 0, SAVED, "10.9.0.40", "10.9.0.40", 41020, SAVED, 8080, 20 },
	  .verdict = TC_OK_, .out = OUT_FRAME,
	  .want = { 0, "10.96.0.10", "10.9.0.40", "10.9.0.40", 41020, "10.96.0.10", 80, 20 },
	  .count = { COUNT(L4S_R_ICMP_NAT, 1) } },
	{ "ICMP nat, IPv4: an error about a flow that is not ours is untouched",
	  .prog = P_TC_REPLY,
	  .icmp = { 0, SAVED, "10.9.0.40", "10.9.0.40", 41021, SAVED, 8080, 20 },
	  .verdict = TC_OK_, .out = OUT_SAME },
	{ "ICMP nat, IPv6: a flow", .prog = P_XDP,
	  .in = { TCP6("fd00:9::40", 41020, "fd00:96::10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be6, 8080) },
	{ "ICMP nat, IPv6: the backend's error about it quotes the VIP", .prog = P_TC_REPLY,
	  .icmp = { 1, SAVED, "fd00:9::40", "fd00:9::40", 41020, SAVED, 8080, 20 },
	  .verdict = TC_OK_, .out = OUT_FRAME,
	  .want = { 1, "fd00:96::10", "fd00:9::40", "fd00:9::40", 41020, "fd00:96::10", 80, 20 },
	  .count = { COUNT(L4S_R_ICMP_NAT, 1) } },
	{ "ICMP nat, IPv6: an error about a flow that is not ours is untouched",
	  .prog = P_TC_REPLY,
	  .icmp = { 1, SAVED, "fd00:9::40", "fd00:9::40", 41021, SAVED, 8080, 20 },
	  .verdict = TC_OK_, .out = OUT_SAME },

	/* Lost entries: a forward entry gone (evicted) is chosen again through the same
	 * table, to the same backend, and counted; a reverse entry gone while the forward
	 * one lives is written again by the reply itself (mf4: two frontends, so its
	 * flows keep reverse entries). */
	{ "lost entries: a flow", .prog = P_XDP,
	  .in = { TCP4("10.9.0.9", 41010, "10.96.0.16", 80) },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(mf4_be, 8080) },
	{ "lost entries: forward entry lost, same backend, counted", .fill = flows_clear,
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.9", 41010, "10.96.0.16", 80), .tcp_flags = TCP_F_ACK,
		  .payload = 10 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(mf4_be, 8080), .pick = PICK_SAME,
	  .count = { COUNT(L4S_R_FLOW_LOST, 1) } },
	{ "lost entries: reverse entry lost, the reply repairs it and is translated",
	  .fill = rflows_clear, .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.9", 41010), .tcp_flags = TCP_F_ACK, .payload = 4 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.16", .sport = 80,
	  .count = { COUNT(L4S_R_REPLY_REPAIRED, 1) } },
	{ "lost entries: the next reply finds the repaired entry", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.9", 41010), .tcp_flags = TCP_F_ACK, .payload = 4 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.16", .sport = 80,
	  .count = { COUNT(L4S_R_REPLY_REPAIRED, 0) } },
	{ "lost entries: both gone, the reply is not ours any more", .fill = both_clear,
	  .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.9", 41010), .tcp_flags = TCP_F_ACK, .payload = 4 },
	  .verdict = TC_OK_, .out = OUT_SAME },
	{ "lost entries: the client's next packet makes the flow again, same slot",
	  .prog = P_XDP,
	  .in = { TCP4("10.9.0.9", 41010, "10.96.0.16", 80), .tcp_flags = TCP_F_ACK,
		  .payload = 10 },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(mf4_be, 8080), .pick = PICK_SAME },
	{ "lost entries: and its replies are translated again", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.0.9", 41010), .tcp_flags = TCP_F_ACK, .payload = 4 },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.16", .sport = 80 },

	/* Health signals: SYN retransmissions before an answer, answers, resets. */
	{ "health: a SYN is no retry", .prog = P_XDP,
	  .in = { TCP4("10.9.3.1", 43000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080),
	  .bstat_on = 1, .bstat_w = BS_SYNRTX, .bstat_d = 0 },
	{ "health: the client repeats its SYN: a retry", .prog = P_XDP,
	  .in = { TCP4("10.9.3.1", 43000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .bstat_on = 1, .bstat_w = BS_SYNRTX, .bstat_d = 1 },
	{ "health: and again: another retry", .prog = P_XDP,
	  .in = { TCP4("10.9.3.1", 43000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .bstat_on = 1, .bstat_w = BS_SYNRTX, .bstat_d = 1 },
	{ "health: the backend answers (SYN-ACK): counted", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.3.1", 43000), .tcp_flags = SYNACK },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80,
	  .bstat_on = 1, .bstat_w = BS_ANSWERED, .bstat_d = 1 },
	{ "health: its second SYN-ACK is not counted again", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.3.1", 43000), .tcp_flags = SYNACK },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80,
	  .bstat_on = 1, .bstat_w = BS_ANSWERED, .bstat_d = 0 },
	{ "health: a SYN after the answer is no retry", .prog = P_XDP,
	  .in = { TCP4("10.9.3.1", 43000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN },
	  .verdict = XDP_PASS_, .out = OUT_NAT, DST(be4, 8080), .pick = PICK_SAME,
	  .bstat_on = 1, .bstat_w = BS_SYNRTX, .bstat_d = 0 },
	{ "health: the backend resets: counted", .prog = P_TC_REPLY,
	  .in = { REPLY4("10.9.3.1", 43000), .tcp_flags = TCP_F_RST | TCP_F_ACK },
	  .verdict = TC_OK_, .out = OUT_NAT, .src = "10.96.0.10", .sport = 80,
	  .bstat_on = 1, .bstat_w = BS_RESETS, .bstat_d = 1 },

	/* Not ours: passed byte for byte. */
	{ "not a service: another address", .prog = P_XDP,
	  .in = { TCP4("10.9.0.9", 1234, "10.96.0.99", 80), .payload = 4 },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_NOT_SERVICE, 1) } },
	{ "not a service: another port", .prog = P_XDP,
	  .in = { TCP4("10.9.0.9", 1234, "10.96.0.10", 81) },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_NOT_SERVICE, 1) } },
	{ "not a service: UDP to a TCP-only port", .prog = P_XDP,
	  .in = { UDP4("10.9.0.9", 1234, "10.96.0.10", 80) },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_NOT_SERVICE, 1) } },
	{ "not a service: ICMP to a VIP", .prog = P_XDP,
	  .in = { .proto = 1, .src = "10.9.0.9", .dst = "10.96.0.10" },
	  .verdict = XDP_PASS_, .out = OUT_SAME },
	{ "not a service: IPv6, another address", .prog = P_XDP,
	  .in = { TCP6("fd00:9::9", 1, "fd00:96::11", 80) },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_NOT_SERVICE, 1) } },
	{ "not a service: ARP", .prog = P_XDP, .raw = arp_frame, .raw_len = sizeof(arp_frame),
	  .verdict = XDP_PASS_, .out = OUT_SAME },
	{ "fragments: a first fragment (MF) passes untouched", .prog = P_XDP,
	  .in = { UDP4("10.9.0.10", 1234, "10.96.0.10", 53), .payload = 40, .frag = 0x2000 },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_FRAGMENT, 1) } },
	{ "fragments: a later fragment passes untouched", .prog = P_XDP,
	  .in = { UDP4("10.9.0.10", 1234, "10.96.0.10", 53), .payload = 40, .frag = 0x0010 },
	  .verdict = XDP_PASS_, .out = OUT_SAME, .count = { COUNT(L4S_R_PASS_FRAGMENT, 1) } },

	/* Ours but unusable: dropped, with a counted reason. */
	{ "a service whose only backend has weight 0: a SYN is answered (test_reject)",
	  .prog = P_XDP, .in = { TCP4("10.9.0.11", 1234, "10.96.0.12", 80) },
	  .verdict = XDP_TX_, .out = OUT_NONE, .count = { COUNT(L4S_R_DROP_NO_BACKEND, 1) } },
	{ "a service whose only backend has weight 0: a mid-stream segment is dropped",
	  .prog = P_XDP, .in = { TCP4("10.9.0.11", 1235, "10.96.0.12", 80), .tcp_flags = TCP_F_ACK },
	  .verdict = XDP_DROP_, .out = OUT_NONE, .count = { COUNT(L4S_R_DROP_NO_BACKEND, 1) } },
	{ "a service whose only backend has weight 0: a RST is never answered",
	  .prog = P_XDP, .in = { TCP4("10.9.0.11", 1236, "10.96.0.12", 80), .tcp_flags = TCP_F_RST },
	  .verdict = XDP_DROP_, .out = OUT_NONE, .count = { COUNT(L4S_R_DROP_NO_BACKEND, 1) } },
	{ "a service frame cut inside its TCP header: dropped as truncated", .prog = P_XDP,
	  .in = { TCP4("10.9.0.12", 1234, "10.96.0.10", 80), .payload = 10, .ip_opts = 8 },
	  .trim = 10 + 8,
	  .verdict = XDP_DROP_, .out = OUT_NONE, .count = { COUNT(L4S_R_DROP_TRUNCATED, 1) } },
	{ "a TCP data offset below 5: dropped as malformed", .prog = P_XDP,
	  .in = { TCP4("10.9.0.13", 1234, "10.96.0.10", 80) }, .edit = edit_doff,
	  .verdict = XDP_DROP_, .out = OUT_NONE, .count = { COUNT(L4S_R_DROP_MALFORMED, 1) } },
	{ "an IPv4 IHL below 5: not parseable, passed untouched", .prog = P_XDP,
	  .in = { TCP4("10.9.0.13", 1234, "10.96.0.10", 80) }, .edit = edit_doff_ihl,
	  .verdict = XDP_PASS_, .out = OUT_SAME },
};

/* Run the case's l4split command @cmd, %T and %O replaced by the remembered web4
 * backend's track and the other one's. */
static void run_cmd(const char *cmd)
{
	const char *t = mem.be ? "new" : "old", *o = mem.be ? "old" : "new";
	char buf[256];
	size_t n = 0;
	int rc;

	for (const char *c = cmd; *c && n + 8 < sizeof(buf); c++) {
		if (c[0] == '%' && (c[1] == 'T' || c[1] == 'O')) {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", c[1] == 'T' ? t : o);
			c++;
		} else {
			buf[n++] = *c;
		}
	}
	buf[n] = 0;
	rc = cli("%s", buf);
	if (rc)
		print_message("# setup failed: %s\n", buf);
	assert_int_equal(rc, 0);
}

static const char *remembered(const char *a, int v6)
{
	if (a != SAVED)
		return a;
	return (mem.bes ? mem.bes : v6 ? be6 : be4)[mem.be];
}

static size_t icmp_frame(const struct icmp_spec *s, uint8_t *f)
{
	uint16_t isport = s->isport ? s->isport : mem.port[s->v6][0];

	return icmp_build(s->v6, remembered(s->osrc, s->v6), remembered(s->odst, s->v6),
			  remembered(s->isrc, s->v6), isport, remembered(s->idst, s->v6),
			  s->idport, s->l4q, f);
}

static int prog_fd(int prog)
{
	return prog == P_XDP ? fd_xdp : prog == P_TC_FWD ? fd_tcfwd : fd_tcreply;
}

/* The packet in of case @c, its @i-th send. */
static size_t case_frame(const struct dp_case *c, int i, uint8_t *f, size_t cap)
{
	struct pkt_spec s = c->in;
	size_t len;

	if (c->raw) {
		memcpy(f, c->raw, c->raw_len);
		return c->raw_len;
	}
	if (c->icmp.osrc)
		return icmp_frame(&c->icmp, f);
	s.src = remembered(s.src, s.v6);
	s.sport = (uint16_t)(s.sport + i);
	if (c->in_dport == IN_SNAT_PORT)
		s.dport = mem.port[s.v6][0];
	if (c->in_dport == IN_FREE_PORT)
		s.dport = mem.port[s.v6][0] == 40000 ? 40001 : 40000;
	len = pkt_build(&s, f, cap);
	if (c->edit)
		c->edit(f, len);
	return len - c->trim;
}

/* The SNAT port of the frame out, checked against case @c and remembered. */
static uint16_t snat_port(const struct dp_case *c, int v6, uint16_t port)
{
	int *n = &mem.nport[v6];

	if (c->snat_port == SP_FIRST) {
		assert_int_equal(port, mem.port[v6][0]);
		return port;
	}
	assert_true(port >= 40000 && port <= 40003);
	for (int j = 0; j < *n; j++)
		assert_int_not_equal(port, mem.port[v6][j]); /* never two flows on one port */
	assert_true(*n < 8);
	mem.port[v6][(*n)++] = port;
	return port;
}

/* The packet out case @c expects for @in: built from @in and the case, not from @out
 * (only which backend and which SNAT port were chosen is read from @out, and checked). */
static void expect_nat(const struct dp_case *c, const uint8_t *in, size_t len,
		       const uint8_t *out, size_t olen, uint8_t *exp)
{
	struct pkt_info pi = pkt_info(out, olen);

	memcpy(exp, in, len);
	if (c->bes) {
		int b = which(out, olen, c->bes, c->nb);

		assert_true(b >= 0);
		if (c->pick == PICK_SAME)
			assert_int_equal(b, mem.be);
		if (c->pick == PICK_OTHER)
			assert_int_equal(b, !mem.be);
		if (c->pick == PICK_ANY && c->nb > 1) {
			mem.be = b;
			mem.bes = c->bes == be4 || c->bes == be6 ? NULL : c->bes;
		}
		pkt_set_addr_port(exp, len, 1, c->bes[b], c->bport);
	}
	if (c->src)
		pkt_set_addr_port(exp, len, 0, c->src,
				  c->snat_port ? snat_port(c, pi.v6, pi.sport) : c->sport);
	pkt_fix_csums(exp, len);
	if (c->in.udp_nocsum && !c->in.v6) { /* no UDP checksum in, none out */
		size_t l4 = pkt_info(exp, len).l4;

		exp[l4 + 6] = 0;
		exp[l4 + 7] = 0;
	}
}

/* One send of case @c. */
static void case_send(const struct dp_case *c, int i)
{
	uint8_t in[512], out[2048], exp[512];
	size_t len = case_frame(c, i, in, sizeof(in)), olen;
	int r = run_prog(prog_fd(c->prog), in, len, out, &olen);

	assert_int_equal(r, c->verdict);
	if (c->out == OUT_NONE)
		return;
	assert_int_equal(olen, len);
	switch (c->out) {
	case OUT_SAME:
		assert_memory_equal(out, in, len);
		break;
	case OUT_NAT:
		expect_nat(c, in, len, out, olen, exp);
		assert_memory_equal(out, exp, len);
		assert_true(pkt_csums_ok(out, olen));
		break;
	case OUT_FRAME:
		assert_int_equal(icmp_frame(&c->want, exp), len);
		assert_memory_equal(out, exp, len);
		assert_true(icmp_csums_ok(c->want.v6, out, olen));
		break;
	}
}

/* The driver: setup, the packet(s), then every expectation of the row. */
static void run_case(void **state)
{
	const struct dp_case *c = *state;
	__u64 before[2] = { 0 }, bs = 0;

	if (c->cmd)
		run_cmd(c->cmd);
	if (c->fill)
		c->fill();
	for (int k = 0; k < 2; k++)
		if (c->count[k].on)
			before[k] = reason(c->count[k].r);
	if (c->bstat_on)
		bs = bsum(c->bstat_w);
	for (int i = 0; i < (c->repeat ? c->repeat : 1); i++)
		case_send(c, i);
	for (int k = 0; k < 2; k++)
		if (c->count[k].on)
			assert_int_equal(reason(c->count[k].r), before[k] + c->count[k].d);
	if (c->bstat_on)
		assert_int_equal(bsum(c->bstat_w), bs + c->bstat_d);
	if (c->undo)
		run_cmd(c->undo);
}

/* ------------------------------------------------------------------------------------
 * What does not fit one row: sweeps and statistics over many packets.
 */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16_(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Client-IP affinity with a timeout: 64 clients' first flows spread over both backends;
 * the weights then move 99:1 away from most of them, and every client's new flows (other
 * source ports) stay where they were, while clients never seen follow the weights. Once
 * their entries are older than the timeout (written back in time), and for the backends
 * of a drained track at once, new flows follow the table again. */
static const char *const afft_be[] = { "10.7.0.1", "10.7.0.2" };

static int afft_send(int client, uint16_t sport)
{
	struct pkt_spec s = { TCP4("", sport, "10.96.0.15", 80) };
	uint8_t in[256], out[2048];
	char src[32];
	size_t len, olen;

	snprintf(src, sizeof(src), "10.8.%d.%d", client / 200, 1 + client % 200);
	s.src = src;
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	return which(out, olen, afft_be, 2);
}

/* Move every affinity entry @secs seconds into the past. */
static void afft_age(int secs)
{
	/* Keys first, then the updates: an update of an LRU hash entry makes a new element
	 * at the head of its bucket, so updating while walking with get_next_key can visit
	 * the same entries again, without end. */
	struct l4s_aff_key keys[1024], next;
	struct l4s_aff a;
	void *prev = NULL;
	int n = 0;

	while (n < 1024 && bpf_map_get_next_key(st.affinity, prev, &next) == 0) {
		keys[n] = next;
		prev = &keys[n++];
	}
	assert_true(n > 0 && n < 1024);
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(st.affinity, &keys[i], &a))
			continue;
		a.last_ns -= (__u64)secs * 1000000000ull;
		assert_int_equal(bpf_map_update_elem(st.affinity, &keys[i], &a, BPF_EXIST), 0);
	}
}

static void test_affinity_timeout(void **state)
{
	int first[64], on_a = 0, kept = 0, fresh_b = 0, moved = 0;

	(void)state;
	assert_true(st.affinity >= 0);
	for (int c = 0; c < 64; c++) {
		first[c] = afft_send(c, 1000);
		assert_true(first[c] >= 0);
		on_a += first[c] == 0;
	}
	print_message("# 64 clients at 1:1: %d on a\n", on_a);
	assert_true(on_a > 10 && on_a < 54);
	/* Weights move: a=1 b=99. Within the timeout, everyone stays. */
	run_cmd("weight afft a=1 b=99");
	for (int c = 0; c < 64; c++)
		kept += afft_send(c, 2000) == first[c];
	assert_int_equal(kept, 64);
	/* Clients never seen follow the weights. */
	for (int c = 100; c < 164; c++)
		fresh_b += afft_send(c, 1000) == 1;
	print_message("# 64 new clients at 1:99: %d on b\n", fresh_b);
	assert_true(fresh_b >= 58);
	/* 99 s later (the timeout is 100): still kept, and refreshed by these flows. */
	afft_age(99);
	kept = 0;
	for (int c = 0; c < 64; c++)
		kept += afft_send(c, 3000) == first[c];
	assert_int_equal(kept, 64);
	/* 101 s after their last new flow: the table chooses, most of a's clients move. */
	afft_age(101);
	for (int c = 0; c < 64; c++) {
		int b = afft_send(c, 4000);

		moved += first[c] == 0 && b == 1;
		first[c] = b; /* remembered anew */
	}
	print_message("# after the timeout: %d of %d clients of a moved to b\n", moved, on_a);
	assert_true(moved >= on_a - 3 && moved > 0);
	/* A drained backend is not kept, timeout or not: a=1 b=0 sends everyone to a. */
	run_cmd("weight afft a=1 b=0");
	for (int c = 0; c < 64; c++)
		assert_int_equal(afft_send(c, 5000), 0);
	run_cmd("weight afft a=1 b=1");
}

/*
 * Connect time: a flow's first packet (SYN, first UDP datagram) starts it, the backend's
 * first answer through the reply path ends it, and the time lands in that backend's
 * histogram (l4s_bconnect), in the bucket of its length, once per flow. The start is
 * written back in time by a known amount, so the bucket is known.
 */
static __u32 ct_backend_id(const char *addr, uint16_t port)
{
	const struct l4s_backend *bes = state_backends(&st);
	uint8_t a[16] = { 0 };

	assert_non_null(bes);
	assert_int_equal(inet_pton(AF_INET, addr, a), 1);
	for (__u32 id = 0; id < st.be_max; id++)
		if ((bes[id].flags & L4S_BE_F_IN_USE) && bes[id].port == htons(port) &&
		    !memcmp(&bes[id].addr.addr[0], a, 4))
			return id;
	fail_msg("no backend %s:%u", addr, port);
	return 0;
}

/*
 * Flows waiting for their first answer: a start in l4s_cstart (SNAT flows), in the
 * forward entry (nat flows without a reverse entry, start_us) or in the reverse entry
 * (other nat flows, start_ns). Each start becomes @fn(start, @arg) when @fn is
 * given; returns how many there are. The keys are listed first: an LRU map's update
 * puts the entry at its bucket's head, where a walk would meet it again.
 */
#define CT_MAX 4096
static int ct_each(__u64 (*fn)(__u64 start, __u64 arg), __u64 arg)
{
	static struct l4s_flow_key keys[CT_MAX];
	const int maps[2] = { st.cstart, st.rflows };
	static struct l4s_flow_key fkeys[CT_MAX];
	struct l4s_flow_key k, next;
	struct l4s_rflow rf;
	struct l4s_flow f;
	void *fprev = NULL;
	int n = 0, nf = 0;

	/* Flows without a reverse entry: the start in the forward entry (microseconds). */
	while (bpf_map_get_next_key(st.flows, fprev, &next) == 0 && nf < CT_MAX) {
		k = next;
		fprev = &k;
		fkeys[nf++] = k;
	}
	for (int i = 0; i < nf; i++) {
		__u64 t;

		if (bpf_map_lookup_elem(st.flows, &fkeys[i], &f) ||
		    (f.flags & (L4S_FLOW_F_NOREV | L4S_FLOW_F_TIMED)) !=
			    (L4S_FLOW_F_NOREV | L4S_FLOW_F_TIMED))
			continue;
		n++;
		if (!fn)
			continue;
		t = fn((__u64)f.start_us * 1000, arg);
		if (!t)
			f.flags &= ~L4S_FLOW_F_TIMED;
		f.start_us = (__u32)(t / 1000);
		assert_int_equal(bpf_map_update_elem(st.flows, &fkeys[i], &f, BPF_EXIST), 0);
	}

	for (int m = 0; m < 2; m++) {
		void *prev = NULL;
		int nk = 0;

		while (bpf_map_get_next_key(maps[m], prev, &next) == 0 && nk < CT_MAX) {
			k = next;
			prev = &k;
			keys[nk++] = k;
		}
		for (int i = 0; i < nk; i++) {
			__u64 *t = m ? &rf.start_ns : (__u64 *)&rf;

			if (bpf_map_lookup_elem(maps[m], &keys[i], m ? (void *)&rf : (void *)t) ||
			    !*t)
				continue;
			n++;
			if (!fn)
				continue;
			*t = fn(*t, arg);
			assert_int_equal(bpf_map_update_elem(maps[m], &keys[i], m ? (void *)&rf :
									      (void *)t,
							     BPF_EXIST), 0);
		}
	}
	return n;
}

static __u64 ct_zero(__u64 start, __u64 unused)
{
	(void)start;
	(void)unused;
	return 0;
}

/* An IPv4 flow key. */
static struct l4s_flow_key ct_key4(int udp, const char *src, uint16_t sport, const char *dst,
				   uint16_t dport)
{
	struct l4s_flow_key k = { .sport = htons(sport), .dport = htons(dport),
				  .proto = udp ? IPPROTO_UDP : IPPROTO_TCP,
				  .family = L4S_AF_INET };

	assert_int_equal(inet_pton(AF_INET, src, &k.src.addr[0]), 1);
	assert_int_equal(inet_pton(AF_INET, dst, &k.dst.addr[0]), 1);
	return k;
}

/*
 * Move the start of one flow waiting for its first answer @us microseconds back: in
 * its forward entry (a flow without a reverse entry), its reverse entry (backend
 * @be:@bport -> @client:@sport) or in l4s_cstart (its forward key, to @vip:@vport). By key, not by a walk of the maps: a walk of a 1M-entry
 * table takes milliseconds on a slow machine, and would count in the time measured.
 * Returns in how many places it was found.
 */
static int ct_age(int udp, const char *client, uint16_t sport, const char *vip, uint16_t vport,
		  const char *be, uint16_t bport, __u64 us)
{
	struct l4s_flow_key fk = ct_key4(udp, client, sport, vip, vport);
	struct l4s_flow_key rk = ct_key4(udp, be, bport, client, sport);
	struct l4s_rflow rf;
	struct l4s_flow f;
	__u64 t;
	int n = 0;

	if (!bpf_map_lookup_elem(st.flows, &fk, &f) && (f.flags & L4S_FLOW_F_TIMED)) {
		f.start_us -= (__u32)us;
		assert_int_equal(bpf_map_update_elem(st.flows, &fk, &f, BPF_EXIST), 0);
		n++;
	}
	if (!bpf_map_lookup_elem(st.cstart, &fk, &t)) {
		t -= us * 1000;
		assert_int_equal(bpf_map_update_elem(st.cstart, &fk, &t, BPF_EXIST), 0);
		n++;
	}
	if (!bpf_map_lookup_elem(st.rflows, &rk, &rf) && rf.start_ns) {
		rf.start_ns -= us * 1000;
		assert_int_equal(bpf_map_update_elem(st.rflows, &rk, &rf, BPF_EXIST), 0);
		n++;
	}
	return n;
}

static int ct_pending(void)
{
	return ct_each(NULL, 0);
}

/* No flow waits for its first answer (nat flows' reverse entries stay, untimed). */
static void ct_clear(void)
{
	struct l4s_flow_key k;

	ct_each(ct_zero, 0);
	while (bpf_map_get_next_key(st.cstart, NULL, &k) == 0)
		bpf_map_delete_elem(st.cstart, &k);
}

/* Send the first packet of a flow from @client:@sport to @vip:@vport, age it by @us,
 * answer it from its backend with @flags (TCP) and return the backend's index in @bes. */
static int ct_flow(int udp, const char *client, uint16_t sport, const char *vip, uint16_t vport,
		   const char *const *bes, uint16_t bport, __u64 us, uint8_t flags)
{
	struct pkt_spec s = { .proto = udp ? IPPROTO_UDP : IPPROTO_TCP, .src = client,
			      .sport = sport, .dst = vip, .dport = vport };
	uint8_t in[256], out[2048];
	size_t len, olen;
	int b;

	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	b = which(out, olen, bes, 2);
	assert_true(b >= 0);
	assert_int_equal(ct_age(udp, client, sport, vip, vport, bes[b], bport, us), 1);
	s = (struct pkt_spec){ .proto = udp ? IPPROTO_UDP : IPPROTO_TCP, .src = bes[b],
			       .sport = bport, .dst = client, .dport = sport, .tcp_flags = flags };
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	return b;
}

static void test_connect_time(void **state)
{
	struct l4s_connect_hist h0[2], h1[2];
	__u32 web[2], dns[2];
	int b;

	(void)state;
	assert_true(st.cstart >= 0 && st.bconnect >= 0);
	ct_clear();
	for (int i = 0; i < 2; i++) {
		web[i] = ct_backend_id(be4[i], 8080);
		dns[i] = ct_backend_id(be4[i], 5353);
		assert_int_equal(state_connect_hist(&st, web[i], &h0[i]), 0);
	}
	/* SYN, then 3 ms later the SYN-ACK: bucket (2.5 ms, 5 ms] of that backend only. */
	b = ct_flow(0, "10.9.7.1", 41000, "10.96.0.10", 80, be4, 8080, 3000,
		    TCP_F_SYN | TCP_F_ACK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(state_connect_hist(&st, web[i], &h1[i]), 0);
	for (int k = 0; k < L4S_CONNECT_BUCKETS; k++) {
		assert_int_equal(h1[b].count[k] - h0[b].count[k], k == 6);
		assert_int_equal(h1[!b].count[k], h0[!b].count[k]);
	}
	assert_true(h1[b].sum_ns - h0[b].sum_ns >= 3000000ull &&
		    h1[b].sum_ns - h0[b].sum_ns < 5000000ull);
	assert_int_equal(ct_pending(), 0); /* taken out: counted once */
	/* Its next replies count nothing more. */
	{
		struct pkt_spec s = { TCP4(be4[b], 8080, "10.9.7.1", 41000),
				      .tcp_flags = TCP_F_ACK | TCP_F_PSH, .payload = 10 };
		uint8_t in[256], out[2048];
		size_t len = pkt_build(&s, in, sizeof(in)), olen;

		assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
		assert_int_equal(state_connect_hist(&st, web[b], &h0[b]), 0);
		assert_memory_equal(&h0[b], &h1[b], sizeof(h1[b]));
	}
	/* A reset is no answer: not counted, and forgotten. */
	b = ct_flow(0, "10.9.7.2", 41000, "10.96.0.10", 80, be4, 8080, 100, TCP_F_RST | TCP_F_ACK);
	assert_int_equal(state_connect_hist(&st, web[b], &h0[b]), 0);
	assert_memory_equal(&h0[b], &h1[b], sizeof(h1[b]));
	assert_int_equal(ct_pending(), 0);

	/* UDP: first datagram, its first reply 700 ms later: bucket (500 ms, 1 s]. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(state_connect_hist(&st, dns[i], &h0[i]), 0);
	b = ct_flow(1, "10.9.7.3", 41000, "10.96.0.10", 53, be4, 5353, 700000, 0);
	assert_int_equal(state_connect_hist(&st, dns[b], &h1[b]), 0);
	for (int k = 0; k < L4S_CONNECT_BUCKETS; k++)
		assert_int_equal(h1[b].count[k] - h0[b].count[k], k == 13);
	/* 3 s is past the last bound: +Inf. */
	assert_int_equal(state_connect_hist(&st, web[0], &h0[0]), 0);
	assert_int_equal(state_connect_hist(&st, web[1], &h0[1]), 0);
	b = ct_flow(0, "10.9.7.4", 41000, "10.96.0.10", 80, be4, 8080, 3000000,
		    TCP_F_SYN | TCP_F_ACK);
	assert_int_equal(state_connect_hist(&st, web[b], &h1[b]), 0);
	assert_int_equal(h1[b].count[L4S_CONNECT_BUCKETS - 1] - h0[b].count[L4S_CONNECT_BUCKETS - 1],
			 1);
	/* The counters of a backend id start from zero when the id is given again. */
	assert_int_equal(state_zero_backend_counters(&st, web[b]), 0);
	assert_int_equal(state_connect_hist(&st, web[b], &h1[b]), 0);
	memset(&h0[b], 0, sizeof(h0[b]));
	assert_memory_equal(&h1[b], &h0[b], sizeof(h1[b]));
	flows_clear();
	rflows_clear();
}

/* Entries in l4s_cstart. */
static int cstart_count(void)
{
	struct l4s_flow_key k, next;
	void *prev = NULL;
	int n = 0;

	while (bpf_map_get_next_key(st.cstart, prev, &next) == 0) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* Entries in l4s_rflows. */
static int rflows_count(void)
{
	struct l4s_flow_key k, next;
	void *prev = NULL;
	int n = 0;

	while (bpf_map_get_next_key(st.rflows, prev, &next) == 0) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* A TCP packet @client:@sport -> @vip:80 with @flags through the XDP program: the
 * backend it went to (its address in @be, 16 bytes), its forward entry's flags in
 * @fflags. */
static void nr_open(const char *client, uint16_t sport, const char *vip, uint8_t flags,
		    char *be, __u32 *fflags)
{
	struct pkt_spec s = { TCP4(client, sport, vip, 80), .tcp_flags = flags };
	uint8_t in[256], out[2048];
	struct l4s_flow_key fk = ct_key4(0, client, sport, vip, 80);
	struct l4s_flow f;
	struct pkt_info pi;
	size_t len = pkt_build(&s, in, sizeof(in)), olen;

	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	pi = pkt_info(out, olen);
	assert_true(pi.ok && pi.dport == 8080);
	assert_non_null(inet_ntop(AF_INET, pi.dst, be, 16));
	assert_int_equal(bpf_map_lookup_elem(st.flows, &fk, &f), 0);
	*fflags = f.flags;
}

/* A reply @be:8080 -> @client:@sport with @flags through the tc reply program: 1 when
 * it left with source @want:80 and right checksums, 0 when untouched. */
static int nr_reply(const char *be, const char *client, uint16_t sport, uint8_t flags,
		    const char *want)
{
	struct pkt_spec s = { TCP4(be, 8080, client, sport), .tcp_flags = flags, .payload = 4 };
	uint8_t in[256], out[2048], w[4];
	struct pkt_info pi;
	size_t len = pkt_build(&s, in, sizeof(in)), olen;

	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	if (olen == len && !memcmp(in, out, len))
		return 0;
	pi = pkt_info(out, olen);
	assert_int_equal(inet_pton(AF_INET, want, w), 1);
	assert_true(pi.ok && pkt_csums_ok(out, olen));
	assert_memory_equal(pi.src, w, 4);
	assert_int_equal(pi.sport, 80);
	return 1;
}

/* Run `l4split apply` on @doc (JSON). */
static int nr_apply(const char *doc)
{
	char path[] = "/tmp/l4s-dp-applyXXXXXX";
	int fd = mkstemp(path), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);
	rc = cli("apply %s", path);
	unlink(path);
	return rc;
}

/*
 * Issue 20: a nat flow to a service with one frontend of its family keeps no reverse
 * entry (one LRU insert fewer per new flow); its replies are matched through the
 * backend's no-reverse-entry record and its forward entry. Flows through a service
 * with two frontends, or to a backend another service holds the record of, keep
 * theirs. A service that gains a frontend, or a second service taking the same
 * backend, never breaks the replies of flows that began before.
 */
static void test_norev(void **state)
{
	char be[16], be2[16], bs[16];
	__u32 ff;
	int r0;

	(void)state;
	both_clear();
	/* One frontend: no reverse entry; answered, closed, in the forward entry. */
	r0 = rflows_count();
	nr_open("10.9.11.1", 42000, "10.96.0.10", TCP_F_SYN, be, &ff);
	assert_int_equal(rflows_count(), r0);
	assert_true(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(be, "10.9.11.1", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.10"));
	nr_open("10.9.11.1", 42000, "10.96.0.10", TCP_F_ACK, be2, &ff);
	assert_string_equal(be2, be);
	assert_true(ff & L4S_FLOW_F_ANSWERED);
	assert_false(ff & L4S_FLOW_F_TIMED);
	/* Not the backend of that flow: not ours. */
	assert_false(nr_reply(strcmp(be, be4[0]) ? be4[0] : be4[1], "10.9.11.1", 42000,
			      TCP_F_ACK, "10.96.0.10"));
	assert_true(nr_reply(be, "10.9.11.1", 42000, TCP_F_FIN | TCP_F_ACK, "10.96.0.10"));
	nr_open("10.9.11.1", 42000, "10.96.0.10", TCP_F_ACK, be2, &ff);
	assert_true(ff & L4S_FLOW_F_CLOSED);
	/* ... and the last ACK after the close is still translated. */
	assert_true(nr_reply(be, "10.9.11.1", 42000, TCP_F_ACK, "10.96.0.10"));

	/* Two frontends: a reverse entry, the reply leaves as the frontend used. */
	nr_open("10.9.11.2", 42000, "10.96.0.17", TCP_F_SYN, be, &ff);
	assert_int_equal(rflows_count(), r0 + 1);
	assert_false(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(be, "10.9.11.2", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.17"));

	/* tr4: one frontend, a flow without reverse entry ... */
	assert_int_equal(nr_apply("{\"services\": [{\"name\": \"tr4\", \"vip\": \"10.96.0.18:80/tcp\","
				  " \"backends\": [{\"addr\": \"10.8.1.1:8080\"}]}]}"), 0);
	nr_open("10.9.11.3", 42000, "10.96.0.18", TCP_F_SYN, be, &ff);
	assert_string_equal(be, "10.8.1.1");
	assert_true(ff & L4S_FLOW_F_NOREV);
	/* ... then a second frontend, listed first: the old flow's replies still leave as
	 * 10.96.0.18; new flows through either keep reverse entries. */
	assert_int_equal(nr_apply("{\"services\": [{\"name\": \"tr4\", \"frontends\": "
				  "[\"10.96.0.19:80/tcp\", \"10.96.0.18:80/tcp\"],"
				  " \"backends\": [{\"addr\": \"10.8.1.1:8080\"}]}]}"), 0);
	assert_true(nr_reply(be, "10.9.11.3", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.18"));
	r0 = rflows_count();
	nr_open("10.9.11.4", 42000, "10.96.0.18", TCP_F_SYN, be, &ff);
	assert_false(ff & L4S_FLOW_F_NOREV);
	nr_open("10.9.11.5", 42000, "10.96.0.19", TCP_F_SYN, be, &ff);
	assert_false(ff & L4S_FLOW_F_NOREV);
	assert_int_equal(rflows_count(), r0 + 2);
	assert_true(nr_reply(be, "10.9.11.4", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.18"));
	assert_true(nr_reply(be, "10.9.11.5", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.19"));

	/* sh4 (one frontend) takes the same backend: tr4 keeps the record, so sh4's flows
	 * keep reverse entries, and both services' flows are translated. */
	assert_int_equal(nr_apply("{\"services\": [{\"name\": \"sh4\", \"vip\": \"10.96.0.20:80/tcp\","
				  " \"backends\": [{\"addr\": \"10.8.1.1:8080\"}]}]}"), 0);
	nr_open("10.9.11.6", 42000, "10.96.0.20", TCP_F_SYN, bs, &ff);
	assert_false(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(bs, "10.9.11.6", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.20"));
	assert_true(nr_reply(be, "10.9.11.3", 42000, TCP_F_ACK, "10.96.0.18"));
	assert_true(nr_reply(be, "10.9.11.4", 42000, TCP_F_ACK, "10.96.0.18"));
	/* tr4 goes: sh4's flow is still translated (its reverse entry). */
	assert_int_equal(cli("service del tr4"), 0);
	assert_true(nr_reply(bs, "10.9.11.6", 42000, TCP_F_ACK, "10.96.0.20"));
	assert_int_equal(cli("service del sh4"), 0);

	/* One client port, one backend, two services in turn: the later flow gets the
	 * backend's replies (the backend talks to it now), as with reverse entries. */
	assert_int_equal(nr_apply("{\"services\": [{\"name\": \"co4\", \"vip\": \"10.96.0.21:80/tcp\","
				  " \"backends\": [{\"addr\": \"10.8.2.1:8080\"}]}]}"), 0);
	assert_int_equal(nr_apply("{\"services\": [{\"name\": \"cb4\", \"vip\": \"10.96.0.22:80/tcp\","
				  " \"backends\": [{\"addr\": \"10.8.2.1:8080\"}]}]}"), 0);
	nr_open("10.9.12.1", 42000, "10.96.0.21", TCP_F_SYN, be, &ff);
	assert_true(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(be, "10.9.12.1", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.21"));
	assert_true(nr_reply(be, "10.9.12.1", 42000, TCP_F_FIN | TCP_F_ACK, "10.96.0.21"));
	nr_open("10.9.12.1", 42000, "10.96.0.22", TCP_F_SYN, be, &ff);
	assert_false(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(be, "10.9.12.1", 42000, TCP_F_SYN | TCP_F_ACK, "10.96.0.22"));
	assert_true(nr_reply(be, "10.9.12.1", 42000, TCP_F_ACK, "10.96.0.22"));
	/* ... and the other way round: the one-frontend service's new flow wins. */
	nr_open("10.9.12.1", 42001, "10.96.0.22", TCP_F_SYN, be, &ff);
	assert_true(nr_reply(be, "10.9.12.1", 42001, TCP_F_SYN | TCP_F_ACK, "10.96.0.22"));
	nr_open("10.9.12.1", 42001, "10.96.0.21", TCP_F_SYN, be, &ff);
	assert_true(ff & L4S_FLOW_F_NOREV);
	assert_true(nr_reply(be, "10.9.12.1", 42001, TCP_F_SYN | TCP_F_ACK, "10.96.0.21"));
	assert_int_equal(cli("service del co4"), 0);
	assert_int_equal(cli("service del cb4"), 0);
	both_clear();
}

/*
 * Issue 20: a new nat flow's connect-time start rides in an entry it writes anyway
 * (the forward entry of a flow without a reverse entry, or the reverse entry), not in
 * an l4s_cstart entry of its own (one LRU insert fewer per new flow); its first
 * answer is still timed (test_connect_time).
 */
static void test_connect_start_no_extra_insert(void **state)
{
	struct pkt_spec s = { TCP4("10.9.7.9", 41000, "10.96.0.10", 80), .tcp_flags = TCP_F_SYN };
	uint8_t in[256], out[2048];
	size_t len, olen;

	(void)state;
	ct_clear();
	both_clear();
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	assert_true(which(out, olen, be4, 2) >= 0);
	assert_int_equal(cstart_count(), 0);
	assert_int_equal(ct_pending(), 1); /* waiting for its answer, in the reverse entry */
	s = (struct pkt_spec){ .proto = IPPROTO_UDP, .src = "10.9.7.9", .sport = 41000,
			       .dst = "10.96.0.10", .dport = 53 };
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	assert_int_equal(cstart_count(), 0);
	assert_int_equal(ct_pending(), 2);
	ct_clear();
	both_clear();
}

/* Reject: a new flow to a service without a backend of weight > 0 is answered, out of
 * the device it came in on. */
struct reject_case {
	const char *what;
	int prog;
	struct pkt_spec in;
	size_t want_quote; /* UDP: bytes of the datagram quoted (0: TCP, a RST) */
};

static const struct reject_case reject_cases[] = {
	{ "XDP, IPv4 TCP SYN", P_XDP, { TCP4("10.9.1.1", 41000, "10.96.0.12", 80) }, 0 },
	{ "XDP, IPv4 TCP SYN with payload, options and a VLAN tag", P_XDP,
	  { TCP4("10.9.1.1", 41001, "10.96.0.12", 80), .payload = 13, .ip_opts = 8, .vlan = 1,
	    .seq = 0xfffffff0 }, 0 },
	{ "XDP, IPv6 TCP SYN", P_XDP, { TCP6("fd00:9::1", 41002, "fd00:96::12", 80) }, 0 },
	{ "XDP, IPv6 TCP SYN with an extension header and payload", P_XDP,
	  { TCP6("fd00:9::1", 41003, "fd00:96::12", 80), .v6_exthdr = 1, .payload = 5 }, 0 },
	{ "tc, IPv4 TCP SYN", P_TC_FWD, { TCP4("10.9.1.1", 41004, "10.96.0.12", 80) }, 0 },
	{ "tc, IPv6 TCP SYN", P_TC_FWD, { TCP6("fd00:9::1", 41005, "fd00:96::12", 80) }, 0 },
	{ "XDP, IPv4 UDP", P_XDP, { UDP4("10.9.1.1", 41006, "10.96.0.12", 53), .payload = 12 },
	  20 + 8 + 12 },
	{ "XDP, IPv4 UDP of 600 bytes: quoted up to 576 bytes out", P_XDP,
	  { UDP4("10.9.1.1", 41007, "10.96.0.12", 53), .payload = 572 }, 576 - 28 },
	{ "XDP, IPv4 UDP, odd length: quote cut to 4-byte words", P_XDP,
	  { UDP4("10.9.1.1", 41008, "10.96.0.12", 53), .payload = 3, .vlan = 1 }, 28 + 0 },
	{ "XDP, IPv6 UDP (a service with no backend at all)", P_XDP,
	  { UDP6("fd00:9::1", 41009, "fd00:96::12", 53), .payload = 100 }, 40 + 8 + 100 },
	{ "XDP, IPv6 UDP of 1400 bytes: quoted up to 1280 bytes out", P_XDP,
	  { UDP6("fd00:9::1", 41010, "fd00:96::12", 53), .payload = 1352 }, 1280 - 48 },
	{ "tc, IPv4 UDP", P_TC_FWD, { UDP4("10.9.1.1", 41011, "10.96.0.12", 53), .payload = 40 },
	  20 + 8 + 40 },
	{ "tc, IPv6 UDP", P_TC_FWD, { UDP6("fd00:9::1", 41012, "fd00:96::12", 53), .payload = 400 },
	  40 + 8 + 400 },
	{ "tc, IPv6 UDP of 1400 bytes", P_TC_FWD,
	  { UDP6("fd00:9::1", 41013, "fd00:96::12", 53), .payload = 1352 }, 1280 - 48 },
};

/* The IP header of a reply built by the datapath: fresh, from the VIP to the client. */
static void check_reject_ip(const struct reject_case *c, const uint8_t *in, const uint8_t *ip,
			    int v6, uint8_t proto, size_t l4len)
{
	struct pkt_info pi = pkt_info(in, 2048);

	if (v6) {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16_(ip + 4), l4len);
		assert_int_equal(ip[6], proto);
		assert_int_equal(ip[7], 64);
		assert_memory_equal(ip + 8, pi.dst, 16);
		assert_memory_equal(ip + 24, pi.src, 16);
	} else {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(get16_(ip + 2), 20 + l4len);
		assert_int_equal(ip[8], 64);
		assert_int_equal(ip[9], proto);
		assert_int_equal(get16_(ip + 6) & 0x3fff, 0); /* not a fragment */
		assert_memory_equal(ip + 12, pi.dst, 4);
		assert_memory_equal(ip + 16, pi.src, 4);
		assert_int_equal(inet_sum(ip, 20), 0xffff);
	}
	(void)c;
}

static void test_reject(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(reject_cases) / sizeof(reject_cases[0]); k++) {
		const struct reject_case *c = &reject_cases[k];
		uint8_t in[2048], out[2048];
		size_t len = pkt_build(&c->in, in, sizeof(in)), olen;
		struct pkt_info pi = pkt_info(in, len);
		size_t l2 = c->in.vlan ? 18 : 14, iph = c->in.v6 ? 40 : 20;
		__u64 nb = reason(L4S_R_DROP_NO_BACKEND);
		int r = run_prog(prog_fd(c->prog), in, len, out, &olen);
		const uint8_t *ip = out + l2, *l4 = ip + iph;

		print_message("# reject: %s\n", c->what);
		assert_int_equal(r, c->prog == P_XDP ? XDP_TX_ : TC_REDIRECT_);
		assert_int_equal(reason(L4S_R_DROP_NO_BACKEND), nb + 1); /* counted as before */
		/* L2: the MACs swapped, the VLAN tag and the ethertype kept. */
		assert_memory_equal(out, in + 6, 6);
		assert_memory_equal(out + 6, in, 6);
		assert_memory_equal(out + 12, in + 12, l2 - 12);
		if (!c->want_quote) {
			size_t tcplen = len - pi.l4 - 20; /* payload */
			uint32_t want_ack = (c->in.seq ? c->in.seq : 0x01020304) + 1 + (uint32_t)tcplen;

			assert_int_equal(olen, l2 + iph + 20);
			check_reject_ip(c, in, ip, c->in.v6, IPPROTO_TCP, 20);
			assert_int_equal(get16_(l4), c->in.dport);
			assert_int_equal(get16_(l4 + 2), c->in.sport);
			assert_int_equal(get32(l4 + 4), 0);
			assert_int_equal(get32(l4 + 8), want_ack);
			assert_int_equal(l4[12], 5 << 4);
			assert_int_equal(l4[13], TCP_F_RST | TCP_F_ACK);
			assert_true(pkt_csums_ok(out, olen)); /* recomputed from scratch */
		} else {
			size_t q = c->want_quote;

			assert_int_equal(olen, l2 + iph + 8 + q);
			check_reject_ip(c, in, ip, c->in.v6, c->in.v6 ? 58 : 1, 8 + q);
			assert_int_equal(l4[0], c->in.v6 ? 1 : 3);
			assert_int_equal(l4[1], c->in.v6 ? 4 : 3);
			assert_int_equal(get32(l4 + 4), 0);
			/* The datagram from its IP header on, as it came in. */
			assert_memory_equal(l4 + 8, in + l2, q);
			assert_int_equal(icmp_sum(c->in.v6, ip, l4, 8 + q), 0xffff);
		}
	}
}

/* The same service: an established UDP flow keeps its path (no reply to it), and a
 * packet that is not for a frontend is not answered either. */
static void test_reject_only_new(void **state)
{
	struct pkt_spec s = { UDP4("10.9.1.2", 42000, "10.96.0.12", 53), .payload = 8 };
	struct l4s_flow_key k = { 0 };
	struct l4s_flow f = { 0 };
	uint8_t in[256], out[2048];
	size_t len = pkt_build(&s, in, sizeof(in)), olen;

	(void)state;
	inet_pton(AF_INET, "10.9.1.2", &k.src.addr[0]);
	inet_pton(AF_INET, "10.96.0.12", &k.dst.addr[0]);
	k.sport = htons(42000);
	k.dport = htons(53);
	k.proto = IPPROTO_UDP;
	k.family = L4S_AF_INET;
	f.backend_id = 0xfffe; /* a backend that went away */
	assert_int_equal(bpf_map_update_elem(st.flows, &k, &f, BPF_ANY), 0);
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_DROP_);
	bpf_map_delete_elem(st.flows, &k);
	s.dst = "10.96.0.99";
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	assert_memory_equal(out, in, len);
}

/* ------------------------------------------------------------------------------------
 * The rare paths out of the fast program (issue 20): the reject, a new flow's SNAT port
 * and the ICMP translation are l4s_xdp_slow's / l4s_tc_slow's, tail-called through
 * l4s_xtail / l4s_ttail. Filled (as load_object leaves them), each answers as before and
 * counts once; empty, each is dropped (the ICMP error passed untranslated) and counted
 * as slow_path_missing, and the paths that need no slot go on.
 */
static struct l4s_service_stats svc_stats(const char *name)
{
	struct l4s_service_stats ss = { 0 };
	__u32 id;

	assert_int_equal(state_service_id(&st, name, 0, &id), 0);
	assert_int_equal(state_service_stats(&st, id, &ss), 0);
	return ss;
}

static void tail_slots(int filled)
{
	struct bpf_map *m[2] = { skel->maps.l4s_xtail, skel->maps.l4s_ttail };
	struct bpf_program *p[2] = { skel->progs.l4s_xdp_slow, skel->progs.l4s_tc_slow };
	__u32 key = L4S_TAIL_SLOW;

	for (int i = 0; i < 2; i++) {
		int fd = bpf_program__fd(p[i]);

		if (filled)
			assert_int_equal(bpf_map_update_elem(bpf_map__fd(m[i]), &key, &fd, BPF_ANY), 0);
		else
			bpf_map_delete_elem(bpf_map__fd(m[i]), &key);
	}
}

/* Run @s through @prog; the verdict must be @want, and the reason counters @r move
 * by @d (exactly). Returns the frame's length; the frame in @in, the output in @out. */
static size_t tail_run(int prog, const struct pkt_spec *s, int want, const enum l4s_reason *r,
		       const __u64 *d, int nr, uint8_t *in, uint8_t *out, size_t *olen)
{
	size_t len = pkt_build(s, in, 2048);
	__u64 before[4];

	for (int i = 0; i < nr; i++)
		before[i] = reason(r[i]);
	print_message("# %s %s:%u -> %s:%u\n", prog == P_XDP ? "xdp" : "tc", s->src, s->sport,
		      s->dst, s->dport);
	assert_int_equal(run_prog(prog_fd(prog), in, len, out, olen), want);
	for (int i = 0; i < nr; i++)
		assert_int_equal(reason(r[i]) - before[i], d[i]);
	return len;
}

static void test_tail_calls(void **state)
{
	static const enum l4s_reason rej[] = { L4S_R_DROP_NO_BACKEND, L4S_R_NO_SLOW };
	static const enum l4s_reason snr[] = { L4S_R_SNAT_NEW, L4S_R_FLOW_NEW, L4S_R_NO_SLOW };
	static const uint8_t node4[4] = { 10, 99, 0, 1 };
	struct pkt_spec syn = { TCP4("10.9.2.1", 43000, "10.96.0.12", 80) };
	struct pkt_spec sn = { TCP4("10.9.2.2", 43100, "10.96.0.61", 80), .tcp_flags = TCP_F_SYN,
			       .seq = 5 };
	struct pkt_spec web = { TCP4("10.9.2.3", 43200, "10.96.0.10", 80) };
	struct l4s_service_stats z0, z1, s0, s1;
	uint8_t in[2048], out[2048], icmp[256], want[256];
	size_t len, olen, ilen;
	struct pkt_info pi;
	uint16_t port;

	(void)state;
	assert_int_equal(cli("service add tailsn 10.96.0.61:80/tcp --mode snat"), 0);
	assert_int_equal(cli("backend add tailsn 10.6.0.9:8080"), 0);

	/* Filled: the reject at both hooks, counted once (the fast program counted the
	 * service's packet, the slow one the rest). */
	for (int prog = P_XDP; prog <= P_TC_FWD; prog++) {
		z0 = svc_stats("zero");
		tail_run(prog, &syn, prog == P_XDP ? XDP_TX_ : TC_REDIRECT_, rej,
			 (const __u64[]){ 1, 0 }, 2, in, out, &olen);
		z1 = svc_stats("zero");
		assert_int_equal(z1.packets - z0.packets, 1);
		assert_int_equal(z1.no_backend - z0.no_backend, 1);
		assert_int_equal(out[14 + 20 + 13], TCP_F_RST | TCP_F_ACK); /* a RST out */
		syn.sport++;
	}
	/* A new SNAT flow gets a port of the range, counted once. */
	s0 = svc_stats("tailsn");
	tail_run(P_XDP, &sn, XDP_PASS_, snr, (const __u64[]){ 1, 1, 0 }, 3, in, out, &olen);
	s1 = svc_stats("tailsn");
	assert_int_equal(s1.packets - s0.packets, 1);
	assert_int_equal(s1.flows - s0.flows, 1);
	pi = pkt_info(out, olen);
	assert_memory_equal(pi.src, node4, 4);
	port = pi.sport;
	assert_true(port >= 40000 && port <= 40003);
	/* An ICMP error about it goes back to the client. */
	ilen = icmp_build(0, "10.210.0.2", "10.99.0.1", "10.99.0.1", port, "10.6.0.9", 8080, 8,
			  icmp);
	icmp_build(0, "10.210.0.2", "10.9.2.2", "10.9.2.2", 43100, "10.96.0.61", 80, 8, want);
	{
		__u64 i0 = reason(L4S_R_ICMP_NAT);

		assert_int_equal(run_prog(fd_xdp, icmp, ilen, out, &olen), XDP_PASS_);
		assert_int_equal(reason(L4S_R_ICMP_NAT) - i0, 1);
		assert_int_equal(olen, ilen);
		assert_memory_equal(out, want, ilen);
	}

	/* Empty: none of them happens, each counted as slow_path_missing... */
	tail_slots(0);
	for (int prog = P_XDP; prog <= P_TC_FWD; prog++) {
		z0 = svc_stats("zero");
		tail_run(prog, &syn, prog == P_XDP ? XDP_DROP_ : TC_SHOT_, rej,
			 (const __u64[]){ 1, 1 }, 2, in, out, &olen);
		z1 = svc_stats("zero");
		assert_int_equal(z1.packets - z0.packets, 1);
		assert_int_equal(z1.no_backend - z0.no_backend, 1);
		syn.sport++;
	}
	for (int prog = P_XDP; prog <= P_TC_FWD; prog++) {
		sn.sport++;
		s0 = svc_stats("tailsn");
		tail_run(prog, &sn, prog == P_XDP ? XDP_DROP_ : TC_SHOT_, snr,
			 (const __u64[]){ 0, 0, 1 }, 3, in, out, &olen);
		s1 = svc_stats("tailsn");
		assert_int_equal(s1.packets - s0.packets, 1);
		assert_int_equal(s1.flows - s0.flows, 0);
	}
	{
		__u64 i0 = reason(L4S_R_ICMP_NAT), m0 = reason(L4S_R_NO_SLOW);

		assert_int_equal(run_prog(fd_xdp, icmp, ilen, out, &olen), XDP_PASS_);
		assert_int_equal(reason(L4S_R_ICMP_NAT) - i0, 0);
		assert_int_equal(reason(L4S_R_NO_SLOW) - m0, 1);
		assert_int_equal(olen, ilen);
		assert_memory_equal(out, icmp, ilen); /* untouched */
	}
	/* ...while the established SNAT flow and a new flow of an auto service to a local
	 * backend (nat: the default) need no slot. */
	sn.sport = 43100;
	sn.tcp_flags = TCP_F_ACK;
	tail_run(P_XDP, &sn, XDP_PASS_, snr, (const __u64[]){ 0, 0, 0 }, 3, in, out, &olen);
	pi = pkt_info(out, olen);
	assert_int_equal(pi.sport, port);
	len = tail_run(P_XDP, &web, XDP_PASS_, snr + 1, (const __u64[]){ 1, 0 }, 2, in, out, &olen);
	assert_int_equal(which(out, len, be4, 2) >= 0, 1);

	/* Filled again: the reject is back. */
	tail_slots(1);
	syn.sport++;
	tail_run(P_XDP, &syn, XDP_TX_, rej, (const __u64[]){ 1, 0 }, 2, in, out, &olen);
	assert_int_equal(cli("service del tailsn"), 0);
}

static int which4(const uint8_t *out, size_t len)
{
	return which(out, len, aff_be, 2) >= 0 ? which(out, len, aff_be, 2) :
						 2 + which(out, len, aff_be + 2, 2);
}

/* Client-IP affinity: 100 flows of one client address, one backend; 200 clients spread
 * over all 4 (a statistic over 300 packets, not one packet's bytes). */
static void test_affinity(void **state)
{
	uint8_t in[256], out[2048];
	size_t len, olen;
	int first = -1, seen[4] = { 0 }, distinct = 0;
	char src[32];

	(void)state;
	for (int p = 0; p < 100; p++) {
		struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.1.1", .dst = "10.96.0.11",
				      .sport = (uint16_t)(1000 + p), .dport = 80 };
		int b;

		len = pkt_build(&s, in, sizeof(in));
		assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
		b = which4(out, olen);
		assert_true(b >= 0);
		if (first < 0)
			first = b;
		assert_int_equal(b, first); /* one client address, one backend */
	}
	for (int c = 0; c < 200; c++) {
		snprintf(src, sizeof(src), "10.9.2.%d", c);
		struct pkt_spec s = { .proto = IPPROTO_TCP, .src = src, .dst = "10.96.0.11",
				      .sport = 5000, .dport = 80 };
		int b;

		len = pkt_build(&s, in, sizeof(in));
		assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
		b = which4(out, olen);
		assert_true(b >= 0 && b < 4);
		if (!seen[b]++)
			distinct++;
	}
	assert_int_equal(distinct, 4); /* 200 clients spread over all 4 backends */
}

/* Every truncation of a service frame: dropped (and counted) or passed byte for byte. */
static void truncations(const struct pkt_spec *s, int fd, int pass, int drop, size_t min)
{
	uint8_t in[512], out[2048];
	size_t full = pkt_build(s, in, sizeof(in)), olen;

	int refused = 0, tried = 0;

	/* BPF_PROG_TEST_RUN itself refuses frames below 14 bytes, and for tc frames
	 * whose IP header is incomplete: those lengths are skipped (and counted). */
	for (size_t len = min; len < full; len++) {
		__u64 drops = reason(L4S_R_DROP_TRUNCATED) + reason(L4S_R_DROP_MALFORMED);
		int r;

		if (try_prog(fd, in, len, out, &olen, &r)) {
			refused++;
			continue;
		}
		tried++;

		if (r == drop) {
			assert_true(reason(L4S_R_DROP_TRUNCATED) + reason(L4S_R_DROP_MALFORMED) ==
				    drops + 1);
			continue;
		}
		assert_int_equal(r, pass);
		assert_int_equal(olen, len);
		assert_memory_equal(out, in, len); /* never half rewritten */
	}
	print_message("# %zu-byte frame: %d truncations run, %d refused by the kernel\n", full,
		      tried, refused);
	assert_true(tried > 20);
}

/* Every truncation of three frames through XDP and two through tc (a sweep of some 300
 * lengths; the one cut inside the TCP header that must count as truncated is a row). */
static void test_truncated(void **state)
{
	struct pkt_spec a = { .proto = IPPROTO_TCP, .src = "10.9.0.12", .dst = "10.96.0.10",
			      .sport = 1234, .dport = 80, .payload = 10, .ip_opts = 8 };
	struct pkt_spec b = { .v6 = 1, .vlan = 1, .proto = IPPROTO_UDP, .src = "fd00:9::12",
			      .dst = "fd00:96::10", .sport = 1234, .dport = 53, .payload = 10 };
	struct pkt_spec c = { .v6 = 1, .proto = IPPROTO_TCP, .src = "fd00:9::12",
			      .dst = "fd00:96::10", .sport = 1234, .dport = 80, .v6_exthdr = 1 };

	(void)state;
	truncations(&a, fd_xdp, XDP_PASS_, XDP_DROP_, 14);
	truncations(&b, fd_xdp, XDP_PASS_, XDP_DROP_, 14);
	truncations(&c, fd_xdp, XDP_PASS_, XDP_DROP_, 14);
	truncations(&a, fd_tcfwd, TC_OK_, TC_SHOT_, 15);
	truncations(&b, fd_tcfwd, TC_OK_, TC_SHOT_, 15);
}

/* Share of each backend over @n distinct flows to @vip. */
static void distribution(const char *vip, const char *const *bes, int nb, int n, double *share)
{
	uint8_t in[256], out[2048];
	int counts[8] = { 0 };

	for (int i = 0; i < n; i++) {
		char src[32];
		size_t len, olen;

		snprintf(src, sizeof(src), "10.%d.%d.%d", 20 + i / 65536, (i / 256) % 256, i % 256);
		struct pkt_spec s = { .proto = IPPROTO_TCP, .src = src, .dst = vip,
				      .sport = (uint16_t)(1024 + (i * 7919) % 60000), .dport = 80 };

		len = pkt_build(&s, in, sizeof(in));
		assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
		for (int b = 0; b < nb; b++) {
			struct pkt_info pi = pkt_info(out, olen);
			uint8_t a[4];

			inet_pton(AF_INET, bes[b], a);
			if (!memcmp(pi.dst, a, 4))
				counts[b]++;
		}
	}
	for (int b = 0; b < nb; b++)
		share[b] = 100.0 * counts[b] / n;
}

static void test_distribution_99_1(void **state)
{
	static const char *const bes[] = { "10.5.0.1", "10.5.0.2" };
	double share[2];

	(void)state;
	distribution("10.96.0.13", bes, 2, 100000, share);
	print_message("# 99:1 over 100000 flows: %.3f%% / %.3f%%\n", share[0], share[1]);
	assert_true(share[1] >= 0.8 && share[1] <= 1.2);
	assert_true(share[0] + share[1] > 99.999);
}

static void test_distribution_1_1_1_1(void **state)
{
	static const char *const bes[] = { "10.4.0.1", "10.4.0.2", "10.4.0.3", "10.4.0.4" };
	double share[4];

	(void)state;
	distribution("10.96.0.14", bes, 4, 100000, share);
	print_message("# 1:1:1:1 over 100000 flows: %.3f%% %.3f%% %.3f%% %.3f%%\n", share[0],
		      share[1], share[2], share[3]);
	for (int b = 0; b < 4; b++)
		assert_true(share[b] >= 24.5 && share[b] <= 25.5);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
	static const struct CMUnitTest funcs[] = {
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_affinity_timeout),
		cmocka_unit_test(test_connect_time),
		cmocka_unit_test(test_connect_start_no_extra_insert),
		cmocka_unit_test(test_norev),
		cmocka_unit_test(test_reject_only_new),
		cmocka_unit_test(test_tail_calls),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_distribution_99_1),
		cmocka_unit_test(test_distribution_1_1_1_1),
	};
	static struct CMUnitTest tests[NCASES + sizeof(funcs) / sizeof(funcs[0])];
	size_t n = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "datapath tests need root (BPF_PROG_TEST_RUN)\n");
		return 1;
	}
	for (size_t i = 0; i < NCASES; i++)
		tests[n++] = (struct CMUnitTest){ .name = cases[i].what, .test_func = run_case,
						  .initial_state = (void *)&cases[i] };
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		tests[n++] = funcs[i];
	return _cmocka_run_group_tests("datapath", tests, n, setup, teardown);
}
