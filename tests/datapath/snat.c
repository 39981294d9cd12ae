// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SNAT through the real program (BPF_PROG_TEST_RUN), in a network namespace of its own
 * (a veth d0 with a primary and a secondary address, a route to the backends
 * through it): with no 'node set', a snat flow's source is d0's primary address, as
 * MASQUERADE; the default port range fills to 95% with no failure (and where the
 * first failure comes, and what a new flow costs at 0%, 50% and 90%, is printed);
 * a range of 64 ports holds 64 live flows and drops and counts the 65th; the
 * verifier's work for the forward programs stays well under its limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include "cli.h"
#include "cmd.h"
#include "pkt.h"
#include "state.h"
#include "l4split.skel.h"

#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define DEV_ADDR   "10.250.0.1" /* d0's primary address: the default SNAT source */
#define DEV_ADDR2  "10.250.0.9" /* a secondary one: never the source */
#define VIP_DEF    "10.96.5.2"
#define BE_DEF     "10.6.0.2"
#define VIP_64     "10.96.5.1"
#define BE_64      "10.6.0.1"
#define RANGE_DEF  (L4S_SNAT_PORT_MAX_DEFAULT - L4S_SNAT_PORT_MIN_DEFAULT + 1)

static char pin_dir[] = "/run/l4s-snat-XXXXXX";
static struct l4s_state st;
static struct l4split_bpf *skel;
static int fd_xdp, fd_tc;

/* The namespace: d0 10.250.0.1/24 (+ .9 secondary), backends 10.6/16 behind 10.250.0.2. */
static int netns_setup(void)
{
	if (unshare(CLONE_NEWNET))
		return -1;
	return system("ip link set lo up && ip link add d0 type veth peer name d1 && ip link set d1 up && "
		      "ip addr add " DEV_ADDR "/24 dev d0 && ip addr add " DEV_ADDR2 "/24 dev d0 && "
		      "ip link set d0 up && ip route add 10.6.0.0/16 via 10.250.0.2 && "
		      "ip addr add fd00:250::1/64 dev d0 nodad && "
		      "ip addr add fd00:250::9/64 dev d0 nodad && "
		      "ip -6 route add fd00:6::/64 via fd00:250::2 && "
		      "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1") ? -1 : 0;
}

static int setup_state(void)
{
	int fds[3];

	opt_pin_dir = pin_dir;
	state_set_flow_max(262144); /* l4s_snat: 65536 entries */
	if (cli("service add sd %s:80/tcp --mode snat", VIP_DEF) ||
	    cli("backend add sd %s:8080", BE_DEF) ||
	    cli("service add sd6 [fd00:96:5::2]:80/tcp --mode snat") ||
	    cli("backend add sd6 [fd00:6::2]:8080") || cli("node show"))
		return -1;
	/* L4S_SNAT_SET_ADDR=1: the same address set by hand (to measure a release that
	 * has no default source). */
	if (getenv("L4S_SNAT_SET_ADDR") && cli("node set --snat-addr " DEV_ADDR))
		return -1;
	skel = dp_load(&st, pin_dir, fds);
	if (!skel)
		return -1;
	fd_xdp = fds[0];
	fd_tc = fds[1];
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (netns_setup() || !mkdtemp(pin_dir))
		return -1;
	if (setup_state()) { /* cmocka skips the teardown of a group whose setup failed */
		dp_setup_failed(skel, &st, pin_dir);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dp_unload(skel, &st, pin_dir);
	return 0;
}

/* Flow number @i's client: 10.8.x.y, ports from 1024, distinct for i < 2^26. */
static void client_of(unsigned int i, char *buf, size_t n, uint16_t *port)
{
	snprintf(buf, n, "10.8.%u.%u", (i / 60000) % 256, 1 + (i / 60000) / 256);
	*port = (uint16_t)(1024 + i % 60000);
}

struct sent {
	int verdict;
	uint16_t sport;   /* source port of the frame out */
	char src[INET6_ADDRSTRLEN];
	uint32_t ns;      /* the kernel's time for the run */
};

/* A SYN of flow @i to @vip:80 through the XDP program. */
static int syn(const char *vip, unsigned int i, struct sent *o)
{
	uint8_t in[256], out[2048];
	size_t len, outlen = 0;
	char cl[32];
	uint16_t cport;
	struct pkt_spec ps = { .proto = IPPROTO_TCP, .dst = vip, .dport = 80,
			       .v6 = strchr(vip, ':') != NULL };
	LIBBPF_OPTS(bpf_test_run_opts, ro, .data_out = out, .data_size_out = sizeof(out),
		    .repeat = 1);

	client_of(i, cl, sizeof(cl), &cport);
	if (ps.v6)
		snprintf(cl, sizeof(cl), "fd00:8::%x", i + 1);
	ps.src = cl;
	ps.sport = cport;
	len = pkt_build(&ps, in, sizeof(in));
	ro.data_in = in;
	ro.data_size_in = (__u32)len;
	if (bpf_prog_test_run_opts(fd_xdp, &ro))
		return -1;
	outlen = ro.data_size_out;
	o->verdict = (int)ro.retval;
	o->ns = ro.duration;
	o->sport = 0;
	o->src[0] = 0;
	if (o->verdict != XDP_DROP_) {
		struct pkt_info pi = pkt_info(out, outlen);

		if (!pi.ok || !pkt_csums_ok(out, outlen))
			return -1;
		o->sport = pi.sport;
		inet_ntop(pi.v6 ? AF_INET6 : AF_INET, pi.src, o->src, sizeof(o->src));
	}
	return 0;
}

/* The verifier's work for both forward programs: well under its 1M limit. */
static void test_verifier(void **state)
{
	int fds[2] = { fd_xdp, fd_tc };
	const char *names[2] = { "l4s_xdp_fwd", "l4s_tc_fwd" };

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		assert_int_equal(bpf_obj_get_info_by_fd(fds[i], &info, &len), 0);
		printf("# %s: the verifier processed %u instructions\n", names[i],
		       info.verified_insns);
		if (info.verified_insns > 500000)
			fail_msg("%s: %u instructions verified, more than half the limit", names[i],
				 info.verified_insns);
	}
}

/* With no 'node set': the source is d0's primary address; its reply comes back. */
static void test_default_addr(void **state)
{
	uint8_t in[256], out[2048];
	size_t len, outlen = 0;
	int ret;
	struct sent o;
	struct pkt_spec ps = { .proto = IPPROTO_TCP, .src = BE_DEF, .sport = 8080,
			       .dst = DEV_ADDR, .tcp_flags = TCP_F_SYN | TCP_F_ACK };
	uint64_t r0 = dp_reason(&st, L4S_R_SNAT_REPLY);

	(void)state;
	assert_int_equal(syn(VIP_DEF, 0, &o), 0);
	if (o.verdict == XDP_DROP_ || strcmp(o.src, DEV_ADDR))
		fail_msg("no node set: verdict %d, source %s; expected a forward from %s", o.verdict,
			 o.src[0] ? o.src : "(dropped)", DEV_ADDR);
	if (o.sport < L4S_SNAT_PORT_MIN_DEFAULT || o.sport > L4S_SNAT_PORT_MAX_DEFAULT)
		fail_msg("SNAT port %u outside the default range", o.sport);
	/* The backend's SYN-ACK to that address and port: back to VIP -> client. */
	ps.dport = o.sport;
	len = pkt_build(&ps, in, sizeof(in));
	assert_int_equal(try_prog(fd_xdp, in, len, out, &outlen, &ret), 0);
	{
		struct pkt_info pi = pkt_info(out, outlen);
		char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];

		assert_true(pi.ok);
		inet_ntop(AF_INET, pi.src, src, sizeof(src));
		inet_ntop(AF_INET, pi.dst, dst, sizeof(dst));
		if (strcmp(src, VIP_DEF) || pi.sport != 80 || strcmp(dst, "10.8.0.1") ||
		    pi.dport != 1024 || !pkt_csums_ok(out, outlen))
			fail_msg("reply out as %s:%u -> %s:%u; expected " VIP_DEF
				 ":80 -> 10.8.0.1:1024, checksums right",
				 src, pi.sport, dst, pi.dport);
	}
	assert_int_equal(dp_reason(&st, L4S_R_SNAT_REPLY), r0 + 1);
}

/* IPv6, no 'node set': the source is d0's first global IPv6 address (as listed). */
static void test_default_addr6(void **state)
{
	char first[INET6_ADDRSTRLEN] = "";
	struct sent o;
	FILE *f = popen("ip -6 -o addr show dev d0 scope global | awk '{ sub(/\\/.*/, \"\", $4); "
			"print $4; exit }'", "r");

	(void)state;
	assert_non_null(f);
	assert_non_null(fgets(first, sizeof(first), f));
	pclose(f);
	first[strcspn(first, "\n")] = 0;
	assert_int_equal(syn("fd00:96:5::2", 0, &o), 0);
	if (o.verdict == XDP_DROP_ || strcmp(o.src, first))
		fail_msg("IPv6, no node set: verdict %d, source %s; expected a forward from %s",
			 o.verdict, o.src[0] ? o.src : "(dropped)", first);
}

/*
 * The default range (28232 ports) for one backend filled to 95% with no failure, then
 * on to the first failure; the kernel's time per new flow near 0%, 50% and 90%.
 */
static void test_default_range(void **state)
{
	unsigned int n95 = RANGE_DEF * 95 / 100, fails = 0, first_fail = 0, i;
	uint64_t t[3] = { 0 }, n[3] = { 0 }, d0 = dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED);
	unsigned int at[3] = { 1, RANGE_DEF / 2, RANGE_DEF * 9 / 10 };
	struct sent o;

	(void)state;
	/* Flow 0 is test_default_addr's: it holds a port already. */
	for (i = 1; i < RANGE_DEF + 64 && !first_fail; i++) {
		assert_int_equal(syn(VIP_DEF, i, &o), 0);
		if (o.verdict == XDP_DROP_) {
			if (i < n95)
				fails++;
			first_fail = i;
			break;
		}
		if (strcmp(o.src, DEV_ADDR))
			fail_msg("flow %u left from %s, not %s", i, o.src, DEV_ADDR);
		for (int k = 0; k < 3; k++)
			if (i >= at[k] && i < at[k] + 512) {
				t[k] += o.ns;
				n[k]++;
			}
	}
	printf("# default range %d ports: %u flows held before the first failure (%.2f%%)\n",
	       RANGE_DEF, first_fail ? first_fail : i, 100.0 * (first_fail ? first_fail : i) /
							 RANGE_DEF);
	if (n[0] && n[1] && n[2])
		printf("# new SNAT flow, kernel time (512 flows each): 0%% %.0f ns, 50%% %.0f ns "
	       "(x%.2f), 90%% %.0f ns (x%.2f)\n",
	       (double)t[0] / n[0], (double)t[1] / n[1], (double)t[1] / n[1] / ((double)t[0] / n[0]),
	       (double)t[2] / n[2], (double)t[2] / n[2] / ((double)t[0] / n[0]));
	if (fails || (first_fail && first_fail < n95))
		fail_msg("the first failure came at flow %u (%.2f%% of the range): before 95%%",
			 first_fail, 100.0 * first_fail / RANGE_DEF);
	if (first_fail)
		assert_int_equal(dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED), d0 + 1);
}

/* A range of 64 ports (and an address set: the override): 64 live flows, the 65th
 * dropped and counted. */
static void test_range64(void **state)
{
	uint8_t used[64] = { 0 };
	uint64_t d0;
	struct sent o;

	(void)state;
	assert_int_equal(cli("service add s64 %s:80/tcp --mode snat", VIP_64), 0);
	assert_int_equal(cli("backend add s64 %s:8080", BE_64), 0);
	assert_int_equal(cli("node set --snat-addr 10.99.0.1 --snat-ports 40000-40063"), 0);
	d0 = dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED);
	for (unsigned int i = 0; i < 64; i++) {
		assert_int_equal(syn(VIP_64, 100000 + i, &o), 0);
		if (o.verdict == XDP_DROP_)
			fail_msg("flow %u of 64 dropped (%llu counted drop_snat_exhausted)", i + 1,
				 (unsigned long long)(dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED) -
						      d0));
		if (strcmp(o.src, "10.99.0.1") || o.sport < 40000 || o.sport > 40063 ||
		    used[o.sport - 40000]++)
			fail_msg("flow %u: source %s:%u (a port of 40000-40063 no other flow has "
				 "expected)", i + 1, o.src, o.sport);
	}
	assert_int_equal(dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED), d0);
	assert_int_equal(syn(VIP_64, 100064, &o), 0);
	assert_int_equal(o.verdict, XDP_DROP_);
	assert_int_equal(dp_reason(&st, L4S_R_DROP_SNAT_EXHAUSTED), d0 + 1);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_default_addr),
		cmocka_unit_test(test_default_addr6),
		cmocka_unit_test(test_default_range),
		cmocka_unit_test(test_range64),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "SNAT datapath tests need root (BPF_PROG_TEST_RUN, a netns)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("snat", tests, setup, teardown);
}
