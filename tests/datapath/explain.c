// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * 'l4split explain' against the real program: for many random clients, what explain
 * says (core/explain.c, and the command's JSON for some) is where l4s_xdp_fwd sends
 * the SYN, through BPF_PROG_TEST_RUN; after the flow entry exists, explain names the
 * entry's backend, also once a weight change moved the slot to another. Its own state
 * and binary: the datapath table (tests/datapath/datapath.c) is not touched.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <jansson.h>
#include "cli.h"
#include "cmd.h"
#include "err.h"
#include "explain.h"
#include "model.h"
#include "parse.h"
#include "pkt.h"
#include "state.h"
#include "l4split.skel.h"

#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define XDP_TX_   3
#define NCLIENTS  1000

static char pin_dir[] = "/run/l4s-explain-XXXXXX";
static struct l4s_state st;
static struct l4split_bpf *skel;
static int fd_xdp;
static unsigned int seed;

struct svc_case {
	const char *name;
	int v6;
	uint8_t proto;
	const char *vip;
	uint16_t vport;
};

static const struct svc_case w99 = { "w99", 0, IPPROTO_TCP, "10.96.1.1", 80 };
static const struct svc_case w11 = { "w11", 0, IPPROTO_TCP, "10.96.1.2", 80 };
static const struct svc_case many = { "many", 0, IPPROTO_TCP, "10.96.1.3", 80 };
static const struct svc_case aff = { "aff", 0, IPPROTO_TCP, "10.96.1.4", 80 };
static const struct svc_case six = { "six", 1, IPPROTO_TCP, "fd00:96::1", 80 };
static const struct svc_case aff6 = { "aff6", 1, IPPROTO_TCP, "fd00:96::2", 443 };
static const struct svc_case dns = { "dns", 0, IPPROTO_UDP, "10.96.1.5", 53 };
static const struct svc_case sn = { "sn", 0, IPPROTO_TCP, "10.96.1.6", 80 };
static const struct svc_case zero = { "zero", 0, IPPROTO_TCP, "10.96.1.7", 80 };

static int setup_state(void)
{
	opt_pin_dir = pin_dir;
	state_set_flow_max(65536);
	if (cli("service add w99 10.96.1.1:80/tcp") || cli("service add w11 10.96.1.2:80/tcp") ||
	    cli("service add many 10.96.1.3:80/tcp --table-size 4099") ||
	    cli("service add aff 10.96.1.4:80/tcp --affinity client-ip") ||
	    cli("service add six [fd00:96::1]:80/tcp [fd00:96::9]:80/tcp") ||
	    cli("service add aff6 [fd00:96::2]:443/tcp --affinity client-ip --table-size 65521") ||
	    cli("service add dns 10.96.1.5:53/udp --mode nat") ||
	    cli("service add sn 10.96.1.6:80/tcp --mode snat") ||
	    cli("service add zero 10.96.1.7:80/tcp"))
		return -1;
	if (cli("backend add w99 10.1.0.1:8080 --track old") ||
	    cli("backend add w99 10.1.0.2:8080 --track new") || cli("weight w99 old=99 new=1") ||
	    cli("backend add w11 10.2.0.1:80 --track old") ||
	    cli("backend add w11 10.2.0.2:80 --track new") || cli("weight w11 old=1 new=1"))
		return -1;
	for (int i = 1; i <= 5; i++)
		if (cli("backend add many 10.3.0.%d:80 --track %s --weight %d", i,
			i <= 3 ? "stable" : "canary", i) ||
		    cli("backend add aff 10.4.0.%d:80", i) ||
		    cli("backend add six [fd00:3::%d]:8080 --track %s", i, i == 5 ? "b" : "a") ||
		    cli("backend add aff6 [fd00:4::%d]:443", i) ||
		    cli("backend add dns 10.5.0.%d:5353", i))
			return -1;
	if (cli("weight many stable=3 canary=1") || cli("weight six a=1 b=1") ||
	    cli("backend add sn 10.6.0.1:80") || cli("backend add sn 10.6.0.2:80") ||
	    cli("node set --snat-addr 10.99.0.1") || cli("backend add zero 10.7.0.1:80") ||
	    cli("weight zero default=0"))
		return -1;
	{
		int fds[3];

		skel = dp_load(&st, pin_dir, fds);
		if (!skel)
			return -1;
		fd_xdp = fds[0];
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(pin_dir))
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

/* A random client of the service's family. */
static void client_rand(const struct svc_case *sc, char *buf, size_t n, uint16_t *port)
{
	if (sc->v6)
		snprintf(buf, n, "fd00:9:%x:%x::%x", rand_r(&seed) & 0xffff, rand_r(&seed) & 0xffff,
			 1 + rand_r(&seed) % 0xfffe);
	else
		snprintf(buf, n, "10.%d.%d.%d", 10 + rand_r(&seed) % 200, rand_r(&seed) % 256,
			 1 + rand_r(&seed) % 254);
	*port = (uint16_t)(1024 + rand_r(&seed) % 64000);
}

/* Explain the flow @client:@port -> the service's first frontend. */
static void explain(const struct svc_case *sc, const char *client, uint16_t port,
		    struct explain_result *r)
{
	const struct state_svc_index *x;
	struct explain_query q = {};
	__u32 id;

	assert_int_equal(svc_find(&st, sc->name, &id), 0);
	assert_int_equal(parse_addr(client, &q.client, &q.family), 0);
	q.cport = port;
	x = state_index(&st, id);
	assert_non_null(x);
	assert_true(x->nfe > 0);
	q.fe = x->fe[0];
	if (explain_flow(&st, id, &q, r))
		fail_msg("explain %s %s:%u: %s", sc->name, client, port, l4s_errmsg());
}

/* One packet through l4s_xdp_fwd; its verdict, and the frame out in @pi. */
static int send_pkt(const struct svc_case *sc, const char *client, uint16_t port, uint8_t flags,
		uint32_t seq, struct pkt_info *pi)
{
	struct pkt_spec s = { .v6 = sc->v6, .proto = sc->proto, .src = client, .dst = sc->vip,
			      .sport = port, .dport = sc->vport, .tcp_flags = flags, .seq = seq };
	uint8_t in[256], out[2048];
	size_t len = pkt_build(&s, in, sizeof(in)), olen;
	int ret;

	assert_int_equal(try_prog(fd_xdp, in, len, out, &olen, &ret), 0);
	*pi = pkt_info(out, olen);
	return ret;
}

/* Is the frame's destination backend @be? */
static int sent_to(const struct pkt_info *pi, const struct l4s_backend *be)
{
	return pi->ok && !memcmp(pi->dst, be->addr.addr, pi->v6 ? 16 : 4) &&
	       pi->dport == ntohs(be->port);
}

static const char *dst_text(char *buf, const struct pkt_info *pi)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(pi->v6 ? AF_INET6 : AF_INET, pi->dst, a, sizeof(a));
	snprintf(buf, L4S_ADDRSTRLEN, pi->v6 ? "[%s]:%u" : "%s:%u", a, pi->dport);
	return buf;
}

/* What 'l4split [-j] explain ARGS' prints on stdout (the caller frees it); *rc its exit
 * code. */
static char *explain_out(int json, int *rc, const char *line)
{
	char copy[256], *argv[16], *save = NULL, *tok, *out = NULL;
	FILE *mem, *saved;
	size_t outlen = 0;
	int argc = 0;

	snprintf(copy, sizeof(copy), "%s", line);
	for (tok = strtok_r(copy, " ", &save); tok && argc < 15; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	fflush(stdout);
	saved = stdout;
	stdout = mem;
	l4s_json = json;
	*rc = do_explain(argc, argv);
	l4s_json = 0;
	stdout = saved;
	fclose(mem);
	return out;
}

/* What 'l4split -j explain ARGS' prints, parsed; *rc its exit code. */
static json_t *explain_cmd(int *rc, const char *fmt, ...)
{
	char line[256], *out;
	va_list ap;
	json_t *doc;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	out = explain_out(1, rc, line);
	doc = json_loads(out ? out : "", 0, NULL);
	if (!doc)
		fail_msg("explain %s printed no JSON: \"%s\"", line, out ? out : "");
	free(out);
	return doc;
}

/* Does @text hold @want? */
static void assert_has(const char *text, const char *want)
{
	if (!text || !strstr(text, want))
		fail_msg("expected \"%s\" in:\n%s", want, text ? text : "(nothing)");
}

struct flow_seen {
	char client[INET6_ADDRSTRLEN];
	uint16_t port;
	__u32 backend_id;
	struct l4s_backend be;
};

/*
 * NCLIENTS random clients: explain, then the SYN; the program sends it where explain
 * said. Then explain again: the entry is live and holds that backend (and the path the
 * program took: snat when it rewrote the source). @seen gets each flow.
 */
static void agree_new(const struct svc_case *sc, struct flow_seen *seen, int n)
{
	char buf[L4S_ADDRSTRLEN];
	int per_backend[64] = { 0 }, used = 0;

	for (int i = 0; i < n; i++) {
		struct explain_result r, r2;
		struct pkt_info pi;
		int v;

		client_rand(sc, seen[i].client, sizeof(seen[i].client), &seen[i].port);
		explain(sc, seen[i].client, seen[i].port, &r);
		if (r.flow_found) { /* the same random 5-tuple twice: already followed */
			i--;
			continue;
		}
		assert_int_equal(r.source, EXPLAIN_TABLE);
		v = send_pkt(sc, seen[i].client, seen[i].port, 0, 0, &pi);
		assert_int_equal(v, XDP_PASS_);
		if (!sent_to(&pi, &r.be))
			fail_msg("%s %s:%u: explain says %s (slot %u), the program sent it to %s",
				 sc->name, seen[i].client, seen[i].port,
				 fmt_addr_port(buf, &r.be.addr, r.be.family, ntohs(r.be.port)),
				 r.slot, dst_text(buf, &pi));
		seen[i].backend_id = r.backend_id;
		seen[i].be = r.be;
		if (r.backend_id < 64 && !per_backend[r.backend_id]++)
			used++;

		explain(sc, seen[i].client, seen[i].port, &r2);
		assert_true(r2.flow_found);
		assert_true(r2.flow_live);
		assert_int_equal(r2.source, EXPLAIN_FLOW);
		assert_int_equal(r2.backend_id, r.backend_id);
		{
			uint8_t c[16] = { 0 };

			inet_pton(sc->v6 ? AF_INET6 : AF_INET, seen[i].client, c);
			/* The entry's path is the one the program took. */
			if (memcmp(pi.src, c, sc->v6 ? 16 : 4)) {
				assert_int_equal(r2.path, EXPLAIN_PATH_SNAT);
				assert_int_equal(ntohs(r2.flow.snat_port), pi.sport);
			} else {
				assert_int_not_equal(r2.path, EXPLAIN_PATH_SNAT);
			}
		}
	}
	/* Random clients reach more than one backend wherever more than one has weight. */
	assert_true(used > 1);
}

/* After a weight change: each flow's entry still decides (explain and program agree on
 * it), though for some the slot now holds another backend. */
static void agree_kept(const struct svc_case *sc, const struct flow_seen *seen, int n)
{
	int moved = 0;

	state_forget(&st); /* the weights changed under our snapshot */
	for (int i = 0; i < n; i++) {
		struct explain_result r;
		struct pkt_info pi;

		explain(sc, seen[i].client, seen[i].port, &r);
		assert_int_equal(r.source, EXPLAIN_FLOW);
		assert_int_equal(r.backend_id, seen[i].backend_id);
		if (r.slot_ok && r.slot_id != r.backend_id)
			moved++;
		/* The SYN again (a retransmission: same sequence number). */
		assert_int_equal(send_pkt(sc, seen[i].client, seen[i].port, 0, 0, &pi), XDP_PASS_);
		assert_true(sent_to(&pi, &seen[i].be));
	}
	print_message("# %s: %d of %d flows kept their backend, their slot moved\n", sc->name,
		      moved, n);
	assert_true(moved > 0);
}

static void agreement(const struct svc_case *sc, const char *reweight)
{
	struct flow_seen *seen = calloc(NCLIENTS, sizeof(*seen));

	assert_non_null(seen);
	state_forget(&st);
	agree_new(sc, seen, NCLIENTS);
	if (reweight) {
		assert_int_equal(cli("weight %s", reweight), 0);
		agree_kept(sc, seen, NCLIENTS);
		/* New flows follow the new table. */
		agree_new(sc, seen, NCLIENTS);
	}
	free(seen);
}

static void test_99_1(void **state)
{
	(void)state;
	agreement(&w99, "w99 old=1 new=99");
}

static void test_1_1(void **state)
{
	(void)state;
	agreement(&w11, "w11 old=1 new=3");
}

static void test_many(void **state)
{
	(void)state;
	agreement(&many, "many stable=1 canary=3");
}

static void test_affinity(void **state)
{
	struct explain_result a, b;

	(void)state;
	agreement(&aff, "aff 10.4.0.1:80=5");
	/* One client, any port: one slot. */
	explain(&aff, "10.200.0.7", 1111, &a);
	explain(&aff, "10.200.0.7", 2222, &b);
	assert_true(a.affinity);
	assert_int_equal(a.slot, b.slot);
	assert_int_equal(a.backend_id, b.backend_id);
}

static void test_ipv6(void **state)
{
	(void)state;
	agreement(&six, "six a=1 b=9");
}

static void test_ipv6_affinity(void **state)
{
	(void)state;
	agreement(&aff6, "aff6 [fd00:4::2]:443=7");
}

static void test_udp(void **state)
{
	(void)state;
	agreement(&dns, "dns 10.5.0.1:5353=0");
}

/* snat mode: explain says snat for new flows, and the entry's port is the program's. */
static void test_snat(void **state)
{
	struct explain_result r;

	(void)state;
	explain(&sn, "10.50.0.1", 5000, &r);
	assert_int_equal(r.path, EXPLAIN_PATH_SNAT);
	agreement(&sn, NULL);
}

/* A closed flow: explain says a new connection chooses again by the slot, as the
 * program does with a SYN of another sequence number. */
static void test_closed(void **state)
{
	struct explain_result r;
	struct pkt_info pi;
	int moved = 0;

	(void)state;
	state_forget(&st);
	for (int i = 0; i < 100; i++) {
		char c[32];
		uint16_t port;

		client_rand(&w99, c, sizeof(c), &port);
		send_pkt(&w99, c, port, 0, 0, &pi);
		assert_int_equal(cli("weight w99 old=%d new=%d", i % 2 ? 99 : 1, i % 2 ? 1 : 99), 0);
		state_forget(&st);
		assert_int_equal(send_pkt(&w99, c, port, TCP_F_RST | TCP_F_ACK, 0, &pi), XDP_PASS_);
		explain(&w99, c, port, &r);
		assert_true(r.flow_found && r.flow_live);
		assert_true(r.flow.flags & L4S_FLOW_F_CLOSED);
		assert_int_equal(r.source, EXPLAIN_TABLE);
		if (r.flow_be.addr.addr[0] != r.be.addr.addr[0])
			moved++;
		assert_int_equal(send_pkt(&w99, c, port, TCP_F_SYN, 0x55667788, &pi), XDP_PASS_);
		assert_true(sent_to(&pi, &r.be));
	}
	assert_true(moved > 0);
}

/* No backend with weight: explain says drop (and that a new flow is answered with a RST),
 * the program answers the SYN (XDP_TX) and drops the rest of a flow. */
static void test_drop(void **state)
{
	struct explain_result r;
	struct pkt_info pi;
	json_t *j;
	int rc;

	(void)state;
	explain(&zero, "10.60.0.1", 4000, &r);
	assert_int_equal(r.source, EXPLAIN_NONE);
	assert_int_equal(send_pkt(&zero, "10.60.0.1", 4000, 0, 0, &pi), XDP_TX_);
	assert_int_equal(send_pkt(&zero, "10.60.0.1", 4000, 0x10, 0, &pi), XDP_DROP_);
	j = explain_cmd(&rc, "zero 10.60.0.1:4000");
	assert_int_equal(rc, 0);
	assert_string_equal(json_string_value(json_object_get(j, "verdict")), "drop");
	assert_string_equal(json_string_value(json_object_get(j, "reply")), "tcp-rst");
	assert_true(json_is_null(json_object_get(j, "backend")));
	json_decref(j);
}

/* The command prints the core's answer: for random flows, its JSON names the backend
 * the program sends to, before and after the entry exists. */
static void test_command(void **state)
{
	static const struct svc_case *const svcs[] = { &w11, &six, &aff };
	char buf[L4S_ADDRSTRLEN], c[INET6_ADDRSTRLEN], arg[80];

	(void)state;
	state_forget(&st);
	for (int i = 0; i < 60; i++) {
		const struct svc_case *sc = svcs[i % 3];
		struct pkt_info pi;
		uint16_t port;
		json_t *j;
		int rc;

		client_rand(sc, c, sizeof(c), &port);
		snprintf(arg, sizeof(arg), sc->v6 ? "[%s]:%u" : "%s:%u", c, port);
		j = explain_cmd(&rc, "%s %s --proto tcp", sc->name, arg);
		assert_int_equal(rc, 0);
		assert_true(json_is_null(json_object_get(j, "flow_entry")));
		assert_int_equal(send_pkt(sc, c, port, 0, 0, &pi), XDP_PASS_);
		assert_string_equal(json_string_value(json_object_get(j, "backend")),
				    dst_text(buf, &pi));
		assert_string_equal(json_string_value(json_object_get(j, "source")), "table");
		json_decref(j);
		j = explain_cmd(&rc, "%s %s", sc->name, arg);
		assert_int_equal(rc, 0);
		assert_string_equal(json_string_value(json_object_get(j, "source")), "flow-entry");
		assert_true(json_is_true(json_object_get(json_object_get(j, "flow_entry"), "live")));
		assert_string_equal(json_string_value(json_object_get(j, "backend")),
				    dst_text(buf, &pi));
		json_decref(j);
	}
}

/* The text a user reads: the slot and what it holds, the backend and where it comes
 * from, the shares, the mode; then the entry, once the SYN went through. */
static void test_text(void **state)
{
	char want[160], *out;
	struct explain_result r;
	struct pkt_info pi;
	int rc;

	(void)state;
	state_forget(&st);
	explain(&many, "10.77.0.1", 3333, &r);
	assert_int_equal(r.source, EXPLAIN_TABLE);
	out = explain_out(0, &rc, "many 10.77.0.1:3333");
	assert_int_equal(rc, 0);
	assert_has(out, "flow 10.77.0.1:3333 -> 10.96.1.3:80/tcp, service many\n");
	snprintf(want, sizeof(want), "over the 5-tuple: slot %u of 4099, holding 10.3.0.%u:80\n",
		 r.slot, ntohl(r.be.addr.addr[0]) & 0xff);
	assert_has(out, want);
	assert_has(out, "  entry    none: a new flow, chosen by the slot\n");
	snprintf(want, sizeof(want), "  backend  10.3.0.%u:80 (id %u), track %s, from the lookup "
		 "table\n", ntohl(r.be.addr.addr[0]) & 0xff, r.backend_id, r.be.track);
	assert_has(out, want);
	/* many: stable=1 canary=3 after test_many; backends 1..3 stable, 4..5 canary */
	assert_has(out, !strcmp(r.be.track, "stable") ? "track stable 25.00% (weight 1)" :
							"track canary 75.00% (weight 3)");
	assert_has(out, "  mode     nat if local, snat if remote (service mode auto)\n");
	assert_has(out, "FIB lookup");
	free(out);

	assert_int_equal(send_pkt(&many, "10.77.0.1", 3333, 0, 0, &pi), XDP_PASS_);
	out = explain_out(0, &rc, "many 10.77.0.1:3333");
	assert_int_equal(rc, 0);
	snprintf(want, sizeof(want), "  entry    live, backend 10.3.0.%u:80, flags",
		 ntohl(r.be.addr.addr[0]) & 0xff);
	assert_has(out, want);
	assert_has(out, "from the flow entry\n");
	assert_has(out, "fixed when the flow started");
	assert_true(strstr(out, "the slot moved since") == NULL);
	free(out);

	/* The slot's track loses its weight: the entry still decides, and the text says
	 * where a new connection would go. */
	assert_int_equal(cli("weight many %s", !strcmp(r.be.track, "stable") ?
						"stable=0 canary=1" : "stable=1 canary=0"), 0);
	state_forget(&st);
	out = explain_out(0, &rc, "many 10.77.0.1:3333");
	assert_int_equal(rc, 0);
	snprintf(want, sizeof(want), "  backend  10.3.0.%u:80 (id %u), track %s, from the flow "
		 "entry\n", ntohl(r.be.addr.addr[0]) & 0xff, r.backend_id, r.be.track);
	assert_has(out, want);
	assert_has(out, "the slot moved since: a new connection from this port (another SYN) "
			"gets 10.3.0.");
	free(out);
}

/* Bad input: 2 for usage, 1 for what the state lacks; an error document either way. */
static void test_errors(void **state)
{
	static const struct { const char *args; int rc; const char *msg; } cases[] = {
		{ "", 2, "needs a service NAME" },
		{ "w99", 2, "needs a service NAME" },
		{ "w99 10.9.0.1", 2, "expected ADDR:PORT" },
		{ "w99 10.9.0.1:0", 2, "" },
		{ "w99 nohost:80", 2, "" },
		{ "w99 10.9.0.1:80 --proto sctp", 2, "tcp or udp" },
		{ "w99 10.9.0.1:80 --proto", 2, "needs a value" },
		{ "w99 10.9.0.1:80 --bogus", 2, "unknown option" },
		{ "w99 10.9.0.1:80 extra", 2, "unexpected argument" },
		{ "w99 10.9.0.1:80 --frontend [fd00::1]:80", 2, "address family" },
		{ "w99 10.9.0.1:80 --frontend 10.96.1.1:80/udp --proto tcp", 2, "disagree" },
		{ "bad/name 10.9.0.1:80", 2, "" },
		{ "nosuch 10.9.0.1:80", 1, "not found" },
		{ "w99 [fd00::1]:80", 1, "no IPv6" },
		{ "w99 10.9.0.1:80 --proto udp", 1, "no IPv4 udp frontend" },
		{ "w99 10.9.0.1:80 --frontend 10.96.1.1:81", 1, "no frontend 10.96.1.1:81" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		json_t *j = explain_cmd(&rc, "%s", cases[i].args);
		const char *e = json_string_value(json_object_get(j, "error"));

		if (rc != cases[i].rc || !e || !strstr(e, cases[i].msg))
			fail_msg("explain %s: exit %d, error \"%s\"; expected exit %d and \"%s\"",
				 cases[i].args, rc, e ? e : "(none)", cases[i].rc, cases[i].msg);
		json_decref(j);
	}
	/* --frontend picks the second frontend. */
	{
		int rc;
		json_t *j = explain_cmd(&rc, "six [fd00:9::1]:999 --frontend [fd00:96::9]:80");

		assert_int_equal(rc, 0);
		assert_string_equal(json_string_value(json_object_get(j, "frontend")),
				    "[fd00:96::9]:80/tcp");
		json_decref(j);
	}
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_99_1),   cmocka_unit_test(test_1_1),
		cmocka_unit_test(test_many),   cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_ipv6),   cmocka_unit_test(test_ipv6_affinity),
		cmocka_unit_test(test_udp),    cmocka_unit_test(test_snat),
		cmocka_unit_test(test_closed), cmocka_unit_test(test_drop),
		cmocka_unit_test(test_command), cmocka_unit_test(test_text),
		cmocka_unit_test(test_errors),
	};
	const char *s = getenv("L4S_SEED");

	if (geteuid() != 0) {
		fprintf(stderr, "explain datapath tests need root (BPF_PROG_TEST_RUN)\n");
		return 1;
	}
	seed = s ? (unsigned int)strtoul(s, NULL, 0) : (unsigned int)time(NULL);
	printf("# seed %u (L4S_SEED=%u repeats this run)\n", seed, seed);
	return cmocka_run_group_tests_name("explain", tests, setup, teardown);
}
