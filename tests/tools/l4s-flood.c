// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A UDP flood of well-formed frames out of a device (packet socket, qdisc bypassed),
 * for the forwarding rows of `make bench`:
 *
 *   l4s-flood IFNAME DSTMAC SECONDS SRC_IP DST_IP PORT FLOWS
 *
 * FLOWS distinct source ports (10000...) in turn, 18 bytes of payload each. Prints
 * "sent N" and "send_errors N" at the end.
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
#include <linux/if_packet.h>
#include "pkt.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct ifreq ifr = { 0 };
	uint8_t dmac[6], (*frames)[128];
	size_t *lens;
	uint64_t sent = 0, failed = 0;
	int fd, one = 1, flows;
	double secs, t0;

	if (argc != 8 || sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1],
				&dmac[2], &dmac[3], &dmac[4], &dmac[5]) != 6) {
		fprintf(stderr, "usage: l4s-flood IFNAME DSTMAC SECONDS SRC_IP DST_IP PORT FLOWS\n");
		return 2;
	}
	secs = atof(argv[3]);
	flows = atoi(argv[7]);
	if (flows < 1 || flows > 50000 || secs <= 0) {
		fprintf(stderr, "l4s-flood: FLOWS must be 1..50000 and SECONDS > 0\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("l4s-flood: socket(AF_PACKET)");
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		perror("l4s-flood: SIOCGIFHWADDR");
		return 1;
	}
	frames = calloc((size_t)flows, sizeof(*frames));
	lens = calloc((size_t)flows, sizeof(*lens));
	if (!frames || !lens)
		return 1;
	for (int i = 0; i < flows; i++) {
		struct pkt_spec s = { .proto = IPPROTO_UDP, .src = argv[4], .dst = argv[5],
				      .sport = (uint16_t)(10000 + i), .dport = (uint16_t)atoi(argv[6]),
				      .payload = 18 };

		lens[i] = pkt_build(&s, frames[i], sizeof(frames[i]));
		if (!lens[i]) {
			fprintf(stderr, "l4s-flood: cannot build a frame for %s -> %s\n", argv[4],
				argv[5]);
			return 2;
		}
		memcpy(frames[i], dmac, 6);
		memcpy(frames[i] + 6, ifr.ifr_hwaddr.sa_data, 6);
	}
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dmac, 6);
	t0 = now_s();
	for (int i = 0; ; i = (i + 1) % flows) {
		if ((sent + failed) % 1024 == 0 && now_s() - t0 >= secs)
			break;
		if (sendto(fd, frames[i], lens[i], 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			failed++;
		else
			sent++;
	}
	printf("sent %" PRIu64 "\nsend_errors %" PRIu64 "\n", sent, failed);
	close(fd);
	return 0;
}
