// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The node's addresses for nodePort frontends: from Node objects (tests/fixtures/k8s/node)
 * and from interface lists filtered by --nodeport-addresses CIDRs. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "err.h"
#include "nodeaddr.h"
#include "parse.h"

#define FIX "tests/fixtures/k8s/node/"

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);

	if (!doc)
		print_message("# %s: %s\n", path, e.text);
	assert_non_null(doc);
	return doc;
}

static const char *list(const struct nodeaddr *na)
{
	static char out[1024];
	char buf[L4S_ADDRSTRLEN];

	out[0] = 0;
	for (int i = 0; i < na->n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 fmt_addr(buf, &na->a[i], na->family[i]));
	return out;
}

static void test_from_node(void **state)
{
	json_t *n = load(FIX "node-dualstack-assembled.json");
	struct nodeaddr na;

	(void)state;
	assert_int_equal(nodeaddr_from_node(n, &na), 0);
	assert_string_equal(list(&na), "10.0.0.5 2001:db8:10::5");
	json_decref(n);

	/* The first InternalIP of a family even when an ExternalIP comes first; the
	 * ExternalIP when the family has no InternalIP. */
	n = load(FIX "node-external-ip-constructed.json");
	assert_int_equal(nodeaddr_from_node(n, &na), 0);
	assert_string_equal(list(&na), "192.0.2.10 2001:db8:ff::7");

	/* A wrong address is named by its field. */
	json_object_set_new(json_array_get(json_object_get(json_object_get(n, "status"),
							   "addresses"), 2),
			    "address", json_string("192.0.2.300"));
	assert_int_equal(nodeaddr_from_node(n, &na), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "Node status.addresses[2].address"));
	json_object_set_new(json_object_get(n, "status"), "addresses", json_string("x"));
	assert_int_equal(nodeaddr_from_node(n, &na), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "status.addresses: expected a list"));
	/* A node without addresses yet: none, no error. */
	json_object_del(json_object_get(n, "status"), "addresses");
	assert_int_equal(nodeaddr_from_node(n, &na), 0);
	assert_int_equal(na.n, 0);
	json_decref(n);
}

static void test_filter_parse(void **state)
{
	struct nodeaddr_filter f;

	(void)state;
	assert_int_equal(nodeaddr_filter_parse(NULL, &f), 0);
	assert_true(f.primary);
	assert_int_equal(nodeaddr_filter_parse("primary", &f), 0);
	assert_true(f.primary);
	assert_int_equal(nodeaddr_filter_parse("10.1.2.3/8,fd00::/8", &f), 0);
	assert_false(f.primary);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.c[0].prefix, 8);
	assert_int_equal(ntohl(f.c[0].net.addr[0]), 0x0a000000); /* host bits cleared */
	static const char *const bad[] = { "10.0.0.0", "10.0.0.0/33", "fd00::/129", "x/8",
					   "10.0.0.0/", "10.0.0.0/8,primary", ",", "10.0.0.0/8a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l4s_err_clear();
		if (nodeaddr_filter_parse(bad[i], &f) != -EINVAL)
			fail_msg("\"%s\" was taken", bad[i]);
		assert_non_null(strstr(l4s_errmsg(), "--nodeport-addresses"));
	}
}

/* A fake interface list: lo, eth0 (v4, link-local v6, ULA v6), eth1. */
static struct sockaddr_storage ss[6];
static struct ifaddrs ifa[6];

static void fake_list(void)
{
	static const struct { const char *dev, *addr; } a[] = {
		{ "lo", "127.0.0.1" }, { "lo", "::1" }, { "eth0", "10.1.2.3" },
		{ "eth0", "fe80::1" }, { "eth0", "fd00::5" }, { "eth1", "192.168.1.1" },
	};

	memset(ss, 0, sizeof(ss));
	memset(ifa, 0, sizeof(ifa));
	for (int i = 0; i < 6; i++) {
		if (strchr(a[i].addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss[i];

			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, a[i].addr, &s6->sin6_addr);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss[i];

			s4->sin_family = AF_INET;
			inet_pton(AF_INET, a[i].addr, &s4->sin_addr);
		}
		ifa[i].ifa_name = (char *)a[i].dev;
		ifa[i].ifa_addr = (struct sockaddr *)&ss[i];
		ifa[i].ifa_next = i < 5 ? &ifa[i + 1] : NULL;
	}
}

static const char *match(const char *cidrs)
{
	struct nodeaddr_filter f;
	struct nodeaddr na;

	assert_int_equal(nodeaddr_filter_parse(cidrs, &f), 0);
	assert_int_equal(nodeaddr_match(&f, ifa, &na), 0);
	return list(&na);
}

static void test_match(void **state)
{
	(void)state;
	fake_list();
	assert_string_equal(match("10.0.0.0/8,fd00::/8"), "10.1.2.3 fd00::5");
	/* The zero CIDRs: every address but loopback and link-local. */
	assert_string_equal(match("0.0.0.0/0"), "10.1.2.3 192.168.1.1");
	assert_string_equal(match("::/0"), "fd00::5");
	/* Loopback when a CIDR names it. */
	assert_string_equal(match("127.0.0.0/8,::1/128"), "127.0.0.1 ::1");
	assert_string_equal(match("192.168.1.1/32"), "192.168.1.1");
	assert_string_equal(match("172.16.0.0/12"), "");
}

/* The real interfaces of this network namespace: the loopback addresses getifaddrs
 * shows come with 127.0.0.0/8 and never with 0.0.0.0/0. */
static void test_local(void **state)
{
	struct nodeaddr_filter f;
	struct nodeaddr na;
	struct ifaddrs *l;
	int lo = 0;

	(void)state;
	assert_int_equal(getifaddrs(&l), 0);
	for (struct ifaddrs *i = l; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) >> 24) == 127)
			lo++;
	freeifaddrs(l);
	assert_int_equal(nodeaddr_filter_parse("127.0.0.0/8", &f), 0);
	assert_int_equal(nodeaddr_local(&f, &na), 0);
	assert_int_equal(na.n, lo);
	assert_int_equal(nodeaddr_filter_parse("0.0.0.0/0", &f), 0);
	assert_int_equal(nodeaddr_local(&f, &na), 0);
	for (int i = 0; i < na.n; i++)
		assert_int_not_equal(ntohl(na.a[i].addr[0]) >> 24, 127);
}

/* In a network namespace of its own (root only): a veth pair, one end with an IPv4 and an
 * IPv6 address, lo up. The CIDRs pick them; 0.0.0.0/0 never loopback. The child exits
 * 0 when every check held, the line it failed on otherwise. */
static int netns_child(void)
{
	struct nodeaddr_filter f;
	struct nodeaddr na;

	if (unshare(CLONE_NEWNET))
		return 200;
	if (system("ip link set lo up && ip link add l4snadum type veth peer name l4snadu1 && "
		   "ip addr add 10.9.8.7/24 dev l4snadum && "
		   "ip -6 addr add fd00:9::7/64 dev l4snadum nodad && "
		   "ip link set l4snadum up && ip link set l4snadu1 up"))
		return 201;
#define CHECK(cidrs, want) do { \
		if (nodeaddr_filter_parse(cidrs, &f) || nodeaddr_local(&f, &na) || \
		    strcmp(list(&na), want)) { \
			fprintf(stderr, "# %s: got \"%s\", want \"%s\"\n", cidrs, list(&na), want); \
			return __LINE__ % 200; \
		} \
	} while (0)
	CHECK("10.0.0.0/8,fd00::/8", "10.9.8.7 fd00:9::7");
	CHECK("0.0.0.0/0", "10.9.8.7");
	CHECK("::/0", "fd00:9::7");
	CHECK("127.0.0.0/8", "127.0.0.1");
	CHECK("192.168.0.0/16", "");
#undef CHECK
	return 0;
}

static void test_local_netns(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0) {
		print_message("# skip: a network namespace needs root\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(netns_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_node),
		cmocka_unit_test(test_filter_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_local_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
