// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench-dp FLOOR_OBJ: cost per packet of l4split's programs, measured with
 * BPF_PROG_TEST_RUN on the state in $L4SPLIT_PIN_DIR (set up by scripts/bench.sh:
 * service web4 10.96.0.10:80/tcp and web6 [fd00:96::10]:80/tcp). Every run is
 * repeat = 1 with a fresh copy of the packet (a repeated run would see the packet
 * it rewrote itself), its output checked, and the kernel's own duration summed.
 * Prints one JSON object per case on stdout.
 *
 * bench-dp --vs REF_OBJ FLOOR_OBJ [FLOWS [ROUNDS]]: instead, the same method applied
 * side by side to l4split and to the reference balancer REF_OBJ (ref_lb.bpf.c, issue
 * 20) in interleaved rounds (default 5), and new flows per second on one CPU and on two
 * at once; one JSON object per row with both medians and their ratio.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include "err.h"
#include "pkt.h"
#include "state.h"
#include "l4split.skel.h"
#include "ref_lb.h"

#define TC_ACT_OK 0

static int run(int fd, const uint8_t *in, size_t len, uint8_t *out, size_t *olen, __u32 *ret,
	       __u64 *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = 2048, .repeat = 1);

	*olen = 0;
	*ret = ~0u;
	if (bpf_prog_test_run_opts(fd, &o))
		return -1;
	*olen = o.data_size_out;
	*ret = o.retval;
	*ns += o.duration;
	return 0;
}

/* @reps runs of @in in one call (the kernel's own loop, no syscall in between): only
 * for a packet the program leaves as it is. The kernel's average per run, in ns. */
static int run_warm(int fd, const uint8_t *in, size_t len, __u32 reps, double *ns)
{
	uint8_t out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = reps);

	if (bpf_prog_test_run_opts(fd, &o) || o.data_size_out != len || memcmp(in, out, len))
		return -1;
	*ns = o.duration;
	return 0;
}

static void src_of(char *buf, size_t n, int v6, long i)
{
	if (v6)
		snprintf(buf, n, "fd00:250::%lx:%lx", (i >> 16) + 1, i & 0xffff);
	else
		snprintf(buf, n, "10.%ld.%ld.%ld", 100 + i / 62500, (i / 250) % 250, i % 250 + 1);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* The 99th percentile of @n run times (sorts them). */
static __u64 p99_of(__u64 *t, long n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	return t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

static void report(const char *name, __u64 ns, long n, double floor, long bad)
{
	double per = (double)ns / (double)n;

	printf("{\"case\": \"%s\", \"runs\": %ld, \"ns\": %.1f, \"net_ns\": %.1f, \"bad_outputs\": %ld}\n",
	       name, n, per, floor >= 0 ? per - floor : per, bad);
	fflush(stdout);
}

/* ---- Side by side with the reference balancer (tests/bench/ref_lb.bpf.c, issue 20) ---- */

struct ref_lb {
	struct bpf_object *obj;
	int prog, vips, ring, reals, flows;
};

static const char *const ref_real_addr[2][2] = { { "10.1.0.1", "10.1.0.2" },
						  { "fd00:1::1", "fd00:1::2" } };

static int addr_words(int v6, const char *s, __u32 w[4])
{
	memset(w, 0, 16);
	return inet_pton(v6 ? AF_INET6 : AF_INET, s, w) == 1 ? 0 : -1;
}

/* A Maglev permutation fill of one ring (M = REF_RING_SIZE) with backends @first and
 * @first + 1: what the reference's control plane would write. */
static int ref_ring_fill(int fd, __u32 vip, __u32 first)
{
	__u32 *ring = malloc(REF_RING_SIZE * sizeof(*ring)), off[2], skip[2], next[2] = { 0, 0 };
	long filled = 0;
	int err = 0;

	if (!ring)
		return -1;
	memset(ring, 0xff, REF_RING_SIZE * sizeof(*ring));
	for (__u32 b = 0; b < 2; b++) {
		__u32 h = (first + b + 1) * 2654435761u;

		off[b] = h % REF_RING_SIZE;
		skip[b] = (h >> 7) % (REF_RING_SIZE - 1) + 1;
	}
	while (filled < REF_RING_SIZE) {
		for (__u32 b = 0; b < 2 && filled < REF_RING_SIZE; b++) {
			__u32 c;

			do
				c = (__u32)(((__u64)off[b] + (__u64)next[b]++ * skip[b]) % REF_RING_SIZE);
			while (ring[c] != ~0u);
			ring[c] = first + b;
			filled++;
		}
	}
	for (__u32 i = 0; i < REF_RING_SIZE && !err; i++) {
		__u32 k = vip * REF_RING_SIZE + i;

		err = bpf_map_update_elem(fd, &k, &ring[i], BPF_ANY);
	}
	free(ring);
	return err;
}

/* Load the reference and give it what scripts/bench.sh gives l4split: 10.96.0.10:80/tcp
 * and [fd00:96::10]:80/tcp, two backends each. */
static int ref_load(struct ref_lb *r, const char *path)
{
	const char *vip[2] = { "10.96.0.10", "fd00:96::10" };

	r->obj = bpf_object__open_file(path, NULL);
	if (!r->obj || bpf_object__load(r->obj))
		return -1;
	r->prog = bpf_program__fd(bpf_object__find_program_by_name(r->obj, "ref_lb"));
	r->vips = bpf_object__find_map_fd_by_name(r->obj, "ref_vips");
	r->ring = bpf_object__find_map_fd_by_name(r->obj, "ref_ring");
	r->reals = bpf_object__find_map_fd_by_name(r->obj, "ref_reals");
	r->flows = bpf_object__find_map_fd_by_name(r->obj, "ref_flows");
	if (r->prog < 0 || r->vips < 0 || r->ring < 0 || r->reals < 0 || r->flows < 0)
		return -1;
	for (__u32 v6 = 0; v6 <= 1; v6++) {
		struct ref_vip_key k = { .port = htons(80), .proto = IPPROTO_TCP };
		struct ref_vip val = { .num = v6 };

		for (__u32 b = 0; b < 2; b++) {
			struct ref_real real = { .v6 = v6 };
			__u32 idx = v6 * 2 + b;

			if (addr_words((int)v6, ref_real_addr[v6][b], real.addr) ||
			    bpf_map_update_elem(r->reals, &idx, &real, BPF_ANY))
				return -1;
		}
		if (addr_words((int)v6, vip[v6], k.addr) ||
		    bpf_map_update_elem(r->vips, &k, &val, BPF_ANY) ||
		    ref_ring_fill(r->ring, v6, v6 * 2))
			return -1;
	}
	return 0;
}

/* Check the reference's output for input @in: XDP_TX, one outer IPv4 (IPIP, header
 * checksum right) or IPv6 (IP6IP6) header with the right lengths towards one of the
 * VIP's two backends, the inner packet byte for byte the input's. The backend's
 * address into @dst; 0 when all of that holds. */
static int ref_out_ok(int v6, const uint8_t *in, size_t len, const uint8_t *out, size_t olen,
		      __u32 ret, char *dst, size_t dn)
{
	size_t room = v6 ? 40 : 20;
	const uint8_t *o = out + 14;

	if (ret != XDP_TX || olen != len + room || memcmp(out + 14 + room, in + 14, len - 14))
		return -1;
	if (v6) {
		if (out[12] != 0x86 || out[13] != 0xdd || o[0] >> 4 != 6 || o[6] != IPPROTO_IPV6 ||
		    (size_t)(o[4] << 8 | o[5]) != len - 14)
			return -1;
		inet_ntop(AF_INET6, o + 24, dst, (socklen_t)dn);
	} else {
		__u32 s = 0;

		for (int i = 0; i < 20; i += 2)
			s += (__u32)(o[i] << 8 | o[i + 1]);
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		if (out[12] != 0x08 || out[13] != 0x00 || o[0] != 0x45 || o[9] != IPPROTO_IPIP ||
		    (size_t)(o[2] << 8 | o[3]) != len - 14 + 20 || s != 0xffff)
			return -1;
		inet_ntop(AF_INET, o + 16, dst, (socklen_t)dn);
	}
	return strcmp(dst, ref_real_addr[v6][0]) && strcmp(dst, ref_real_addr[v6][1]) ? -1 : 0;
}

/* l4split's output, judged as the rows above judge it: not dropped, parseable, sent away
 * from the VIP, checksums right. The new destination into @dst. */
static int l4s_out_ok(int v6, const char *vip, const uint8_t *out, size_t olen, __u32 ret,
		      char *dst, size_t dn)
{
	struct pkt_info pi = pkt_info(out, olen);

	if (ret == XDP_DROP || !pi.ok)
		return -1;
	inet_ntop(v6 ? AF_INET6 : AF_INET, pi.dst, dst, (socklen_t)dn);
	return !strcmp(dst, vip) || !pkt_csums_ok(out, olen) ? -1 : 0;
}

/* The entries of a hash map. */
static long map_count(int fd, __u32 key_size)
{
	uint8_t k[2][64];
	long n = 0;

	if (key_size > sizeof(k[0]))
		return -1;
	for (void *prev = NULL; !bpf_map_get_next_key(fd, prev, k[n % 2]); prev = k[n % 2], n++)
		;
	return n;
}

/* Forget every entry of a hash map (between rounds, outside any timing). */
static int map_clear(int fd, __u32 key_size)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *keys = malloc(cap * key_size), *prev = NULL;
	int err = 0;

	if (!keys)
		return -1;
	for (;;) {
		if (n == cap) {
			uint8_t *k = realloc(keys, 2 * cap * key_size);

			if (!k) {
				free(keys);
				return -1;
			}
			keys = k, cap *= 2;
		}
		prev = n ? keys + (n - 1) * key_size : NULL;
		if (bpf_map_get_next_key(fd, prev, keys + n * key_size))
			break;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * key_size) && errno != ENOENT)
			err = -1;
	free(keys);
	return err;
}

/* A fresh start for both: l4split's flow state (every LRU map of its object: forward,
 * reverse, SNAT, whatever this build keeps) and the reference's flows. */
static int flows_clear(struct bpf_object *l4s, const struct ref_lb *r)
{
	struct bpf_map *m;
	int err = map_clear(r->flows, sizeof(struct ref_flow_key));

	bpf_object__for_each_map(m, l4s) {
		enum bpf_map_type t = bpf_map__type(m);

		if (t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH)
			err |= map_clear(bpf_map__fd(m), bpf_map__key_size(m));
	}
	return err;
}

enum { VS_NEW, VS_NEW_P99, VS_EST, VS_NOSVC, VS_NOSVC_WARM, VS_ROWS };
static const char *const vs_row[VS_ROWS] = { "new flow", "new flow p99",
					      "established flow", "non-service packet",
					      "warm: non-service packet" };
/* Which kind of row each is, and whether issue 20's target is judged on it. */
static const char *const vs_judged[VS_ROWS] = { "cold, judged", "cold", "cold, judged",
						 "cold", "warm, judged" };

struct vs_side {
	int fd, is_ref;
	double v[VS_ROWS][2][32];     /* [row][v6][round], ns net of the floor */
	long bad[VS_ROWS][2];         /* wrong outputs, all rounds */
	long bad_rate;                /* the same in the flows/s runs */
};

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(const double *v, int n)
{
	double s[32];

	n = n > 32 ? 32 : n;
	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_dbl);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One side's rows for one family in round @rd: @n new clients from @base, then the
 * established flow of the first of them and the packet for no service. */
static void vs_round(struct vs_side *sd, int v6, long base, long n, int rd, double floor_ns,
		     double warm_floor, __u64 *each, int ref_flows)
{
	const char *vip = v6 ? "fd00:96::10" : "10.96.0.10";
	struct pkt_spec s = { .v6 = v6, .proto = IPPROTO_TCP, .dst = vip, .dport = 80, .sport = 40000 };
	uint8_t in[256], out[2048];
	char src[64], d[64], first[64] = "";
	size_t len, olen;
	__u32 ret;
	__u64 ns = 0;
	double warm[20];

	for (long i = 0; i < n; i++) {
		__u64 before = ns;
		int bad;

		src_of(src, sizeof(src), v6, base + i);
		s.src = src;
		s.tcp_flags = TCP_F_SYN;
		len = pkt_build(&s, in, sizeof(in));
		bad = run(sd->fd, in, len, out, &olen, &ret, &ns);
		each[i] = ns - before;
		bad = bad || (sd->is_ref ? ref_out_ok(v6, in, len, out, olen, ret, d, sizeof(d))
					 : l4s_out_ok(v6, vip, out, olen, ret, d, sizeof(d)));
		sd->bad[VS_NEW][v6] += bad;
		if (!i)
			snprintf(first, sizeof(first), "%s", d);
	}
	/* The reference inserts each new flow once, into its own table. */
	if (sd->is_ref && map_count(ref_flows, sizeof(struct ref_flow_key)) != n)
		sd->bad[VS_NEW][v6]++;
	sd->v[VS_NEW][v6][rd] = (double)ns / (double)n - floor_ns;
	sd->v[VS_NEW_P99][v6][rd] = (double)p99_of(each, n) - floor_ns;

	src_of(src, sizeof(src), v6, base);
	s.src = src;
	s.tcp_flags = TCP_F_ACK;
	s.payload = 64;
	len = pkt_build(&s, in, sizeof(in));
	ns = 0;
	for (long i = 0; i < n; i++) {
		int bad = run(sd->fd, in, len, out, &olen, &ret, &ns);

		bad = bad || (sd->is_ref ? ref_out_ok(v6, in, len, out, olen, ret, d, sizeof(d))
					 : l4s_out_ok(v6, vip, out, olen, ret, d, sizeof(d)));
		sd->bad[VS_EST][v6] += bad || strcmp(d, first);
	}
	sd->v[VS_EST][v6][rd] = (double)ns / (double)n - floor_ns;

	s.dst = v6 ? "fd00:99::99" : "10.99.99.99";
	len = pkt_build(&s, in, sizeof(in));
	ns = 0;
	for (long i = 0; i < n; i++) {
		run(sd->fd, in, len, out, &olen, &ret, &ns);
		sd->bad[VS_NOSVC][v6] += ret != XDP_PASS || olen != len || memcmp(in, out, len);
	}
	sd->v[VS_NOSVC][v6][rd] = (double)ns / (double)n - floor_ns;
	for (int r = 0; r < 20; r++)
		sd->bad[VS_NOSVC_WARM][v6] += run_warm(sd->fd, in, len, 1000, &warm[r]) != 0;
	sd->v[VS_NOSVC_WARM][v6][rd] = median_of(warm, 20) - warm_floor;
}

static void vs_report(const char *name, const char *unit, const char *judged, double l4s,
		      double ref, int rounds, long bad_l4s, long bad_ref)
{
	printf("{\"case\": \"%s\", \"unit\": \"%s\", \"judged\": \"%s\", \"l4split\": %.1f, "
	       "\"reference\": %.1f, \"ratio\": %.3f, \"rounds\": %d, \"bad_l4split\": %ld, "
	       "\"bad_reference\": %ld}\n",
	       name, unit, judged, l4s, ref, ref ? l4s / ref : 0, rounds, bad_l4s, bad_ref);
	fflush(stdout);
}

/* New flows on one pinned CPU, for the contention figure. */
struct vs_thread {
	int fd, is_ref, cpu;
	long base, n, bad;
	__u64 ns;
	pthread_barrier_t *start;
};

static void *vs_thread_run(void *arg)
{
	struct vs_thread *t = arg;
	struct pkt_spec s = { .proto = IPPROTO_TCP, .dst = "10.96.0.10", .dport = 80,
			      .sport = 40000, .tcp_flags = TCP_F_SYN };
	uint8_t in[256], out[2048];
	char src[64], d[64];
	size_t len, olen;
	__u32 ret;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		t->bad = t->n; /* not pinned: the figure would not mean what it says */
	pthread_barrier_wait(t->start);
	for (long i = 0; i < t->n; i++) {
		int bad;

		src_of(src, sizeof(src), 0, t->base + i);
		s.src = src;
		len = pkt_build(&s, in, sizeof(in));
		bad = run(t->fd, in, len, out, &olen, &ret, &t->ns);
		t->bad += bad || (t->is_ref ? ref_out_ok(0, in, len, out, olen, ret, d, sizeof(d))
					    : l4s_out_ok(0, "10.96.0.10", out, olen, ret, d, sizeof(d)));
	}
	return NULL;
}

/* New flows per second (net of the floor, summed over the threads) with @ncpu threads
 * pinned to CPUs 0.. at once, each with its own @n clients from @base. */
static double vs_rate(struct vs_side *sd, int ncpu, long base, long n, double floor_ns)
{
	struct vs_thread t[2];
	pthread_t th[2];
	pthread_barrier_t start;
	double rate = 0;

	pthread_barrier_init(&start, NULL, (unsigned)ncpu);
	for (int c = 0; c < ncpu; c++) {
		t[c] = (struct vs_thread){ .fd = sd->fd, .is_ref = sd->is_ref, .cpu = c,
					   .base = base + c * n, .n = n, .start = &start };
		pthread_create(&th[c], NULL, vs_thread_run, &t[c]);
	}
	for (int c = 0; c < ncpu; c++) {
		double net;

		pthread_join(th[c], NULL);
		sd->bad_rate += t[c].bad;
		net = (double)t[c].ns / (double)n - floor_ns;
		rate += net > 0 ? 1e9 / net : 0;
	}
	pthread_barrier_destroy(&start);
	return rate;
}

/* bench-dp --vs REF_OBJ FLOOR_OBJ [FLOWS [ROUNDS]]: l4split beside the reference, rounds
 * interleaved (which one goes first alternates), flow tables of both cleared before each
 * side's turn and the clients new in every round; medians of the rounds. */
static int bench_vs(struct bpf_object *l4s_obj, int fwd, int fpass, const char *ref_path, long n,
		    int rounds)
{
	struct ref_lb r = {};
	struct vs_side *side = calloc(2, sizeof(*side)), *sd;
	__u64 *each = calloc((size_t)n, sizeof(*each));
	double rate[2][2][32], floor_rd[2][32];
	long base = 0;
	char name[96];

	if (!side || !each || ref_load(&r, ref_path)) {
		fprintf(stderr, "bench-dp: cannot load the reference %s\n", ref_path);
		return 1;
	}
	side[0] = (struct vs_side){ .fd = fwd, .is_ref = 0 };
	side[1].fd = r.prog, side[1].is_ref = 1;
	for (int rd = 0; rd < rounds; rd++) {
		for (int v6 = 0; v6 <= 1; v6++) {
			struct pkt_spec s = { .v6 = v6, .proto = IPPROTO_TCP, .src = "10.99.0.1",
					      .dst = v6 ? "fd00:96::10" : "10.96.0.10", .dport = 80,
					      .sport = 40000 };
			uint8_t in[256], out[2048];
			size_t len, olen;
			__u32 ret;
			__u64 ns = 0;
			double warm_floor, t[20];

			if (v6)
				s.src = "fd00:99::1";
			len = pkt_build(&s, in, sizeof(in));
			for (long i = 0; i < n; i++)
				run(fpass, in, len, out, &olen, &ret, &ns);
			floor_rd[v6][rd] = (double)ns / (double)n;
			/* The warm rows take the median of 20 calls of 1,000 runs: one call
			 * preempted by another task's burst would move a mean by microseconds. */
			for (int w = 0; w < 20; w++)
				run_warm(fpass, in, len, 1000, &t[w]);
			warm_floor = median_of(t, 20);
			for (int k = 0; k < 2; k++) {
				sd = &side[(rd + k) % 2];
				if (flows_clear(l4s_obj, &r))
					fprintf(stderr, "bench-dp: could not clear the flow tables\n");
				vs_round(sd, v6, base, n, rd, floor_rd[v6][rd], warm_floor, each,
					 r.flows);
			}
			base += n;
		}
	}
	for (int row = 0; row < VS_ROWS; row++)
		for (int v6 = 0; v6 <= 1; v6++) {
			char many[32] = "";

			if (row == VS_NEW || row == VS_NEW_P99)
				snprintf(many, sizeof(many), ", %ld distinct", n);
			snprintf(name, sizeof(name), "%s%s (ipv%d)", vs_row[row], many, v6 ? 6 : 4);
			vs_report(name, "ns", vs_judged[row], median_of(side[0].v[row][v6], rounds),
				  median_of(side[1].v[row][v6], rounds), rounds,
				  side[0].bad[row == VS_NEW_P99 ? VS_NEW : row][v6],
				  side[1].bad[row == VS_NEW_P99 ? VS_NEW : row][v6]);
		}

	/* Contention: new flows per second on 1 CPU, then on CPUs 0 and 1 at once. */
	for (int rd = 0; rd < rounds; rd++)
		for (int k = 0; k < 2; k++) {
			int who = (rd + k) % 2;

			for (int ncpu = 1; ncpu <= 2; ncpu++) {
				flows_clear(l4s_obj, &r);
				rate[who][ncpu - 1][rd] = vs_rate(&side[who], ncpu, 0, n,
								  floor_rd[0][rd]);
			}
		}
	for (int ncpu = 1; ncpu <= 2; ncpu++) {
		snprintf(name, sizeof(name), "new flows per second, %s (ipv4)",
			 ncpu > 1 ? "2 CPUs at once" : "1 CPU");
		vs_report(name, "flows/s", ncpu > 1 ? "judged" : "scaling", median_of(rate[0][ncpu - 1], rounds),
			  median_of(rate[1][ncpu - 1], rounds), rounds, side[0].bad_rate,
			  side[1].bad_rate);
	}
	bpf_object__close(r.obj);
	free(side);
	free(each);
	return 0;
}

int main(int argc, char **argv)
{
	struct l4s_state st;
	struct l4split_bpf *skel;
	struct bpf_object *fobj;
	int fwd, reply, fpass, fparse, ftc;
	const char *ref = NULL;
	long n;
	int rounds;
	double floor_ns;

	if (argc > 2 && !strcmp(argv[1], "--vs"))
		ref = argv[2], argv += 2, argc -= 2;
	n = argc > 2 ? atol(argv[2]) : 100000;
	rounds = argc > 3 ? atoi(argv[3]) : 5;
	if (argc < 2 || n < 1 || rounds < 1 || rounds > 32) {
		fprintf(stderr, "usage: bench-dp [--vs REF_OBJ] FLOOR_OBJ [FLOWS [ROUNDS (1-32)]]\n");
		return 2;
	}
	if (state_open(&st, state_pin_dir(NULL), 0) || !(skel = state_load_object(&st))) {
		fprintf(stderr, "bench-dp: %s\n", l4s_errmsg());
		return 1;
	}
	fobj = bpf_object__open_file(argv[1], NULL);
	if (!fobj || bpf_object__load(fobj)) {
		fprintf(stderr, "bench-dp: cannot load %s\n", argv[1]);
		return 1;
	}
	fwd = bpf_program__fd(skel->progs.l4s_xdp_fwd);
	reply = bpf_program__fd(skel->progs.l4s_tc_reply);
	fpass = bpf_program__fd(bpf_object__find_program_by_name(fobj, "floor_pass"));
	fparse = bpf_program__fd(bpf_object__find_program_by_name(fobj, "floor_parse"));
	ftc = bpf_program__fd(bpf_object__find_program_by_name(fobj, "floor_tc"));
	if (ref) {
		int rc = bench_vs(skel->obj, fwd, fpass, ref, n, rounds);

		bpf_object__close(fobj);
		l4split_bpf__destroy(skel);
		state_close(&st);
		return rc;
	}

	for (int v6 = 0; v6 <= 1; v6++) {
		const char *vip = v6 ? "fd00:96::10" : "10.96.0.10";
		struct pkt_spec s = { .v6 = v6, .proto = IPPROTO_TCP, .dst = vip, .dport = 80,
				      .sport = 40000, .payload = 0 };
		uint8_t in[256], out[2048], *ack;
		__u64 ns;
		long bad;
		size_t len, olen = 0;
		__u32 ret = 0;
		char src[64], name[64];
		char (*backend)[64] = calloc((size_t)n, 64);
		uint16_t *bport = calloc((size_t)n, sizeof(*bport));
		__u64 *each = calloc((size_t)n, sizeof(*each));

		/* Floors, on the same frame. */
		src_of(src, sizeof(src), v6, 0);
		s.src = src;
		len = pkt_build(&s, in, sizeof(in));
		ns = 0;
		for (long i = 0; i < n; i++)
			run(fpass, in, len, out, &olen, &ret, &ns);
		floor_ns = (double)ns / (double)n;
		snprintf(name, sizeof(name), "floor: empty program (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, -1, 0);
		ns = 0;
		for (long i = 0; i < n; i++)
			run(fparse, in, len, out, &olen, &ret, &ns);
		snprintf(name, sizeof(name), "floor: parse only (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, floor_ns, 0);

		/* Non-service packet: same frame to another address; must pass untouched. */
		s.dst = v6 ? "fd00:99::99" : "10.99.99.99";
		len = pkt_build(&s, in, sizeof(in));
		ns = 0, bad = 0;
		for (long i = 0; i < n; i++) {
			run(fwd, in, len, out, &olen, &ret, &ns);
			bad += ret != XDP_PASS || olen != len || memcmp(in, out, len);
		}
		snprintf(name, sizeof(name), "non-service packet (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, floor_ns, bad);

		/* The same two warm: the kernel reruns the frame 1,000 times per call, so
		 * nothing but the program runs in between (repeat = 1 pays a syscall's worth
		 * of cache and TLB misses on every map page a run touches). */
		{
			uint8_t self[256];
			struct pkt_spec w = s;
			double fl[20], ns_ns[20], es[20], mfl;
			long ok = 0;
			size_t slen;

			w.dst = v6 ? "fd00:96::50" : "10.96.0.50";
			w.tcp_flags = TCP_F_ACK;
			w.payload = 64;
			slen = pkt_build(&w, self, sizeof(self));
			for (int r = 0; r < 20; r++) {
				ok += !run_warm(fpass, in, len, 1000, &fl[r]);
				ok += !run_warm(fwd, in, len, 1000, &ns_ns[r]);
				/* A backend at the VIP's own address: the rewrite changes nothing,
				 * so every rerun takes the established path again. */
				ok += !run_warm(fwd, self, slen, 1000, &es[r]);
			}
			/* Medians of the 20 calls, not means: one call preempted by another
			 * task (a loaded machine) moved a mean by microseconds, below zero. */
			mfl = median_of(fl, 20);
			snprintf(name, sizeof(name), "warm: non-service packet (ipv%d)", v6 ? 6 : 4);
			report(name, (__u64)(median_of(ns_ns, 20) * 20 * 1000), 20 * 1000, mfl, 60 - ok);
			snprintf(name, sizeof(name), "warm: established flow (ipv%d)", v6 ? 6 : 4);
			report(name, (__u64)(median_of(es, 20) * 20 * 1000), 20 * 1000, mfl, 60 - ok);
		}

		/* New flows: n distinct clients, each SYN once (cold flow table entries). */
		s.dst = vip;
		ns = 0, bad = 0;
		for (long i = 0; i < n; i++) {
			struct pkt_info pi;
			__u64 before = ns;

			src_of(src, sizeof(src), v6, i);
			s.src = src;
			s.tcp_flags = TCP_F_SYN;
			len = pkt_build(&s, in, sizeof(in));
			run(fwd, in, len, out, &olen, &ret, &ns);
			each[i] = ns - before;
			pi = pkt_info(out, olen);
			inet_ntop(v6 ? AF_INET6 : AF_INET, pi.dst, backend[i], 64);
			bport[i] = pi.dport;
			bad += ret == XDP_DROP || !pi.ok || !strcmp(backend[i], vip) ||
			       !pkt_csums_ok(out, olen);
		}
		snprintf(name, sizeof(name), "new flow, %ld distinct (ipv%d)", n, v6 ? 6 : 4);
		report(name, ns, n, floor_ns, bad);
		/* Its 99th percentile, a run's own time (the kernel's duration of one run). */
		snprintf(name, sizeof(name), "new flow p99, %ld distinct (ipv%d)", n, v6 ? 6 : 4);
		report(name, p99_of(each, n), 1, floor_ns, bad);

		/* Established: the ACK of client 0's flow, again and again (warm entry). */
		src_of(src, sizeof(src), v6, 0);
		s.src = src;
		s.tcp_flags = TCP_F_ACK;
		s.payload = 64;
		len = pkt_build(&s, in, sizeof(in));
		ack = in;
		ns = 0, bad = 0;
		for (long i = 0; i < n; i++) {
			struct pkt_info pi;
			char d[64];

			run(fwd, ack, len, out, &olen, &ret, &ns);
			pi = pkt_info(out, olen);
			inet_ntop(v6 ? AF_INET6 : AF_INET, pi.dst, d, sizeof(d));
			bad += strcmp(d, backend[0]) != 0;
		}
		snprintf(name, sizeof(name), "established flow (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, floor_ns, bad);

		/* Reply path: backend -> client of each flow made above, at tc egress, net of
		 * an empty tc program (a tc test run builds an skb: a floor of its own). */
		ns = 0;
		for (long i = 0; i < n; i++)
			run(ftc, in, len, out, &olen, &ret, &ns);
		snprintf(name, sizeof(name), "floor: empty tc program (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, -1, 0);
		floor_ns = (double)ns / (double)n;
		ns = 0, bad = 0;
		for (long i = 0; i < n; i++) {
			struct pkt_spec r = { .v6 = v6, .proto = IPPROTO_TCP, .src = backend[i],
					      .sport = bport[i], .dport = 40000,
					      .tcp_flags = TCP_F_ACK, .payload = 64 };
			struct pkt_info pi;
			char a[64];

			src_of(src, sizeof(src), v6, i);
			r.dst = src;
			len = pkt_build(&r, in, sizeof(in));
			run(reply, in, len, out, &olen, &ret, &ns);
			pi = pkt_info(out, olen);
			inet_ntop(v6 ? AF_INET6 : AF_INET, pi.src, a, sizeof(a));
			bad += ret != TC_ACT_OK || strcmp(a, vip) || pi.sport != 80 ||
			       !pkt_csums_ok(out, olen);
		}
		snprintf(name, sizeof(name), "reply reverse NAT, tc (ipv%d)", v6 ? 6 : 4);
		report(name, ns, n, floor_ns, bad);
		free(backend);
		free(bport);
		free(each);
	}
	bpf_object__close(fobj);
	l4split_bpf__destroy(skel);
	state_close(&st);
	return 0;
}
