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
		if (skel) {
			teardown(state);
		} else { /* the state may never have been opened: only the directory */
			state_purge(pin_dir);
			/* Lazily: what the failed load still holds keeps the mount busy
			 * until the process exits. */
			umount2(pin_dir, MNT_DETACH);
			rmdir(pin_dir);
		}
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
	/* SNAT: a range of 4 ports, to see it run out. */
	if (cli("service add sn4 10.96.0.30:80/tcp --mode snat") ||
	    cli("backend add sn4 10.6.0.1:8080") ||
	    cli("service add sn6 [fd00:96::30]:80/tcp --mode snat") ||
	    cli("backend add sn6 [fd00:6::1]:8080") ||
	    cli("node set --snat-addr 10.99.0.1 --snat-addr fd00:99::1 --snat-ports 40000-40003"))
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

/* Send @s through @fd; expect @verdict and, when forwarded, exactly @in with the
 * destination rewritten to one of @bes:@bport and fresh checksums. Returns the backend. */
static int expect_dnat(int fd, const struct pkt_spec *s, int verdict, const char *const *bes,
		       uint16_t bport)
{
	uint8_t in[512], out[2048], exp[512];
	size_t len = pkt_build(s, in, sizeof(in)), olen;
	int r = run_prog(fd, in, len, out, &olen), b;

	assert_int_equal(r, verdict);
	assert_int_equal(olen, len);
	b = which(out, olen, bes, 2);
	assert_true(b >= 0);
	memcpy(exp, in, len);
	pkt_set_addr_port(exp, len, 1, bes[b], bport);
	pkt_fix_csums(exp, len);
	if (s->udp_nocsum && !s->v6) { /* no UDP checksum in, none out */
		size_t l4 = pkt_info(exp, len).l4;

		exp[l4 + 6] = 0;
		exp[l4 + 7] = 0;
	}
	assert_memory_equal(out, exp, len);
	assert_true(pkt_csums_ok(out, olen));
	return b;
}

static void test_new_flow_v4_tcp(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.1", .dst = "10.96.0.10",
			      .sport = 40000, .dport = 80, .payload = 0 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
}

static void test_new_flow_v4_udp(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_UDP, .src = "10.9.0.1", .dst = "10.96.0.10",
			      .sport = 40001, .dport = 53, .payload = 33 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 5353);
}

static void test_new_flow_v4_udp_nocsum(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_UDP, .src = "10.9.0.1", .dst = "10.96.0.10",
			      .sport = 40002, .dport = 53, .payload = 12, .udp_nocsum = 1 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 5353);
}

static void test_new_flow_v6_tcp(void **state)
{
	struct pkt_spec s = { .v6 = 1, .proto = IPPROTO_TCP, .src = "fd00:9::1",
			      .dst = "fd00:96::10", .sport = 40003, .dport = 80, .payload = 7 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be6, 8080);
}

static void test_new_flow_v6_udp(void **state)
{
	struct pkt_spec s = { .v6 = 1, .proto = IPPROTO_UDP, .src = "fd00:9::1",
			      .dst = "fd00:96::10", .sport = 40004, .dport = 53, .payload = 20 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be6, 5353);
}

static void test_v6_exthdr(void **state)
{
	struct pkt_spec s = { .v6 = 1, .proto = IPPROTO_TCP, .src = "fd00:9::2",
			      .dst = "fd00:96::10", .sport = 40005, .dport = 80, .v6_exthdr = 1 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be6, 8080);
}

static void test_tc_forward_v4_v6(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.3", .dst = "10.96.0.10",
			      .sport = 40006, .dport = 80, .payload = 5 };
	struct pkt_spec s6 = { .v6 = 1, .proto = IPPROTO_UDP, .src = "fd00:9::3",
			       .dst = "fd00:96::10", .sport = 40006, .dport = 53, .payload = 5 };
	(void)state;
	expect_dnat(fd_tcfwd, &s, TC_OK_, be4, 8080);
	expect_dnat(fd_tcfwd, &s6, TC_OK_, be6, 5353);
}

static void test_vlan(void **state)
{
	struct pkt_spec s = { .vlan = 1, .proto = IPPROTO_TCP, .src = "10.9.0.4", .dst = "10.96.0.10",
			      .sport = 40007, .dport = 80, .payload = 3 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
}

static void test_ip_options(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.5", .dst = "10.96.0.10",
			      .sport = 40008, .dport = 80, .ip_opts = 4 };
	(void)state;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	s.ip_opts = 40;
	s.sport = 40009;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
}

/* Which backend would be chosen, then make it weight 0 through its track. */
static void set_track_of(int b, int zero)
{
	const char *t = b ? "new" : "old", *o = b ? "old" : "new";

	assert_int_equal(cli(zero ? "weight web4 %s=0 %s=1" : "weight web4 %s=1 %s=1", t, o), 0);
}

static void test_established_after_weight_change(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.6", .dst = "10.96.0.10",
			      .sport = 41000, .dport = 80, .tcp_flags = TCP_F_SYN };
	int b, b2;

	(void)state;
	b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	set_track_of(b, 1);
	s.tcp_flags = TCP_F_ACK | TCP_F_PSH;
	s.payload = 10;
	b2 = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	assert_int_equal(b2, b); /* the established flow stays */
	/* New flows all avoid the drained backend. */
	for (int p = 0; p < 200; p++) {
		struct pkt_spec n = s;

		n.sport = (uint16_t)(42000 + p);
		n.tcp_flags = TCP_F_SYN;
		n.payload = 0;
		assert_int_equal(expect_dnat(fd_xdp, &n, XDP_PASS_, be4, 8080), !b);
	}
	set_track_of(b, 0);
}

static void test_syn_rechoice(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.7", .dst = "10.96.0.10",
			      .sport = 41001, .dport = 80, .tcp_flags = TCP_F_SYN };
	__u64 before = reason(L4S_R_FLOW_RECHOSEN);
	int b;

	(void)state;
	b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	set_track_of(b, 1);
	/* A retransmitted SYN of the same live connection stays. */
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), b);
	/* The connection closes (client FIN); a new SYN on the same 5-tuple chooses again. */
	s.tcp_flags = TCP_F_FIN | TCP_F_ACK;
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), b);
	s.tcp_flags = TCP_F_SYN;
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), !b);
	assert_true(reason(L4S_R_FLOW_RECHOSEN) == before + 1);
	set_track_of(b, 0);
}

/* A client gives up on a backend that never answered and reuses its port: the new
 * SYN (another sequence number) chooses again; a retransmission of it stays. */
static void test_syn_reused_port(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.17", .dst = "10.96.0.10",
			      .sport = 41011, .dport = 80, .tcp_flags = TCP_F_SYN, .seq = 1000 };
	__u64 before = reason(L4S_R_FLOW_RECHOSEN);
	int b;

	(void)state;
	b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	set_track_of(b, 1); /* its backend takes no new flows any more (a rollback) */
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), b); /* retransmission */
	assert_true(reason(L4S_R_FLOW_RECHOSEN) == before);
	s.seq = 777777;
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), !b); /* new connection */
	assert_true(reason(L4S_R_FLOW_RECHOSEN) == before + 1);
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), !b); /* its retransmission */
	set_track_of(b, 0);
}

/* A SYN-ACK that does not answer its reverse entry's flow (a direct connection from a
 * port once used for the VIP) passes untouched, and so does the rest of it; the VIP
 * reopened from that port is translated again. */
static void test_reply_stale(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.18", .dst = "10.96.0.10",
			      .sport = 41012, .dport = 80, .tcp_flags = TCP_F_SYN, .seq = 5000 };
	struct pkt_spec r = { .proto = IPPROTO_TCP, .dst = "10.9.0.18", .sport = 8080,
			      .dport = 41012, .tcp_flags = TCP_F_SYN | TCP_F_ACK, .ack = 5001 };
	uint8_t in[512], out[2048];
	size_t len, olen;
	__u64 stale = reason(L4S_R_REPLY_STALE);
	int b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	uint8_t exp[512];

	(void)state;
	r.src = be4[b];
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	memcpy(exp, in, len);
	pkt_set_addr_port(exp, len, 0, "10.96.0.10", 80);
	pkt_fix_csums(exp, len);
	assert_memory_equal(out, exp, len); /* its answer: from the VIP */
	/* The same 5-tuple, another connection: its SYN-ACK answers another SYN. */
	r.ack = 9001;
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_memory_equal(out, in, len);
	assert_true(reason(L4S_R_REPLY_STALE) == stale + 1);
	r.tcp_flags = TCP_F_ACK;
	r.payload = 5;
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_memory_equal(out, in, len); /* the entry is forgotten: the rest passes too */
	/* The client opens the VIP again from that port: translated again. */
	s.seq = 12000;
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	r.tcp_flags = TCP_F_SYN | TCP_F_ACK;
	r.payload = 0;
	r.ack = 12001;
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	memcpy(exp, in, len);
	pkt_set_addr_port(exp, len, 0, "10.96.0.10", 80);
	pkt_fix_csums(exp, len);
	assert_memory_equal(out, exp, len);
	assert_true(reason(L4S_R_REPLY_STALE) == stale + 1);
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

/* A frame to or from the SNAT service; returns (out) the rewritten one's info. */
static int snat_send(const struct pkt_spec *s, uint8_t *out, size_t *olen)
{
	uint8_t in[512];
	size_t len = pkt_build(s, in, sizeof(in));

	return run_prog(fd_xdp, in, len, out, olen);
}

/* SNAT: the source becomes the node's address and a port of its range; the reply to
 * that port becomes VIP -> client again; a flow keeps its port; four flows take the
 * four ports of the range and a fifth is dropped and counted; an ICMP
 * fragmentation-needed about the flow is turned back to the client. */
static void test_snat(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.30", .dst = "10.96.0.30",
			      .sport = 41000, .dport = 80, .tcp_flags = TCP_F_SYN, .seq = 7 };
	uint8_t out[2048], frame[256];
	size_t olen;
	struct pkt_info pi;
	uint8_t node[4], be[4], cl[4], vip[4];
	uint16_t port, ports[5];
	__u64 exhausted = reason(L4S_R_DROP_SNAT_EXHAUSTED), back = reason(L4S_R_SNAT_REPLY);
	__u64 icmp = reason(L4S_R_ICMP_NAT);

	(void)state;
	inet_pton(AF_INET, "10.99.0.1", node);
	inet_pton(AF_INET, "10.6.0.1", be);
	inet_pton(AF_INET, "10.9.0.30", cl);
	inet_pton(AF_INET, "10.96.0.30", vip);
	assert_int_equal(snat_send(&s, out, &olen), XDP_PASS_);
	pi = pkt_info(out, olen);
	assert_memory_equal(pi.src, node, 4);
	assert_memory_equal(pi.dst, be, 4);
	assert_int_equal(pi.dport, 8080);
	port = pi.sport;
	assert_true(port >= 40000 && port <= 40003);
	assert_true(pkt_csums_ok(out, olen));
	/* The flow keeps its port. */
	s.tcp_flags = TCP_F_ACK;
	assert_int_equal(snat_send(&s, out, &olen), XDP_PASS_);
	assert_int_equal(pkt_info(out, olen).sport, port);

	/* The reply, to the node's port: back to VIP:80 -> client:41000. */
	{
		struct pkt_spec r = { .proto = IPPROTO_TCP, .src = "10.6.0.1", .dst = "10.99.0.1",
				      .sport = 8080, .dport = port,
				      .tcp_flags = TCP_F_SYN | TCP_F_ACK, .ack = 8 };

		assert_int_equal(snat_send(&r, out, &olen), XDP_PASS_);
		pi = pkt_info(out, olen);
		assert_memory_equal(pi.src, vip, 4);
		assert_memory_equal(pi.dst, cl, 4);
		assert_int_equal(pi.sport, 80);
		assert_int_equal(pi.dport, 41000);
		assert_true(pkt_csums_ok(out, olen));
		assert_true(reason(L4S_R_SNAT_REPLY) == back + 1);
		/* To a port no flow holds: not ours, untouched. */
		r.dport = port == 40000 ? 40001 : 40000;
		r.sport = 8081;
		assert_int_equal(snat_send(&r, out, &olen), XDP_PASS_);
		assert_true(reason(L4S_R_SNAT_REPLY) == back + 1);
	}

	/* ICMP fragmentation needed from a router to the node, quoting the SNATed packet. */
	{
		uint8_t *ip = frame + 14, *ic = ip + 20, *in = ic + 8, *l4 = in + 20;
		size_t flen = 14 + 20 + 8 + 20 + 8;

		memset(frame, 0, sizeof(frame));
		frame[12] = 0x08;
		ip[0] = 0x45;
		pkt_put16(ip + 2, 20 + 8 + 28);
		ip[8] = 64;
		ip[9] = 1;
		inet_pton(AF_INET, "10.210.0.2", ip + 12);
		memcpy(ip + 16, node, 4);
		pkt_put16(ip + 10, (uint16_t)~inet_sum(ip, 20));
		ic[0] = 3;
		ic[1] = 4;
		pkt_put16(ic + 6, 1200);
		in[0] = 0x45;
		pkt_put16(in + 2, 1500);
		in[6] = 0x40; /* DF */
		in[8] = 63;
		in[9] = IPPROTO_TCP;
		memcpy(in + 12, node, 4);
		memcpy(in + 16, be, 4);
		pkt_put16(in + 10, (uint16_t)~inet_sum(in, 20));
		pkt_put16(l4, port);
		pkt_put16(l4 + 2, 8080);
		pkt_put16(ic + 2, (uint16_t)~inet_sum(ic, 8 + 28));
		assert_int_equal(run_prog(fd_xdp, frame, flen, out, &olen), XDP_PASS_);
		assert_int_equal(olen, flen);
		assert_memory_equal(out + 14 + 16, cl, 4);        /* outer: to the client */
		assert_memory_equal(out + 14 + 28 + 12, cl, 4);   /* quoted: client -> VIP */
		assert_memory_equal(out + 14 + 28 + 16, vip, 4);
		assert_int_equal(out[14 + 48] << 8 | out[14 + 49], 41000);
		assert_int_equal(out[14 + 50] << 8 | out[14 + 51], 80);
		assert_int_equal(inet_sum(out + 14, 20), 0xffff);      /* every checksum right */
		assert_int_equal(inet_sum(out + 14 + 28, 20), 0xffff);
		assert_int_equal(inet_sum(out + 14 + 20, 8 + 28), 0xffff);
		assert_true(reason(L4S_R_ICMP_NAT) == icmp + 1);
	}

	/* Four flows hold the four ports; a fifth finds none. */
	ports[0] = port;
	s.tcp_flags = TCP_F_SYN;
	for (int i = 1; i < 4; i++) {
		s.sport = (uint16_t)(41000 + i);
		assert_int_equal(snat_send(&s, out, &olen), XDP_PASS_);
		ports[i] = pkt_info(out, olen).sport;
		for (int j = 0; j < i; j++)
			assert_int_not_equal(ports[i], ports[j]); /* never two flows on one port */
	}
	s.sport = 41004;
	assert_int_equal(snat_send(&s, out, &olen), XDP_DROP_);
	assert_true(reason(L4S_R_DROP_SNAT_EXHAUSTED) == exhausted + 1);

	/* node unset: flows that have a port keep it; a new one in snat mode has none. */
	{
		__u64 noaddr = reason(L4S_R_DROP_SNAT_NO_ADDR);

		assert_int_equal(cli("node unset"), 0);
		s.sport = 41000;
		s.tcp_flags = TCP_F_ACK;
		assert_int_equal(snat_send(&s, out, &olen), XDP_PASS_);
		assert_int_equal(pkt_info(out, olen).sport, port);
		s.sport = 41005;
		s.tcp_flags = TCP_F_SYN;
		assert_int_equal(snat_send(&s, out, &olen), XDP_DROP_);
		assert_true(reason(L4S_R_DROP_SNAT_NO_ADDR) == noaddr + 1);
		assert_int_equal(cli("node set --snat-addr 10.99.0.1 --snat-addr fd00:99::1 "
				     "--snat-ports 40000-40003"), 0);
	}
}

/* An ICMP(v6) error from @osrc to @odst quoting a TCP packet @isrc:@isport ->
 * @idst:@idport, checksums right; returns the frame length. */
static size_t icmp_build(int v6, const char *osrc, const char *odst, const char *isrc,
			 uint16_t isport, const char *idst, uint16_t idport, uint8_t *f)
{
	int af = v6 ? AF_INET6 : AF_INET;
	size_t iph = v6 ? 40 : 20, alen = v6 ? 16 : 4, len = 14 + iph + 8 + iph + 20;
	uint8_t *ip = f + 14, *ic = ip + iph, *in = ic + 8, *l4 = in + iph;

	memset(f, 0, len);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		pkt_put16(ip + 4, (uint16_t)(8 + iph + 20));
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
		pkt_put16(ip + 2, (uint16_t)(iph + 8 + iph + 20));
		ip[8] = 64;
		ip[9] = 1;
		in[0] = 0x45;
		pkt_put16(in + 2, 1500);
		in[6] = 0x40;
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
	l4[12] = 5 << 4;
	l4[13] = TCP_F_ACK;
	if (!v6) {
		pkt_put16(ip + 10, (uint16_t)~inet_sum(ip, 20));
		pkt_put16(in + 10, (uint16_t)~inet_sum(in, 20));
	}
	pkt_put16(ic + 2, 0);
	pkt_put16(ic + 2, (uint16_t)~icmp_sum(v6, ip, ic, 8 + iph + 20));
	(void)alen;
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

/* ICMP errors about nat flows, on the reply path: the quoted packet went to the
 * backend, the client gets it quoting the VIP (from the VIP when the backend sent it). */
static void icmp_nat_case(int v6)
{
	const char *client = v6 ? "fd00:9::40" : "10.9.0.40", *vip = v6 ? "fd00:96::10" : "10.96.0.10";
	struct pkt_spec s = { .v6 = v6, .proto = IPPROTO_TCP, .src = client, .dst = vip,
			      .sport = 41020, .dport = 80 };
	int b = expect_dnat(fd_xdp, &s, XDP_PASS_, v6 ? be6 : be4, 8080);
	const char *be = (v6 ? be6 : be4)[b];
	uint8_t f[256], out[2048], exp[256];
	size_t len = icmp_build(v6, be, client, client, 41020, be, 8080, f), olen;
	__u64 icmp = reason(L4S_R_ICMP_NAT);

	assert_int_equal(run_prog(fd_tcreply, f, len, out, &olen), TC_OK_);
	assert_int_equal(olen, len);
	/* What it must be: built from scratch with the VIP in place of the backend. */
	icmp_build(v6, vip, client, client, 41020, vip, 80, exp);
	assert_memory_equal(out, exp, len);
	assert_true(icmp_csums_ok(v6, out, olen));
	assert_true(reason(L4S_R_ICMP_NAT) == icmp + 1);
	/* About a flow that is not ours: untouched. */
	len = icmp_build(v6, be, client, client, 41021, be, 8080, f);
	assert_int_equal(run_prog(fd_tcreply, f, len, out, &olen), TC_OK_);
	assert_memory_equal(out, f, len);
}

static void test_icmp_nat_v4(void **state)
{
	(void)state;
	icmp_nat_case(0);
}

static void test_icmp_nat_v6(void **state)
{
	(void)state;
	icmp_nat_case(1);
}

/* ICMPv6 packet too big about an IPv6 SNAT flow, back to the client. */
static void test_icmp_snat_v6(void **state)
{
	struct pkt_spec s = { .v6 = 1, .proto = IPPROTO_TCP, .src = "fd00:9::30",
			      .dst = "fd00:96::30", .sport = 41030, .dport = 80 };
	uint8_t in[512], out[2048], f[256], exp[256];
	size_t len = pkt_build(&s, in, sizeof(in)), olen;
	struct pkt_info pi;
	char port_node[64];
	uint16_t port;

	(void)state;
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	pi = pkt_info(out, olen);
	port = pi.sport;
	assert_true(port >= 40000 && port <= 40003);
	inet_ntop(AF_INET6, pi.src, port_node, sizeof(port_node));
	assert_string_equal(port_node, "fd00:99::1");
	len = icmp_build(1, "fd00:210::2", "fd00:99::1", "fd00:99::1", port, "fd00:6::1", 8080, f);
	assert_int_equal(run_prog(fd_xdp, f, len, out, &olen), XDP_PASS_);
	icmp_build(1, "fd00:210::2", "fd00:9::30", "fd00:9::30", 41030, "fd00:96::30", 80, exp);
	assert_memory_equal(out, exp, len);
	assert_true(icmp_csums_ok(1, out, olen));
}

static void reply_case(int v6)
{
	const char *client = v6 ? "fd00:9::8" : "10.9.0.8", *vip = v6 ? "fd00:96::10" : "10.96.0.10";
	struct pkt_spec s = { .v6 = v6, .proto = IPPROTO_TCP, .src = client, .dst = vip,
			      .sport = 41002, .dport = 80 };
	uint8_t in[512], out[2048], exp[512];
	size_t len, olen;
	int b = expect_dnat(fd_xdp, &s, XDP_PASS_, v6 ? be6 : be4, 8080);
	struct pkt_spec r = { .v6 = v6, .proto = IPPROTO_TCP, .src = (v6 ? be6 : be4)[b],
			      .dst = client, .sport = 8080, .dport = 41002,
			      .tcp_flags = TCP_F_SYN | TCP_F_ACK, .payload = 9 };

	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_int_equal(olen, len);
	memcpy(exp, in, len);
	pkt_set_addr_port(exp, len, 0, vip, 80);
	pkt_fix_csums(exp, len);
	assert_memory_equal(out, exp, len);
	assert_true(pkt_csums_ok(out, olen));
	/* A reply-shaped packet of no tracked flow is left alone. */
	r.dport = 41003;
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_memory_equal(out, in, len);
}

static void test_reply_nat_v4(void **state)
{
	(void)state;
	reply_case(0);
}

static void test_reply_nat_v6(void **state)
{
	(void)state;
	reply_case(1);
}

/* Lost entries: a forward entry gone (evicted) is chosen again through the same table,
 * to the same backend, and counted as flow_lost; a reverse entry gone while the
 * forward one lives is written again by the next client packet, so replies are
 * translated again. */
static void test_lost_entries(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.9", .dst = "10.96.0.10",
			      .sport = 41010, .dport = 80 };
	struct pkt_spec r = { .proto = IPPROTO_TCP, .dst = "10.9.0.9", .sport = 8080,
			      .dport = 41010, .tcp_flags = TCP_F_ACK, .payload = 4 };
	uint8_t in[512], out[2048], key[sizeof(struct l4s_flow_key)];
	struct pkt_info pi;
	size_t len, olen;
	__u64 lost = reason(L4S_R_FLOW_LOST), repaired;
	int b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);

	(void)state;
	s.tcp_flags = TCP_F_ACK;
	s.payload = 10;
	/* Forward entry lost: same backend, counted. */
	while (bpf_map_get_next_key(st.flows, NULL, key) == 0)
		bpf_map_delete_elem(st.flows, key);
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), b);
	assert_true(reason(L4S_R_FLOW_LOST) == lost + 1);
	/* Reverse entry lost: the reply itself finds the flow through the backend index
	 * and its forward entry, writes the reverse entry again and goes out translated. */
	while (bpf_map_get_next_key(st.rflows, NULL, key) == 0)
		bpf_map_delete_elem(st.rflows, key);
	r.src = be4[b];
	len = pkt_build(&r, in, sizeof(in));
	repaired = reason(L4S_R_REPLY_REPAIRED);
	for (int i = 0; i < 2; i++) { /* repaired, then found */
		assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
		pi = pkt_info(out, olen);
		assert_int_equal(pi.sport, 80);
		assert_memory_equal(pi.src, "\x0a\x60\x00\x0a", 4); /* 10.96.0.10 */
		assert_true(pkt_csums_ok(out, olen));
	}
	assert_true(reason(L4S_R_REPLY_REPAIRED) == repaired + 1);
	/* Both entries gone: the reply is not ours any more, untouched. */
	while (bpf_map_get_next_key(st.rflows, NULL, key) == 0)
		bpf_map_delete_elem(st.rflows, key);
	while (bpf_map_get_next_key(st.flows, NULL, key) == 0)
		bpf_map_delete_elem(st.flows, key);
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_memory_equal(out, in, len);
	/* The client's next packet makes the flow again, through the same table slot. */
	assert_int_equal(expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080), b);
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	pi = pkt_info(out, olen);
	assert_int_equal(pi.sport, 80);
}

static const char *const aff_be[] = { "10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4" };

static int which4(const uint8_t *out, size_t len)
{
	return which(out, len, aff_be, 2) >= 0 ? which(out, len, aff_be, 2) :
						 2 + which(out, len, aff_be + 2, 2);
}

/* A backend counter (word @w of struct l4s_backend_stats) summed over all backends. */
static __u64 bsum(int w)
{
	__u64 total = 0, c[8];

	for (__u32 id = 0; id < 64; id++)
		if (!percpu_sum(&st, st.bstats, id, c, 8))
			total += c[w];
	return total;
}

#define BS_ANSWERED 5
#define BS_RESETS   6
#define BS_SYNRTX   7

static void test_health_signals(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.3.1", .dst = "10.96.0.10",
			      .sport = 43000, .dport = 80, .tcp_flags = TCP_F_SYN };
	uint8_t in[256], out[2048];
	size_t len, olen;
	__u64 rtx = bsum(BS_SYNRTX), ans = bsum(BS_ANSWERED), rst = bsum(BS_RESETS);
	int b;

	(void)state;
	b = expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	assert_int_equal(bsum(BS_SYNRTX), rtx);
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080); /* the client repeats its SYN */
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	assert_int_equal(bsum(BS_SYNRTX), rtx + 2);
	/* The backend answers (SYN-ACK): counted once, and later SYNs are not retries. */
	struct pkt_spec r = { .proto = IPPROTO_TCP, .src = be4[b], .dst = "10.9.3.1",
			      .sport = 8080, .dport = 43000, .tcp_flags = TCP_F_SYN | TCP_F_ACK };
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_int_equal(bsum(BS_ANSWERED), ans + 1);
	expect_dnat(fd_xdp, &s, XDP_PASS_, be4, 8080);
	assert_int_equal(bsum(BS_SYNRTX), rtx + 2);
	/* The backend resets: counted as a reset. */
	r.tcp_flags = TCP_F_RST | TCP_F_ACK;
	len = pkt_build(&r, in, sizeof(in));
	assert_int_equal(run_prog(fd_tcreply, in, len, out, &olen), TC_OK_);
	assert_int_equal(bsum(BS_RESETS), rst + 1);
}

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

static void expect_untouched(const struct pkt_spec *s, size_t cut, int verdict)
{
	uint8_t in[512], out[2048];
	size_t len = pkt_build(s, in, sizeof(in)), olen;

	if (cut)
		len = cut;
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), verdict);
	if (verdict == XDP_PASS_) {
		assert_int_equal(olen, len);
		assert_memory_equal(out, in, len);
	}
}

static void test_non_service_untouched(void **state)
{
	struct pkt_spec a = { .proto = IPPROTO_TCP, .src = "10.9.0.9", .dst = "10.96.0.99",
			      .sport = 1234, .dport = 80, .payload = 4 };
	struct pkt_spec b = { .proto = IPPROTO_TCP, .src = "10.9.0.9", .dst = "10.96.0.10",
			      .sport = 1234, .dport = 81 };
	struct pkt_spec c = { .proto = IPPROTO_UDP, .src = "10.9.0.9", .dst = "10.96.0.10",
			      .sport = 1234, .dport = 80 }; /* UDP to a TCP-only port */
	struct pkt_spec d = { .proto = 1 /* ICMP */, .src = "10.9.0.9", .dst = "10.96.0.10" };
	struct pkt_spec e = { .v6 = 1, .proto = IPPROTO_TCP, .src = "fd00:9::9",
			      .dst = "fd00:96::11", .sport = 1, .dport = 80 };
	uint8_t arp[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06 };
	uint8_t out[2048];
	size_t olen;
	__u64 before = reason(L4S_R_PASS_NOT_SERVICE);

	(void)state;
	expect_untouched(&a, 0, XDP_PASS_);
	expect_untouched(&b, 0, XDP_PASS_);
	expect_untouched(&c, 0, XDP_PASS_);
	expect_untouched(&d, 0, XDP_PASS_);
	expect_untouched(&e, 0, XDP_PASS_);
	assert_int_equal(run_prog(fd_xdp, arp, sizeof(arp), out, &olen), XDP_PASS_);
	assert_memory_equal(out, arp, sizeof(arp));
	assert_true(reason(L4S_R_PASS_NOT_SERVICE) >= before + 4);
}

static void test_fragments(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_UDP, .src = "10.9.0.10", .dst = "10.96.0.10",
			      .sport = 1234, .dport = 53, .payload = 40, .frag = 0x2000 };
	__u64 before = reason(L4S_R_PASS_FRAGMENT);

	(void)state;
	expect_untouched(&s, 0, XDP_PASS_); /* first fragment (MF) */
	s.frag = 0x0010;
	expect_untouched(&s, 0, XDP_PASS_); /* later fragment */
	assert_int_equal(reason(L4S_R_PASS_FRAGMENT), before + 2);
}

static void test_zero_weight_service(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.11", .dst = "10.96.0.12",
			      .sport = 1234, .dport = 80 };
	__u64 before = reason(L4S_R_DROP_NO_BACKEND);

	(void)state;
	expect_untouched(&s, 0, XDP_DROP_);
	assert_int_equal(reason(L4S_R_DROP_NO_BACKEND), before + 1);
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
	/* A service frame cut inside its TCP header is dropped as truncated. */
	{
		uint8_t in[512], out[2048];
		size_t full = pkt_build(&a, in, sizeof(in)), olen;
		__u64 before = reason(L4S_R_DROP_TRUNCATED);

		assert_int_equal(run_prog(fd_xdp, in, full - 10 - 8, out, &olen), XDP_DROP_);
		assert_int_equal(reason(L4S_R_DROP_TRUNCATED), before + 1);
	}
}

static void test_malformed_tcp_doff(void **state)
{
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = "10.9.0.13", .dst = "10.96.0.10",
			      .sport = 1234, .dport = 80 };
	uint8_t in[512], out[2048];
	size_t len = pkt_build(&s, in, sizeof(in)), olen;
	__u64 before = reason(L4S_R_DROP_MALFORMED);

	(void)state;
	in[pkt_info(in, len).l4 + 12] = 4 << 4; /* data offset 4 < 5 */
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_DROP_);
	assert_int_equal(reason(L4S_R_DROP_MALFORMED), before + 1);
	in[14] = 0x44; /* IHL 4 < 5: not parseable at all, passed untouched */
	assert_int_equal(run_prog(fd_xdp, in, len, out, &olen), XDP_PASS_);
	assert_memory_equal(out, in, len);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_flow_v4_tcp),
		cmocka_unit_test(test_new_flow_v4_udp),
		cmocka_unit_test(test_new_flow_v4_udp_nocsum),
		cmocka_unit_test(test_new_flow_v6_tcp),
		cmocka_unit_test(test_new_flow_v6_udp),
		cmocka_unit_test(test_v6_exthdr),
		cmocka_unit_test(test_tc_forward_v4_v6),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_ip_options),
		cmocka_unit_test(test_established_after_weight_change),
		cmocka_unit_test(test_syn_rechoice),
		cmocka_unit_test(test_syn_reused_port),
		cmocka_unit_test(test_reply_nat_v4),
		cmocka_unit_test(test_reply_nat_v6),
		cmocka_unit_test(test_reply_stale),
		cmocka_unit_test(test_snat),
		cmocka_unit_test(test_icmp_snat_v6),
		cmocka_unit_test(test_icmp_nat_v4),
		cmocka_unit_test(test_icmp_nat_v6),
		cmocka_unit_test(test_lost_entries),
		cmocka_unit_test(test_health_signals),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_non_service_untouched),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_zero_weight_service),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed_tcp_doff),
		cmocka_unit_test(test_distribution_99_1),
		cmocka_unit_test(test_distribution_1_1_1_1),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "datapath tests need root (BPF_PROG_TEST_RUN)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("datapath", tests, setup, teardown);
}
