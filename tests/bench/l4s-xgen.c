// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A packet generator for the forwarding rows of `make bench` that is not the limit of
 * what it measures (issue 20):
 *
 *   l4s-xgen XGEN_OBJ IFNAME DSTMAC SECONDS SRC_IP DST_IP udp|tcp PORT FLOWS
 *   l4s-xgen sink XGEN_OBJ IFNAME      attach the counting XDP_DROP receiver to IFNAME
 *
 * Run in the generator's namespace, which holds IFNAME (the link to the node) and two
 * veth pairs made by the caller: xgl0/xgl1 (the loop) and xgh0/xgh1 (the hand-off).
 * tests/bench/xgen.bpf.c says how the frames regenerate themselves in XDP on this CPU
 * (the first CPU) and cross to the node's CPU (the last) through a cpumap, so that the
 * node receives xdp_frames at a rate it cannot keep up with and shares no CPU with the
 * generator. A few frames kick the loop; after SECONDS the stop flag ends it (and the
 * programs' own deadline ends it if this process dies).
 *
 * XGEN_SAME_CPU=1 (a diagnostic): the loop sends the node's copies out of IFNAME itself,
 * no cpumap, so generator and node share the first CPU; into a dropping receiver it
 * shows the generator's own ceiling.
 *
 * Prints "offered N" (frames made for the node), "sent N" (frames the node's CPU took
 * from the cpumap and sent to IFNAME), "loop N" and "seconds S".
 *
 * Why not BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (xdp-trafficgen's way): this
 * machine kind's kernel refuses every live-frames run with EPERM (any program, verdict,
 * context, namespace, batch size or repeat count; the same runs without the flag work).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "pkt.h"

/* As in xgen.bpf.c */
struct xgen_cfg {
	__u32 flows, out_ifindex, cpu, stop;
	__u64 deadline_ns;
};
enum { XGEN_LOOP, XGEN_OFFERED, XGEN_HANDED, XGEN_SINK, XGEN_NCOUNT };

#define KICK_FRAMES 128 /* frames in the loop: below a veth ring (256) */

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

static int pin_cpu(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s);
}

static uint64_t counter(int map, __u32 key)
{
	int n = libbpf_num_possible_cpus(), i;
	uint64_t v[n > 0 ? n : 1], s = 0;

	if (n < 1 || bpf_map_lookup_elem(map, &key, v))
		return 0;
	for (i = 0; i < n; i++)
		s += v[i];
	return s;
}

static struct bpf_object *load(const char *path)
{
	struct bpf_object *obj;

	libbpf_set_print(silent);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "l4s-xgen: cannot load %s\n", path);
		return NULL;
	}
	return obj;
}

static int prog_fd(struct bpf_object *obj, const char *name)
{
	return bpf_program__fd(bpf_object__find_program_by_name(obj, name));
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	return bpf_map__fd(bpf_object__find_map_by_name(obj, name));
}

static int attach(int ifindex, int prog, const char *dev)
{
	int e = bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE, NULL);

	if (e)
		fprintf(stderr, "l4s-xgen: attach XDP to %s: %s\n", dev, strerror(-e));
	return e;
}

static int do_sink(char **argv)
{
	struct bpf_object *obj = load(argv[2]);
	int ifindex = (int)if_nametoindex(argv[3]);

	if (!obj)
		return 1;
	if (!ifindex) {
		fprintf(stderr, "l4s-xgen: no device %s\n", argv[3]);
		return 1;
	}
	/* The attachment outlives this process; the namespace's end removes it. */
	return attach(ifindex, prog_fd(obj, "xgen_sink"), argv[3]) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct xgen_cfg cfg = { 0 };
	struct ifreq ifr = { 0 };
	struct bpf_object *obj;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct bpf_cpumap_val cv = { .qsize = 256 };
	struct timespec mono;
	uint8_t dmac[6], frame[256];
	double secs, t0, t1;
	size_t len;
	int same_cpu, fd, cfgm, cnt, ncpu, gen_cpu, loop_if, loop_peer, hand_if, hand_peer, tcp, i, rc = 1;
	__u32 zero = 0, one = 1;

	if (argc == 4 && !strcmp(argv[1], "sink"))
		return do_sink(argv);
	if (argc != 10 || sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
				 &dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
		fprintf(stderr, "usage: l4s-xgen XGEN_OBJ IFNAME DSTMAC SECONDS SRC_IP DST_IP "
				"udp|tcp PORT FLOWS\n       l4s-xgen sink XGEN_OBJ IFNAME\n");
		return 2;
	}
	secs = atof(argv[4]);
	cfg.flows = (__u32)atoi(argv[9]);
	tcp = !strcmp(argv[7], "tcp");
	if (cfg.flows < 1 || cfg.flows > 50000 || secs <= 0 || secs > 60) {
		fprintf(stderr, "l4s-xgen: FLOWS must be 1..50000 and SECONDS in (0, 60]\n");
		return 2;
	}
	cfg.out_ifindex = if_nametoindex(argv[2]);
	loop_peer = (int)if_nametoindex("xgl0");
	loop_if = (int)if_nametoindex("xgl1");
	hand_peer = (int)if_nametoindex("xgh0");
	hand_if = (int)if_nametoindex("xgh1");
	if (!cfg.out_ifindex || !loop_peer || !loop_if || !hand_peer || !hand_if) {
		fprintf(stderr, "l4s-xgen: needs %s and the veth pairs xgl0/xgl1, xgh0/xgh1\n",
			argv[2]);
		return 2;
	}
	ncpu = libbpf_num_possible_cpus();
	same_cpu = getenv("XGEN_SAME_CPU") != NULL;
	gen_cpu = 0;
	cfg.cpu = (__u32)(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? sysconf(_SC_NPROCESSORS_ONLN) - 1 : 0);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	/* The programs' own end: SECONDS and 2 s of grace from now. */
	cfg.deadline_ns = (__u64)mono.tv_sec * 1000000000ull + (__u64)mono.tv_nsec +
			  (__u64)((secs + 2) * 1e9);
	if (ncpu < 1 || !(obj = load(argv[1])))
		return 1;
	cfgm = map_fd(obj, "xgen_cfg");
	cnt = map_fd(obj, "xgen_cnt");
	cv.bpf_prog.fd = prog_fd(obj, "xgen_cpu");
	if (bpf_map_update_elem(cfgm, &zero, &cfg, BPF_ANY) ||
	    bpf_map_update_elem(map_fd(obj, "xgen_fan"), &zero, &loop_peer, BPF_ANY) ||
	    bpf_map_update_elem(map_fd(obj, "xgen_fan"), &one,
				same_cpu ? (int *)&cfg.out_ifindex : &hand_peer, BPF_ANY) ||
	    bpf_map_update_elem(map_fd(obj, "xgen_cpus"), &cfg.cpu, &cv, BPF_ANY)) {
		fprintf(stderr, "l4s-xgen: setting up the maps: %s\n", strerror(errno));
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		perror("l4s-xgen: packet socket");
		return 1;
	}
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
	if (attach(hand_if, prog_fd(obj, "xgen_hand"), "xgh1") ||
	    attach(loop_if, prog_fd(obj, "xgen_loop"), "xgl1"))
		goto out;
	/* The loop runs in the softirq of the CPU that kicks it. */
	if (pin_cpu(gen_cpu))
		perror("l4s-xgen: sched_setaffinity");
	sll.sll_ifindex = loop_peer;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	t0 = now_s();
	for (i = 0; i < KICK_FRAMES; i++)
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			perror("l4s-xgen: kick");
			goto out;
		}
	/* Sleep where the loop is not: the node's CPU has its own work. */
	usleep((useconds_t)(secs * 1e6));
	cfg.stop = 1;
	bpf_map_update_elem(cfgm, &zero, &cfg, BPF_ANY);
	t1 = now_s();
	usleep(100000);
	printf("offered %" PRIu64 "\nsent %" PRIu64 "\nloop %" PRIu64 "\nseconds %.3f\n",
	       counter(cnt, XGEN_OFFERED), counter(cnt, XGEN_HANDED), counter(cnt, XGEN_LOOP),
	       t1 - t0);
	rc = counter(cnt, XGEN_LOOP) > KICK_FRAMES ? 0 : 1;
	if (rc)
		fprintf(stderr, "l4s-xgen: the loop did not run\n");
out:
	cfg.stop = 1;
	bpf_map_update_elem(cfgm, &zero, &cfg, BPF_ANY);
	bpf_xdp_detach(loop_if, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(hand_if, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	bpf_object__close(obj);
	return rc;
}
