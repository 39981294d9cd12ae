// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A state at the default capacity, full: 65,536 backends made by one 'l4split apply',
 * one service ("big") with the 5,000 a service may have, created after the others so
 * that its backend ids are the highest (60,536 .. 65,535, past layout 3's 16,384).
 * Its shares are measured through the real program (l4s_xdp_fwd, BPF_PROG_TEST_RUN):
 * after it is created, after a weight change, and it is deleted and made again. The
 * per-backend counters count those flows. The 65,537th backend and a service's
 * 5,001st are refused with the error a user reads. Its own state and binary.
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
#include <bpf/bpf.h>
#include <cmocka.h>
#include "cli.h"
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "pkt.h"
#include "state.h"
#include "svc.h"
#include "l4split.skel.h"

#define XDP_PASS_ 2
#define BIG_N     5000
#define BIG_OLD   4000 /* backends 0 .. 3999 of big are track old, the rest new */
#define NFLOWS    20000

static char pin_dir[] = "/run/l4s-capacity-XXXXXX";
static char doc_path[] = "/tmp/l4s-capacity-doc-XXXXXX";
static struct l4s_state st;
static struct l4split_bpf *skel;
static int fd_xdp;
static unsigned int seed = 19;
static unsigned int client_no;

/* big's backend @j: 10.50.(j / 250).(1 + j % 250):8080 */
static void big_addr(int j, char *buf, size_t n)
{
	snprintf(buf, n, "10.50.%d.%d", j / 250, 1 + j % 250);
}

/*
 * Write the apply document: filler services of up to 5,000 backends holding @fill
 * backends in all, then big with @big backends (0: not listed). Returns its path.
 */
static const char *write_doc(int fill, int big)
{
	FILE *f = fopen(doc_path, "w");
	int k = 0;

	assert_non_null(f);
	fprintf(f, "{\"services\": [");
	for (int done = 0; done < fill; k++) {
		int c = fill - done < 5000 ? fill - done : 5000;

		fprintf(f, "%s{\"name\": \"fill%d\", \"vip\": \"10.96.1.%d:80/tcp\", \"backends\": [",
			k ? ", " : "", k, k + 1);
		for (int j = 0; j < c; j++, done++)
			fprintf(f, "%s{\"addr\": \"10.%d.%d.%d:80\"}", j ? ", " : "", 100 + done / 65536,
				(done / 256) % 256, done % 256);
		fprintf(f, "]}");
	}
	if (big) {
		fprintf(f, "%s{\"name\": \"big\", \"vip\": \"10.96.0.1:80/tcp\", "
			"\"tracks\": {\"old\": 1, \"new\": 1}, \"backends\": [", k ? ", " : "");
		for (int j = 0; j < big; j++) {
			char a[32];

			big_addr(j, a, sizeof(a));
			fprintf(f, "%s{\"addr\": \"%s:8080\", \"track\": \"%s\"}", j ? ", " : "", a,
				j < BIG_OLD ? "old" : "new");
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}\n");
	fclose(f);
	return doc_path;
}

/* 'l4split apply @path': its exit code; what it printed on stderr in @err (freed by the
 * caller, may be NULL). */
static int apply(const char *path, char **err)
{
	char *argv[] = { (char *)path, NULL }, *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen), *saved, *so = stdout;
	int rc;

	assert_non_null(mem);
	fflush(stderr);
	fflush(stdout);
	saved = stderr;
	stderr = mem;
	stdout = fopen("/dev/null", "w");
	rc = do_apply(1, argv);
	fclose(stdout);
	stdout = so;
	stderr = saved;
	fclose(mem);
	if (err)
		*err = out;
	else
		free(out);
	return rc;
}

/* 'l4split backend add ...' with its stderr, as apply(). */
static int backend_add(const char *svc, const char *addr, char **err)
{
	char *argv[] = { "add", (char *)svc, (char *)addr, NULL }, *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen), *saved, *so = stdout;
	int rc;

	assert_non_null(mem);
	fflush(stderr);
	fflush(stdout);
	saved = stderr;
	stderr = mem;
	stdout = fopen("/dev/null", "w");
	rc = do_backend(3, argv);
	fclose(stdout);
	stdout = so;
	stderr = saved;
	fclose(mem);
	*err = out;
	return rc;
}

static void assert_has(const char *text, const char *want)
{
	if (!text || !strstr(text, want))
		fail_msg("expected \"%s\" in:\n%s", want, text ? text : "(nothing)");
}

/* Backends in use, read through a fresh look at the state. */
static int backends_in_use(void)
{
	const struct l4s_backend *all;
	int n = 0;

	state_forget(&st);
	all = state_backends(&st);
	assert_non_null(all);
	for (__u32 i = 0; i < st.be_max; i++)
		n += !!(all[i].flags & L4S_BE_F_IN_USE);
	return n;
}

static int setup(void **state)
{
	int fds[3], fd;

	(void)state;
	if (!mkdtemp(pin_dir) || (fd = mkstemp(doc_path)) < 0)
		return -1;
	close(fd);
	opt_pin_dir = pin_dir;
	state_set_flow_max(65536);
	/* Made by the first command: an empty service, so the programs load over it. */
	if (cli("service add probe 10.96.9.9:80/tcp") || !(skel = dp_load(&st, pin_dir, fds))) {
		dp_setup_failed(skel, &st, pin_dir);
		return -1;
	}
	fd_xdp = fds[0];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dp_unload(skel, &st, pin_dir);
	unlink(doc_path);
	return 0;
}

/* One SYN from a new client to big's VIP; the backend index it went to (0 .. 4999),
 * -1 when it was not forwarded to one of big's backends, -2 when passed untouched. */
static int syn_to_big(void)
{
	char client[32];
	struct pkt_spec s = { .proto = IPPROTO_TCP, .src = client, .dst = "10.96.0.1",
			      .dport = 80, .tcp_flags = TCP_F_SYN };
	uint8_t in[256], out[2048];
	struct pkt_info pi;
	size_t len, olen;
	int ret;

	client_no++;
	snprintf(client, sizeof(client), "172.%d.%d.%d", 16 + (client_no >> 16) % 16,
		 (client_no >> 8) & 0xff, client_no & 0xff);
	s.sport = (uint16_t)(1024 + rand_r(&seed) % 60000);
	len = pkt_build(&s, in, sizeof(in));
	assert_int_equal(try_prog(fd_xdp, in, len, out, &olen, &ret), 0);
	pi = pkt_info(out, olen);
	if (ret == XDP_PASS_ && pi.ok && pi.dst[0] == 10 && pi.dst[1] == 96)
		return -2;
	if (!pi.ok || pi.dst[0] != 10 || pi.dst[1] != 50 || pi.dport != 8080 || pi.dst[3] < 1 ||
	    pi.dst[3] > 250 || pi.dst[2] >= BIG_N / 250)
		return -1;
	return pi.dst[2] * 250 + pi.dst[3] - 1;
}

/* NFLOWS SYNs: track new's share (%), and how many of big's backends got one. */
static double new_share(int *reached)
{
	static unsigned char hit[BIG_N];
	int n_new = 0;

	memset(hit, 0, sizeof(hit));
	*reached = 0;
	for (int i = 0; i < NFLOWS; i++) {
		int j = syn_to_big();

		if (j < 0)
			fail_msg("SYN %d to big's VIP was not sent to one of its backends (%d)", i, j);
		n_new += j >= BIG_OLD;
		*reached += !hit[j];
		hit[j] = 1;
	}
	return 100.0 * n_new / NFLOWS;
}

/* big's backends: the lowest id, and their flows counter summed (state_backend_stats). */
static __u64 big_flows(__u32 *min_id, int *nbe)
{
	struct model m;
	__u64 flows = 0;
	__u32 id;

	state_forget(&st);
	assert_int_equal(svc_find(&st, "big", &id), 0);
	assert_int_equal(model_load(&st, id, &m), 0);
	*min_id = UINT32_MAX;
	*nbe = m.nbe;
	for (int i = 0; i < m.nbe; i++) {
		struct l4s_backend_stats c;

		assert_int_equal(state_backend_stats(&st, m.be[i].id, &c), 0);
		flows += c.flows;
		if (m.be[i].id < *min_id)
			*min_id = m.be[i].id;
	}
	model_free(&m);
	return flows;
}

static void test_full_state(void **state)
{
	struct timespec t0, t1;
	char *err = NULL;
	__u32 min_id;
	int nbe, reached;
	double share;

	(void)state;
	assert_int_equal(st.be_max, L4S_MAX_BACKENDS);
	assert_int_equal(L4S_MAX_BACKENDS, 65536);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (apply(write_doc(L4S_MAX_BACKENDS - BIG_N, BIG_N), &err))
		fail_msg("apply of 65,536 backends failed:\n%s", err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(err);
	print_message("# apply of 14 services, 65,536 backends: %.2f s\n",
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	assert_int_equal(backends_in_use(), 65536);

	/* Created: tracks old=1 new=1 give new half the flows (its 1,000 backends). */
	share = new_share(&reached);
	print_message("# big, 5,000 backends, old=1 new=1: new %.2f%% of %d flows, %d backends "
		      "reached\n", share, NFLOWS, reached);
	assert_true(share > 48.0 && share < 52.0);
	/* 20,000 flows over 5,000 backends (4 each on average; 2 for old ones, 10 for
	 * new): nearly all get some (e^-2 of old ones miss: 13.5%, 540). */
	assert_true(reached > 4200);
	/* The ids past layout 3's 16,384 count in the per-backend counters. */
	assert_int_equal(big_flows(&min_id, &nbe), NFLOWS);
	assert_int_equal(nbe, BIG_N);
	assert_true(min_id >= 16384);

	/* Changed: old=1 new=3. */
	assert_int_equal(cli("weight big old=1 new=3"), 0);
	share = new_share(&reached);
	print_message("# after weight big old=1 new=3: new %.2f%%\n", share);
	assert_true(share > 73.0 && share < 77.0);
	assert_int_equal(big_flows(&min_id, &nbe), 2 * NFLOWS);

	/* Deleted: its VIP is no service any more, its 5,000 slots are free. */
	assert_int_equal(cli("service del big"), 0);
	assert_int_equal(backends_in_use(), 65536 - BIG_N);
	for (int i = 0; i < 100; i++)
		assert_int_equal(syn_to_big(), -2);

	/* And made again in the slots it freed: the state is full again. */
	err = NULL;
	if (apply(write_doc(L4S_MAX_BACKENDS - BIG_N, BIG_N), &err))
		fail_msg("apply again failed:\n%s", err);
	free(err);
	assert_int_equal(backends_in_use(), 65536);
	share = new_share(&reached);
	assert_true(share > 48.0 && share < 52.0);
	/* Fresh ids: their counters started at zero. */
	assert_int_equal(big_flows(&min_id, &nbe), NFLOWS);
}

static void test_limits(void **state)
{
	char *err = NULL;
	int rc;

	(void)state;
	/* The state is full (test_full_state): one more backend has no slot. */
	rc = backend_add("fill12", "10.201.0.1:80", &err);
	assert_int_equal(rc, 1);
	assert_has(err, "all 65536 are in use");
	free(err);
	rc = apply(write_doc(L4S_MAX_BACKENDS - BIG_N + 1, BIG_N), &err);
	assert_int_equal(rc, 1);
	assert_has(err, "the document needs 65537 backends");
	assert_has(err, "65536 backend slots");
	assert_has(err, "attach --backends N");
	free(err);
	assert_int_equal(backends_in_use(), 65536);

	/* A service's 5,001st backend, by apply and by backend add. */
	assert_int_equal(cli("service del fill12"), 0); /* room: 536 free */
	rc = apply(write_doc(L4S_MAX_BACKENDS - 2 * BIG_N, BIG_N + 1), &err);
	assert_int_equal(rc, 2);
	assert_has(err, "services[12].backends");
	assert_has(err, "5000");
	free(err);
	rc = backend_add("big", "10.50.30.1:8080", &err);
	assert_int_equal(rc, 1);
	assert_has(err, "service \"big\" has 5000 backends, the most a service may have");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_state),
		cmocka_unit_test(test_limits),
	};

	if (geteuid()) {
		fprintf(stderr, "capacity tests need root (BPF_PROG_TEST_RUN)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
