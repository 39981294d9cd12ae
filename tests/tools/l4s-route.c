// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4s-route VIP PORT {tcp|udp} COUNT: where the datapath of the state in
 * $L4SPLIT_PIN_DIR sends COUNT new flows (client 10.250.0.0/16, fixed ports) to
 * VIP:PORT. Runs the real XDP program with BPF_PROG_TEST_RUN on the pinned maps
 * and prints one "backend-address:port" line per flow, so two nodes' answers to
 * the same flows can be compared. (The flows are recorded in that flow table.)
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

int main(int argc, char **argv)
{
	struct l4s_state st;
	struct l4split_bpf *skel;
	long count;
	int fd, v6;

	if (argc != 5) {
		fprintf(stderr, "usage: l4s-route VIP PORT tcp|udp COUNT\n");
		return 2;
	}
	v6 = strchr(argv[1], ':') != NULL;
	count = atol(argv[4]);
	if (state_open(&st, state_pin_dir(NULL), 0) || !(skel = state_load_object(&st))) {
		fprintf(stderr, "l4s-route: %s\n", l4s_errmsg());
		return 1;
	}
	fd = bpf_program__fd(skel->progs.l4s_xdp_fwd);
	for (long i = 0; i < count; i++) {
		char src[64];
		uint8_t in[256], out[2048];
		struct pkt_spec s = { .v6 = v6, .dst = argv[1], .dport = (uint16_t)atoi(argv[2]),
				      .proto = strcmp(argv[3], "udp") ? IPPROTO_TCP : IPPROTO_UDP,
				      .sport = (uint16_t)(20000 + i % 40000), .payload = 8 };
		size_t len;
		struct pkt_info pi;
		char dst[64];

		snprintf(src, sizeof(src), v6 ? "fd00:250::%lx" : "10.250.%ld.%ld", v6 ? i + 1 : i / 250,
			 v6 ? 0 : i % 250 + 1);
		s.src = src;
		len = pkt_build(&s, in, sizeof(in));
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
		if (bpf_prog_test_run_opts(fd, &o)) {
			perror("BPF_PROG_TEST_RUN");
			return 1;
		}
		pi = pkt_info(out, o.data_size_out);
		if (o.retval == XDP_DROP || !pi.ok) {
			printf("drop\n");
			continue;
		}
		inet_ntop(pi.v6 ? AF_INET6 : AF_INET, pi.dst, dst, sizeof(dst));
		printf(pi.v6 ? "[%s]:%u\n" : "%s:%u\n", dst, pi.dport);
	}
	l4split_bpf__destroy(skel);
	state_close(&st);
	return 0;
}
