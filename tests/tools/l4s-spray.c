// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Spray random and mutated frames (tests/lib/fuzzpkt.c) out of a device with a packet
 * socket, at the node l4split runs on, for a bounded time:
 *
 *   l4s-spray IFNAME DSTMAC SECONDS RATE FRONTEND... [-- BACKEND...]
 *
 * FRONTEND/BACKEND as 10.96.0.10:80/tcp or [fd00:96::10]:53/udp. RATE is frames per
 * second (0: as fast as it can). Prints "sent N" and "seed S" at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include "fuzzpkt.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct fz_ep eps[64];
	struct fz_targets tg = { .fe = eps };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	uint8_t dmac[6], smac[6], buf[2048];
	struct ifreq ifr = { 0 };
	uint64_t sent = 0, failed = 0;
	double secs, rate, t0, next;
	struct fz_rng rng;
	int fd, i, n = 0, backends = 0;

	if (argc < 6 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
			       &dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
		fprintf(stderr, "usage: l4s-spray IFNAME DSTMAC SECONDS RATE FRONTEND... [-- BACKEND...]\n");
		return 2;
	}
	secs = atof(argv[3]);
	rate = atof(argv[4]);
	for (i = 5; i < argc && n < 64; i++) {
		if (!strcmp(argv[i], "--")) {
			backends = 1;
			tg.be = eps + n;
			continue;
		}
		if (fz_ep_parse(argv[i], &eps[n])) {
			fprintf(stderr, "l4s-spray: bad endpoint \"%s\"\n", argv[i]);
			return 2;
		}
		n++;
		if (backends)
			tg.nbe++;
		else
			tg.nfe++;
	}
	if (!tg.nfe) {
		fprintf(stderr, "l4s-spray: no frontend given\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("l4s-spray: socket(AF_PACKET)");
		return 1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		perror("l4s-spray: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	rng.s = ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid()) | 1;
	printf("seed %" PRIu64 "\n", rng.s);
	fflush(stdout); /* the test waits for this line to know the spray started */
	t0 = next = now_s();
	while (now_s() - t0 < secs) {
		size_t len = fz_forward(&rng, &tg, buf, sizeof(buf));

		len = fz_mutate(&rng, buf, len, sizeof(buf));
		if (len < 14)
			len = 14; /* a packet socket sends at least the Ethernet header */
		memcpy(buf, dmac, 6);
		memcpy(buf + 6, smac, 6);
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			failed++;
		else
			sent++;
		if (rate > 0) {
			next += 1.0 / rate;
			while (now_s() < next)
				;
		}
	}
	printf("sent %" PRIu64 "\nsend_errors %" PRIu64 "\n", sent, failed);
	close(fd);
	return 0;
}
