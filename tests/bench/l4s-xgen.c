// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A live-frames packet generator for the forwarding rows of `make bench`:
 *
 *   l4s-xgen XGEN_OBJ IFNAME DSTMAC SECONDS SRC_IP DST_IP udp|tcp PORT FLOWS
 *
 * Runs tests/bench/xgen.bpf.c with BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES
 * (Linux 5.18) on IFNAME for SECONDS: each run transmits the frame out of IFNAME, its
 * source port stepped over FLOWS ports from 10000 (TCP: ACK segments of 18 bytes, UDP:
 * datagrams of 18 bytes). Prints "sent N" (frames the program sent; the device may
 * still drop some) and "seconds S". Exit 3 when the kernel has no live frames or
 * refuses them (EPERM).
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include "pkt.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES (1U << 1)
#endif

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int silent(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l;
	(void)f;
	(void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	struct { __u32 flows, counter; } cfg = { 0 };
	struct ifreq ifr = { 0 };
	struct xdp_md ctx = { 0 };
	struct bpf_object *obj;
	uint8_t dmac[6], frame[256];
	uint64_t sent = 0;
	double secs, t0, t;
	size_t len;
	int fd, prog, map, ifindex, tcp;
	__u32 zero = 0;

	if (argc != 10 || sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
				 &dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
		fprintf(stderr, "usage: l4s-xgen XGEN_OBJ IFNAME DSTMAC SECONDS SRC_IP DST_IP "
				"udp|tcp PORT FLOWS\n");
		return 2;
	}
	secs = atof(argv[4]);
	cfg.flows = (__u32)atoi(argv[9]);
	tcp = !strcmp(argv[7], "tcp");
	if (cfg.flows < 1 || cfg.flows > 50000 || secs <= 0) {
		fprintf(stderr, "l4s-xgen: FLOWS must be 1..50000 and SECONDS > 0\n");
		return 2;
	}
	libbpf_set_print(silent);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "l4s-xgen: cannot load %s\n", argv[1]);
		return 1;
	}
	prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "xgen"));
	map = bpf_map__fd(bpf_object__find_map_by_name(obj, "xgen_cfg"));
	if (prog < 0 || map < 0 || bpf_map_update_elem(map, &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "l4s-xgen: %s has no xgen program or map\n", argv[1]);
		return 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		perror("l4s-xgen: SIOCGIFHWADDR");
		return 1;
	}
	close(fd);
	ifindex = (int)if_nametoindex(argv[2]);
	{
		struct pkt_spec s = { .proto = tcp ? IPPROTO_TCP : IPPROTO_UDP, .src = argv[5],
				      .dst = argv[6], .sport = 10000,
				      .dport = (uint16_t)atoi(argv[8]), .payload = 18,
				      .tcp_flags = tcp ? TCP_F_ACK : 0 };

		len = pkt_build(&s, frame, sizeof(frame));
	}
	if (!len) {
		fprintf(stderr, "l4s-xgen: cannot build a frame for %s -> %s\n", argv[5], argv[6]);
		return 2;
	}
	memcpy(frame, dmac, 6);
	memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
	ctx.ingress_ifindex = (__u32)ifindex;
	t0 = now_s();
	do {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 20000,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

		if (bpf_prog_test_run_opts(prog, &o)) {
			int e = errno;

			fprintf(stderr, "l4s-xgen: live frames test run: %s\n", strerror(e));
			/* 3: not to be had here (an old kernel; or one that refuses live
			 * frames, EPERM, as some sandboxes do) */
			return e == EINVAL || e == EOPNOTSUPP || e == EPERM ? 3 : 1;
		}
		sent += o.repeat;
		t = now_s();
	} while (t - t0 < secs);
	printf("sent %" PRIu64 "\nseconds %.3f\n", sent, t - t0);
	bpf_object__close(obj);
	return 0;
}
