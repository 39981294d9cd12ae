// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4s-traffic: the test lab's servers and clients. Every loop is bounded in time.
 *
 *   serve NAME [--tcp PORT] [--udp PORT] [--timeout S] [--rst]
 *       TCP: answer every line with "NAME\n" (--rst: reset every connection instead).
 *       UDP: answer every datagram with "NAME\n".
 *   tcp ADDR PORT [--count N] [--timeout S] [--conn-timeout S] [--rate R] [--peername]
 *       N connections, one after another: connect, send a line, read the name, close
 *       (at most R new connections per second with --rate). --peername: count
 *       connections whose getpeername() is not ADDR:PORT (bad_peer). --sport-base P:
 *       connection i uses source port P + i.
 *       A connection gets --conn-timeout (5 s); one that took over 0.9 s (a packet TCP resent)
 *       is counted as slow, one that did not finish as failed. Prints the median and
 *       99th percentile of the connect times too (connect_p50_us, connect_p99_us).
 *   udp ADDR PORT [--count N] [--timeout S] [--repeat R] [--connect] [--sport-base P]
 *       N sockets (N source ports), each sends R datagrams; checks every reply comes
 *       from ADDR:PORT and that one port is always answered by the same name.
 *       --sport-base P: socket i uses source port P + i, and prints "port:P+i NAME".
 *       --connect: connected sockets (connect, send, recvfrom), whose getpeername()
 *       must be ADDR:PORT too (bad_peer).
 *   hold ADDR PORT [--conns N] [--duration S] [--interval-ms I] [--udp]
 *       N long-lived connections exchanging a line every I ms for S seconds; counts
 *       broken connections and connections whose answering name changed. --udp: N
 *       unconnected UDP sockets instead (a socket that gets no answer in 3 tries is
 *       broken; a reply from elsewhere than ADDR:PORT counts as bad_source).
 * Results go to stdout as "key value" lines: "name:old 512", "failed 0", ...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct {
	char name[64];
	long count;
} names[MAX_NAMES];
static int nnames;

static void count_name(const char *n)
{
	for (int i = 0; i < nnames; i++)
		if (!strcmp(names[i].name, n)) {
			names[i].count++;
			return;
		}
	if (nnames < MAX_NAMES) {
		snprintf(names[nnames].name, sizeof(names[nnames].name), "%s", n);
		names[nnames++].count = 1;
	}
}

static void print_names(void)
{
	for (int i = 0; i < nnames; i++)
		printf("name:%s %ld\n", names[i].name, names[i].count);
}

static int parse_sa(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*s6);
		return 0;
	}
	fprintf(stderr, "bad address %s\n", addr);
	return -1;
}

/* ---- server ---------------------------------------------------------------- */

static int listen_on(int type, int port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type | SOCK_NONBLOCK, 0), one = 1, zero = 0;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 4096))) {
		perror("bind/listen");
		close(fd);
		return -1;
	}
	return fd;
}

static int do_serve(const char *name, int tport, int uport, double timeout, int rst)
{
	struct pollfd *pfd = calloc(8192, sizeof(*pfd));
	int n = 0, lt = -1, lu = -1;
	double end = now() + timeout;
	char reply[80];
	int rlen = snprintf(reply, sizeof(reply), "%s\n", name);

	if (tport && (lt = listen_on(SOCK_STREAM, tport)) < 0)
		return 1;
	if (uport && (lu = listen_on(SOCK_DGRAM, uport)) < 0)
		return 1;
	if (lt >= 0)
		pfd[n++] = (struct pollfd){ .fd = lt, .events = POLLIN };
	if (lu >= 0)
		pfd[n++] = (struct pollfd){ .fd = lu, .events = POLLIN };
	signal(SIGPIPE, SIG_IGN);
	while (now() < end) {
		int r = poll(pfd, (nfds_t)n, 200);

		if (r <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == lt) {
				int c;

				while ((c = accept4(lt, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (rst) {
						struct linger lg = { 1, 0 };

						setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
						close(c);
						continue;
					}
					if (n < 8192)
						pfd[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
					else
						close(c);
				}
			} else if (pfd[i].fd == lu) {
				char buf[512];
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t k;

				while ((k = recvfrom(lu, buf, sizeof(buf), 0, (struct sockaddr *)&from,
						     &fl)) >= 0) {
					sendto(lu, reply, (size_t)rlen, 0, (struct sockaddr *)&from, fl);
					fl = sizeof(from);
				}
			} else {
				char buf[4096];
				ssize_t k = read(pfd[i].fd, buf, sizeof(buf));

				if (k > 0) {
					for (ssize_t j = 0; j < k; j++)
						if (buf[j] == '\n' &&
						    write(pfd[i].fd, reply, (size_t)rlen) < 0)
							break;
					continue;
				}
				if (k < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
				i--;
			}
		}
	}
	return 0;
}

/* ---- clients --------------------------------------------------------------- */

/* Read one line into buf (without \n) within the deadline. */
static int read_line(int fd, char *buf, size_t len, double deadline)
{
	size_t got = 0;

	while (got < len - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((deadline - now()) * 1000);
		ssize_t k;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		k = read(fd, buf + got, len - 1 - got);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)k;
		if (memchr(buf, '\n', got)) {
			*(char *)memchr(buf, '\n', got) = 0;
			return 0;
		}
	}
	return -EMSGSIZE;
}

static int sport_next; /* --sport-base: the source port of the next connection, or 0 */

static int connect_to(struct sockaddr_storage *ss, socklen_t sl, double deadline)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t el = sizeof(err);
	struct pollfd p;
	int ms;

	if (fd < 0)
		return -errno;
	if (sport_next > 0) {
		struct sockaddr_storage local = { .ss_family = ss->ss_family };
		int one = 1;

		/* The port may still be in TIME_WAIT towards another destination. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)&local)->sin_port = htons((unsigned short)sport_next);
		else
			((struct sockaddr_in6 *)&local)->sin6_port = htons((unsigned short)sport_next);
		sport_next++;
		if (bind(fd, (struct sockaddr *)&local, ss->ss_family == AF_INET ?
				   sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6))) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	if (connect(fd, (struct sockaddr *)ss, sl) && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	ms = (int)((deadline - now()) * 1000);
	if (ms <= 0 || poll(&p, 1, ms) <= 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

static int same_sa(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Does getpeername() on @fd show @want? */
static int peer_is(int fd, const struct sockaddr_storage *want)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);

	memset(&peer, 0, sizeof(peer));
	return !getpeername(fd, (struct sockaddr *)&peer, &pl) && same_sa(&peer, want);
}

static volatile sig_atomic_t stop_req;

static void on_stop(int sig)
{
	(void)sig;
	stop_req = 1;
}

/* SIGTERM ends a client early, with its results printed (the attempt under way is dropped). */
static void stop_on_sigterm(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static int do_tcp(const char *addr, int port, long count, double conn_timeout, double timeout,
		  double rate, int check_peer)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	long done = 0, failed = 0, refused = 0, timedout = 0, slow = 0, badpeer = 0;
	double end = now() + timeout;
	/* Connect times (handshake done) of the first LAT_MAX connections, for percentiles. */
	enum { LAT_MAX = 1 << 20 };
	float *lat = malloc(sizeof(*lat) * LAT_MAX);
	long nlat = 0;

	if (parse_sa(addr, port, &ss, &sl) || !lat) {
		free(lat);
		return 2;
	}
	stop_on_sigterm();
	while (done < count && now() < end && !stop_req) {
		/* 5 s: room for TCP's own SYN retransmissions (1 s, then 3 s): a lost packet
		 * that TCP recovers is slow, not failed. Slow ones are counted apart. */
		double t0 = now(), dl = t0 + conn_timeout;
		char buf[128];
		int fd, r;

		if (rate > 0 && done > 0) {
			/* Pace from the start: connection k starts at start + k / rate. */
			double at = end - timeout + (double)done / rate;

			if (at > t0) {
				struct timespec ts = { (time_t)(at - t0),
						       (long)((at - t0 - (double)(time_t)(at - t0)) * 1e9) };

				nanosleep(&ts, NULL);
				t0 = now();
				dl = t0 + conn_timeout;
				if (t0 >= end || stop_req)
					break;
			}
		}
		fd = connect_to(&ss, sl, dl < end ? dl : end);
		if (stop_req) {
			if (fd >= 0)
				close(fd);
			break;
		}
		done++;
		if (fd < 0) {
			failed++;
			if (fd == -ECONNREFUSED || fd == -ECONNRESET)
				refused++;
			if (fd == -ETIMEDOUT)
				timedout++;
			continue;
		}
		if (nlat < LAT_MAX)
			lat[nlat++] = (float)((now() - t0) * 1e6);
		if (check_peer && !peer_is(fd, &ss))
			badpeer++;
		r = write(fd, "x\n", 2) == 2 ? read_line(fd, buf, sizeof(buf), dl) : -EIO;
		if (r && stop_req) {
			done--;
			close(fd);
			break;
		}
		if (r) {
			failed++;
			if (r == -ECONNRESET)
				refused++;
			if (r == -ETIMEDOUT)
				timedout++;
		} else {
			count_name(buf);
			if (now() - t0 > 0.9)
				slow++;
		}
		close(fd);
	}
	print_names();
	printf("attempted %ld\nfailed %ld\nreset %ld\ntimeout %ld\nslow %ld\n", done, failed,
	       refused, timedout, slow);
	if (check_peer)
		printf("bad_peer %ld\n", badpeer);
	if (nlat) {
		qsort(lat, (size_t)nlat, sizeof(*lat), cmp_float);
		printf("connect_p50_us %.0f\nconnect_p99_us %.0f\n", lat[(nlat - 1) / 2],
		       lat[(nlat - 1) * 99 / 100]);
	}
	free(lat);
	return 0;
}

static int same_sa(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static int do_udp(const char *addr, int port, long count, int repeat, double timeout, int conn)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	long failed = 0, badsrc = 0, flapped = 0, done = 0, badpeer = 0, refused = 0;
	double end = now() + timeout;

	if (parse_sa(addr, port, &ss, &sl))
		return 2;
	for (long i = 0; i < count && now() < end; i++) {
		int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		char first[128] = "";
		int sport = sport_next > 0 ? sport_next++ : 0;

		done++;
		if (fd < 0) {
			failed++;
			continue;
		}
		if (sport) {
			struct sockaddr_storage local = { .ss_family = ss.ss_family };

			if (ss.ss_family == AF_INET)
				((struct sockaddr_in *)&local)->sin_port = htons((unsigned short)sport);
			else
				((struct sockaddr_in6 *)&local)->sin6_port = htons((unsigned short)sport);
			if (bind(fd, (struct sockaddr *)&local, ss.ss_family == AF_INET ?
					   sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6))) {
				failed++;
				close(fd);
				continue;
			}
		}
		if (conn) {
			if (connect(fd, (struct sockaddr *)&ss, sl)) {
				failed++;
				refused += errno == ECONNREFUSED;
				close(fd);
				continue;
			}
			if (!peer_is(fd, &ss))
				badpeer++;
		}
		for (int r = 0; r < repeat; r++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			struct pollfd p = { .fd = fd, .events = POLLIN };
			char buf[128];
			ssize_t k = -1;
			int got = 0;

			/* Resend up to 3 times: UDP may be lost, the answer must not change. */
			for (int t = 0; t < 3 && !got; t++) {
				if (conn)
					send(fd, "x\n", 2, 0);
				else if (sendto(fd, "x\n", 2, 0, (struct sockaddr *)&ss, sl) < 0 &&
					 errno == ECONNREFUSED)
					refused++;
				if (poll(&p, 1, 500) > 0) {
					k = recvfrom(fd, buf, sizeof(buf) - 1, 0,
						     (struct sockaddr *)&from, &fl);
					got = k > 0;
				}
			}
			if (!got) {
				failed++;
				break;
			}
			buf[k] = 0;
			if (buf[k - 1] == '\n')
				buf[k - 1] = 0;
			if (!same_sa(&from, &ss))
				badsrc++;
			if (r == 0) {
				snprintf(first, sizeof(first), "%s", buf);
				count_name(buf);
				if (sport)
					printf("port:%d %s\n", sport, buf);
			} else if (strcmp(first, buf)) {
				flapped++;
			}
		}
		close(fd);
	}
	print_names();
	printf("attempted %ld\nfailed %ld\nbad_source %ld\nflapped %ld\nrefused %ld\n", done,
	       failed, badsrc, flapped, refused);
	if (conn)
		printf("bad_peer %ld\n", badpeer);
	return 0;
}

/* End of a hold: the names of the connections still open, counted, and closed. */
static void hold_finish(int *fds, char (*who)[64], int conns)
{
	for (int i = 0; i < conns; i++) {
		if (fds[i] >= 0) {
			count_name(who[i]);
			close(fds[i]);
		}
	}
	print_names();
}

/* One request and its answer on an unconnected UDP socket (3 tries of 500 ms). */
static int udp_ask(int fd, const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t n,
		   long *badsrc)
{
	for (int t = 0; t < 3; t++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t k;

		sendto(fd, "x\n", 2, 0, (const struct sockaddr *)ss, sl);
		if (poll(&p, 1, 500) <= 0)
			continue;
		k = recvfrom(fd, buf, n - 1, 0, (struct sockaddr *)&from, &fl);
		if (k <= 0)
			continue;
		buf[k] = 0;
		if (buf[k - 1] == '\n')
			buf[k - 1] = 0;
		if (!same_sa(&from, ss))
			(*badsrc)++;
		return 0;
	}
	return -1;
}

/* One exchange of a hold: a line over TCP, or a datagram and its answer over UDP. */
static int hold_ask(int udp, int fd, const struct sockaddr_storage *ss, socklen_t sl, char *buf,
		    size_t n, long *badsrc)
{
	if (udp)
		return udp_ask(fd, ss, sl, buf, n, badsrc);
	return write(fd, "x\n", 2) != 2 || read_line(fd, buf, n, now() + 2.0) ? -1 : 0;
}

static int do_hold(const char *addr, int port, int conns, double duration, int interval_ms,
		   int udp)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int *fds = calloc((size_t)conns, sizeof(int));
	char (*who)[64] = calloc((size_t)conns, 64);
	long broken = 0, moved = 0, exchanges = 0, opened = 0, badsrc = 0;
	double end;

	if (!fds || !who || parse_sa(addr, port, &ss, &sl))
		return 2;
	for (int i = 0; i < conns; i++) {
		int one = 1;

		/* A UDP socket is open once it got its first answer (that names its backend). */
		fds[i] = udp ? socket(ss.ss_family, SOCK_DGRAM, 0) : connect_to(&ss, sl, now() + 3.0);
		if (fds[i] >= 0 && udp && udp_ask(fds[i], &ss, sl, who[i], 64, &badsrc)) {
			close(fds[i]);
			fds[i] = -1;
		}
		if (fds[i] < 0) {
			broken++;
			continue;
		}
		opened++;
		if (!udp)
			setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	printf("opened %ld\n", opened);
	fflush(stdout);
	end = now() + duration;
	while (now() < end) {
		for (int i = 0; i < conns; i++) {
			char buf[64];

			if (fds[i] < 0)
				continue;
			if (hold_ask(udp, fds[i], &ss, sl, buf, sizeof(buf), &badsrc)) {
				broken++;
				close(fds[i]);
				fds[i] = -1;
				continue;
			}
			exchanges++;
			if (!who[i][0])
				snprintf(who[i], 64, "%s", buf);
			else if (strcmp(who[i], buf))
				moved++;
		}
		usleep((useconds_t)interval_ms * 1000);
	}
	hold_finish(fds, who, conns);
	printf("exchanges %ld\nbroken %ld\nmoved %ld\n", exchanges, broken, moved);
	if (udp)
		printf("bad_source %ld\n", badsrc);
	return 0;
}

static double opt_num(int argc, char **argv, const char *key, double def)
{
	for (int i = 0; i < argc - 1; i++)
		if (!strcmp(argv[i], key))
			return atof(argv[i + 1]);
	return def;
}

static int opt_flag(int argc, char **argv, const char *key)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], key))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return do_serve(argv[2], (int)opt_num(argc, argv, "--tcp", 0),
				(int)opt_num(argc, argv, "--udp", 0),
				opt_num(argc, argv, "--timeout", 600), opt_flag(argc, argv, "--rst"));
	sport_next = (int)opt_num(argc, argv, "--sport-base", 0);
	if (argc >= 4 && !strcmp(argv[1], "tcp"))
		return do_tcp(argv[2], atoi(argv[3]), (long)opt_num(argc, argv, "--count", 100),
			      opt_num(argc, argv, "--conn-timeout", 5),
			      opt_num(argc, argv, "--timeout", 120), opt_num(argc, argv, "--rate", 0),
			      opt_flag(argc, argv, "--peername"));
	if (argc >= 4 && !strcmp(argv[1], "udp"))
		return do_udp(argv[2], atoi(argv[3]), (long)opt_num(argc, argv, "--count", 100),
			      (int)opt_num(argc, argv, "--repeat", 1),
			      opt_num(argc, argv, "--timeout", 120), opt_flag(argc, argv, "--connect"));
	if (argc >= 4 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2], atoi(argv[3]), (int)opt_num(argc, argv, "--conns", 10),
			       opt_num(argc, argv, "--duration", 5),
			       (int)opt_num(argc, argv, "--interval-ms", 10),
			       opt_flag(argc, argv, "--udp"));
	fprintf(stderr, "usage: see the comment at the top of l4s-traffic.c\n");
	return 2;
}
