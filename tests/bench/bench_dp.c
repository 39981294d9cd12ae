// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench-dp FLOOR_OBJ: cost per packet of l4split's programs, measured with
 * BPF_PROG_TEST_RUN on the state in $L4SPLIT_PIN_DIR (set up by scripts/bench.sh:
 * service web4 10.96.0.10:80/tcp and web6 [fd00:96::10]:80/tcp). Every run is
 * repeat = 1 with a fresh copy of the packet (a repeated run would see the packet
 * it rewrote itself), its output checked, and the kernel's own duration summed.
 * Prints one JSON object per case on stdout.
 */
#include <arpa/inet.h>
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

int main(int argc, char **argv)
{
	struct l4s_state st;
	struct l4split_bpf *skel;
	struct bpf_object *fobj;
	int fwd, reply, fpass, fparse, ftc;
	long n = argc > 2 ? atol(argv[2]) : 100000;
	double floor_ns;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-dp FLOOR_OBJ [FLOWS]\n");
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
			double fl = 0, ns_ns = 0, es = 0, t;
			long ok = 0;
			size_t slen;

			w.dst = v6 ? "fd00:96::50" : "10.96.0.50";
			w.tcp_flags = TCP_F_ACK;
			w.payload = 64;
			slen = pkt_build(&w, self, sizeof(self));
			for (int r = 0; r < 20; r++) {
				ok += !run_warm(fpass, in, len, 1000, &t), fl += t;
				ok += !run_warm(fwd, in, len, 1000, &t), ns_ns += t;
				/* A backend at the VIP's own address: the rewrite changes nothing,
				 * so every rerun takes the established path again. */
				ok += !run_warm(fwd, self, slen, 1000, &t), es += t;
			}
			snprintf(name, sizeof(name), "warm: non-service packet (ipv%d)", v6 ? 6 : 4);
			report(name, (__u64)(ns_ns * 1000), 20 * 1000, fl / 20, 60 - ok);
			snprintf(name, sizeof(name), "warm: established flow (ipv%d)", v6 ? 6 : 4);
			report(name, (__u64)(es * 1000), 20 * 1000, fl / 20, 60 - ok);
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
