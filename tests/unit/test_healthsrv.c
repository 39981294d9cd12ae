// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The healthCheckNodePort server: what a load balancer's probe gets over real sockets. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "err.h"
#include "healthsrv.h"

/* A port nothing listens on now (the kernel's pick for a socket bound to port 0). */
static __u16 free_port(void)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t len = sizeof(s);
	int fd = socket(AF_INET6, SOCK_STREAM, 0), zero = 0;

	assert_true(fd >= 0);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&s, &len), 0);
	close(fd);
	return ntohs(s.sin6_port);
}

struct reply {
	int code;      /* HTTP status, or -errno of connect */
	char head[2048], body[2048];
};

/* GET @path from 127.0.0.1 or ::1 : @port, HTTP/1.0. */
static struct reply get(__u16 port, int v6, const char *path)
{
	struct reply r = {};
	char buf[2048], req[256];
	size_t len = 0;
	ssize_t k;
	int fd;

	if (v6) {
		struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(port),
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT };

		fd = socket(AF_INET6, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&s, sizeof(s)))
			r.code = -errno;
	} else {
		struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&s, sizeof(s)))
			r.code = -errno;
	}
	if (r.code) {
		close(fd);
		return r;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: node\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (len < sizeof(buf) - 1 && (k = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)k;
	buf[len] = 0;
	close(fd);
	char *sep = strstr(buf, "\r\n\r\n");

	assert_non_null(sep);
	*sep = 0;
	snprintf(r.head, sizeof(r.head), "%s", buf);
	snprintf(r.body, sizeof(r.body), "%s", sep + 4);
	assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r.code), 1);
	return r;
}

static int has_header(const struct reply *r, const char *h)
{
	return strcasestr(r->head, h) != NULL;
}

static int ipv6_ok(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int ok = fd >= 0 && !bind(fd, (struct sockaddr *)&s, sizeof(s));

	if (fd >= 0)
		close(fd);
	return ok;
}

static void test_codes_and_bodies(void **state)
{
	struct healthsrv *h = healthsrv_new(NULL);
	__u16 p1 = free_port(), p2 = free_port();
	struct healthsrv_entry e[2] = {
		{ p1, "default", "web", 2 },
		{ p2, "kube-system", "dns", 0 },
	};
	struct reply r;
	int errs[2] = { 1, 1 };

	(void)state;
	assert_non_null(h);
	assert_int_equal(healthsrv_sync(h, e, 2, errs), 0);
	assert_int_equal(errs[0], 0);
	assert_int_equal(errs[1], 0);
	r = get(p1, 0, "/");
	assert_int_equal(r.code, 200);
	assert_true(has_header(&r, "\r\nContent-Type: application/json"));
	assert_true(has_header(&r, "\r\nX-Content-Type-Options: nosniff"));
	assert_string_equal(r.body, "{\"service\":{\"namespace\":\"default\",\"name\":\"web\"},"
			    "\"localEndpoints\":2,\"serviceProxyHealthy\":true}");
	/* Any path; every address of the node (IPv6 too, where the host has it). */
	r = get(p2, 0, "/healthz");
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "{\"service\":{\"namespace\":\"kube-system\",\"name\":\"dns\"},"
			    "\"localEndpoints\":0,\"serviceProxyHealthy\":true}");
	if (ipv6_ok()) {
		r = get(p1, 1, "/x/y");
		assert_int_equal(r.code, 200);
	}

	/* Counts 2 -> 0 and 0 -> 2: 200 <-> 503. */
	e[0].local_endpoints = 0;
	e[1].local_endpoints = 2;
	assert_int_equal(healthsrv_sync(h, e, 2, NULL), 0);
	assert_int_equal(get(p1, 0, "/").code, 503);
	r = get(p2, 0, "/");
	assert_int_equal(r.code, 200);
	assert_non_null(strstr(r.body, "\"localEndpoints\":2"));

	/* A Service gone: its port closed, the other served on. */
	assert_int_equal(healthsrv_sync(h, &e[1], 1, NULL), 0);
	assert_int_equal(get(p1, 0, "/").code, -ECONNREFUSED);
	assert_int_equal(get(p2, 0, "/").code, 200);

	/* Back again. */
	assert_int_equal(healthsrv_sync(h, e, 2, NULL), 0);
	assert_int_equal(get(p1, 0, "/").code, 503);
	healthsrv_free(h);
	assert_int_equal(get(p1, 0, "/").code, -ECONNREFUSED);
	assert_int_equal(get(p2, 0, "/").code, -ECONNREFUSED);
}

/* A port something else holds, or two Services naming one port: that entry fails,
 * with a message naming the port and the Service; the others are served. */
static void test_port_errors(void **state)
{
	struct healthsrv *h = healthsrv_new(NULL);
	__u16 p1 = free_port(), p2 = free_port();
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons(p2),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int busy = socket(AF_INET6, SOCK_STREAM, 0), zero = 0, errs[3];
	struct healthsrv_entry e[3] = {
		{ p1, "default", "web", 1 },
		{ p2, "default", "taken", 1 },
		{ p1, "default", "again", 1 },
	};

	(void)state;
	setsockopt(busy, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	assert_int_equal(bind(busy, (struct sockaddr *)&s, sizeof(s)), 0);
	assert_int_equal(listen(busy, 1), 0);
	assert_int_equal(healthsrv_sync(h, e, 3, errs), 2);
	assert_int_equal(errs[0], 0);
	assert_int_equal(errs[1], -EADDRINUSE);
	assert_int_equal(errs[2], -EADDRINUSE);
	assert_non_null(strstr(l4s_errmsg(), "default/again"));
	assert_int_equal(get(p1, 0, "/").code, 200);
	assert_non_null(strstr(get(p1, 0, "/").body, "\"name\":\"web\""));
	/* The port freed: the next sync takes it. */
	close(busy);
	assert_int_equal(healthsrv_sync(h, e, 2, errs), 0);
	assert_int_equal(get(p2, 0, "/").code, 200);
	healthsrv_free(h);
}

/* A request sees one sync or the next, never a mix: service a/x with 0 endpoints, or
 * b/y with 3. */
struct hammer {
	__u16 port;
	volatile int stop;
	volatile int seen[2], mixed;
};

static void *hammer(void *arg)
{
	struct hammer *hm = arg;

	while (!hm->stop) {
		struct reply r = get(hm->port, 0, "/");

		if (r.code == 503 && !strcmp(r.body, "{\"service\":{\"namespace\":\"a\",\"name\":"
					     "\"x\"},\"localEndpoints\":0,\"serviceProxyHealthy\":true}"))
			hm->seen[0]++;
		else if (r.code == 200 && !strcmp(r.body, "{\"service\":{\"namespace\":\"b\",\"name\":"
						  "\"y\"},\"localEndpoints\":3,\"serviceProxyHealthy\":true}"))
			hm->seen[1]++;
		else
			hm->mixed++;
	}
	return NULL;
}

static void test_atomic(void **state)
{
	struct healthsrv *h = healthsrv_new(NULL);
	struct hammer hm = { .port = free_port() };
	struct healthsrv_entry a = { hm.port, "a", "x", 0 }, b = { hm.port, "b", "y", 3 };
	time_t t0 = time(NULL);
	pthread_t t;

	(void)state;
	assert_int_equal(healthsrv_sync(h, &a, 1, NULL), 0);
	assert_int_equal(pthread_create(&t, NULL, hammer, &hm), 0);
	/* Until the prober has seen 2,000 answers (bounded: 10 s). */
	for (int i = 0; hm.seen[0] + hm.seen[1] + hm.mixed < 2000 && time(NULL) < t0 + 10; i++)
		assert_int_equal(healthsrv_sync(h, i % 2 ? &a : &b, 1, NULL), 0);
	hm.stop = 1;
	pthread_join(t, NULL);
	print_message("# %d + %d answers, %d mixed\n", hm.seen[0], hm.seen[1], hm.mixed);
	assert_int_equal(hm.mixed, 0);
	assert_true(hm.seen[0] > 0 && hm.seen[1] > 0);
	healthsrv_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_and_bodies),
		cmocka_unit_test(test_port_errors),
		cmocka_unit_test(test_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
