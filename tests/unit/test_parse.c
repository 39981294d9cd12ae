// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Parsers of what users type: addresses, frontends, weights, names. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "parse.h"

static void test_addr_port(void **state)
{
	struct l4s_addr a;
	__u8 fam;
	__u16 port;
	char buf[L4S_ADDRSTRLEN];

	(void)state;
	assert_int_equal(parse_addr_port("10.0.0.1:80", &a, &fam, &port), 0);
	assert_int_equal(fam, L4S_AF_INET);
	assert_int_equal(port, 80);
	assert_string_equal(fmt_addr_port(buf, &a, fam, port), "10.0.0.1:80");
	assert_int_equal(parse_addr_port("[fd00::10]:8080", &a, &fam, &port), 0);
	assert_int_equal(fam, L4S_AF_INET6);
	assert_string_equal(fmt_addr_port(buf, &a, fam, port), "[fd00::10]:8080");

	static const char *const bad[] = {
		"10.0.0.1",     "10.0.0.1:",	 "10.0.0.1:0",	 "10.0.0.1:65536", "10.0.0.1:8x",
		"10.0.0.256:80", "fd00::1:80",	 "[fd00::1]80",	 "[10.0.0.1]:80",  ":80",
		"host:80",	 "10.0.0.1:-1",	 "",		 "[fd00::1]:",	   "10.0.0.1:+80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(parse_addr_port(bad[i], &a, &fam, &port), 0);
		assert_non_null(strstr(l4s_errmsg(), "wrong"));
	}
}

static void test_frontend(void **state)
{
	struct l4s_frontend_key k;
	char buf[96];

	(void)state;
	assert_int_equal(parse_frontend("10.96.0.10:80/tcp", &k), 0);
	assert_int_equal(k.proto, 6);
	assert_int_equal(ntohs(k.port), 80);
	assert_string_equal(fmt_frontend(buf, &k), "10.96.0.10:80/tcp");
	assert_int_equal(parse_frontend("[fd00::10]:53/UDP", &k), 0);
	assert_int_equal(k.proto, 17);
	assert_int_equal(k.family, L4S_AF_INET6);
	assert_int_not_equal(parse_frontend("10.96.0.10:80", &k), 0);
	assert_int_not_equal(parse_frontend("10.96.0.10:80/sctp", &k), 0);
	assert_non_null(strstr(l4s_errmsg(), "sctp"));
	assert_int_not_equal(parse_frontend("10.96.0.10/tcp", &k), 0);
	assert_int_not_equal(parse_frontend("/tcp", &k), 0);
}

/* Issue 21 item 13: unusable addresses are refused where VIPs and backends are parsed. */
static void test_addr_usable(void **state)
{
	struct l4s_frontend_key k;
	struct l4s_addr a;
	__u8 fam;
	__u16 port;

	(void)state;
	static const char *const bad[] = {
		"0.0.0.0:80",	  "255.255.255.255:80", "224.0.0.1:80",	     "239.255.255.250:1900",
		"[::]:80",	  "[ff02::1]:80",	"[ff05::1:3]:547",   "[fe80::1]:80",
		"[febf::1]:80",	  "[::ffff:10.0.0.1]:80", "[::ffff:0:0]:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char fe[64];

		l4s_err_clear();
		assert_int_not_equal(parse_addr_port(bad[i], &a, &fam, &port), 0);
		assert_non_null(strstr(l4s_errmsg(), "is wrong"));
		snprintf(fe, sizeof(fe), "%s/tcp", bad[i]);
		assert_int_not_equal(parse_frontend(fe, &k), 0);
	}
	assert_non_null(strstr(l4s_errmsg(), "IPv4-mapped"));
	static const char *const good[] = {
		"10.0.0.1:80", "169.254.20.10:53", "223.255.255.255:80", "240.0.0.1:80",
		"127.0.0.1:80", "[fd00::1]:80", "[fec0::1]:80", "[2001:db8::1]:80", "[::1]:80",
		"[::ffff:1:0:0]:80",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_addr_port(good[i], &a, &fam, &port))
			print_message("# %s: %s\n", good[i], l4s_errmsg());
		assert_int_equal(parse_addr_port(good[i], &a, &fam, &port), 0);
	}
	/* The check on its own, as the document readers and node set call it. */
	assert_int_equal(parse_addr("0.0.0.0", &a, &fam), 0);
	assert_int_not_equal(addr_check(&a, fam), 0);
	assert_non_null(strstr(l4s_errmsg(), "0.0.0.0"));
	assert_int_equal(parse_addr("10.1.2.3", &a, &fam), 0);
	assert_int_equal(addr_check(&a, fam), 0);
}

/* Issue 21 item 1: digits are a port number (1..65535), anything else a name. */
static void test_port_or_name(void **state)
{
	__u16 port = 0;

	(void)state;
	assert_int_equal(parse_port_or_name("--port", "80", &port), 1);
	assert_int_equal(port, 80);
	assert_int_equal(parse_port_or_name("--port", "65535", &port), 1);
	assert_int_equal(port, 65535);
	assert_int_equal(parse_port_or_name("--port", "http", &port), 0);
	assert_int_equal(parse_port_or_name("--port", "h2c-8080", &port), 0);
	static const char *const bad[] = { "0", "65536", "70000", "99999999999999999999", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l4s_err_clear();
		assert_true(parse_port_or_name("--port", bad[i], &port) < 0);
		assert_non_null(strstr(l4s_errmsg(), "--port"));
	}
}

/* Issue 21 item 16: long label values become a deterministic name of at most 31 bytes. */
static void test_track_name(void **state)
{
	char out[L4S_NAME_LEN], out2[L4S_NAME_LEN];
	const char *v63 = "release-2026-12-05-abcdef0123456789-canary-build-0000000000001";
	const char *v63b = "release-2026-12-05-abcdef0123456789-canary-build-0000000000002";

	(void)state;
	assert_int_equal(track_name(out, "canary"), 0);
	assert_string_equal(out, "canary");
	assert_int_equal(track_name(out, "a234567890123456789012345678901"), 0); /* 31 */
	assert_string_equal(out, "a234567890123456789012345678901");
	assert_int_equal(track_name(out, "a2345678901234567890123456789012"), 1); /* 32 */
	assert_int_equal(strlen(out), 31);
	assert_int_equal(track_name(out, v63), 1);
	assert_int_equal(strlen(out), L4S_NAME_LEN - 1);
	assert_memory_equal(out, v63, 22);
	assert_int_equal(out[22], '~');
	assert_int_equal(strspn(out + 23, "0123456789abcdef"), 8);
	/* the same on every call (every node), different for another value */
	assert_int_equal(track_name(out2, v63), 1);
	assert_string_equal(out, out2);
	assert_int_equal(track_name(out2, v63b), 1);
	assert_string_not_equal(out, out2);
	/* the shortened name is itself a usable track name (status | apply round trip) */
	assert_int_equal(parse_name("track", out), 0);
	assert_int_equal(track_name(out2, out), 0);
	assert_string_equal(out, out2);
	/* not label values: too long, bad characters, bad ends */
	assert_true(track_name(out, "a234567890123456789012345678901234567890123456789012345678901234") <
		    0);
	assert_true(track_name(out, "release-2026-12-05-abcdef0123456789-canary-build-/") < 0);
	assert_true(track_name(out, "release-2026-12-05-abcdef0123456789-canary-build-") < 0);
	assert_true(track_name(out, "") < 0);
	/* '~' only in track names */
	assert_int_not_equal(parse_name("service", "a~b"), 0);
}

static void test_weight(void **state)
{
	__u64 w;

	(void)state;
	assert_int_equal(parse_weight("0", &w), 0);
	assert_int_equal(w, 0);
	assert_int_equal(parse_weight("99", &w), 0);
	assert_int_equal(w, 99 * L4S_WEIGHT_ONE);
	assert_int_equal(parse_weight("0.5", &w), 0);
	assert_int_equal(w, L4S_WEIGHT_ONE / 2);
	assert_int_equal(parse_weight("99.5", &w), 0);
	assert_int_equal(w, 99 * L4S_WEIGHT_ONE + L4S_WEIGHT_ONE / 2);
	assert_int_equal(parse_weight(".25", &w), 0);
	assert_int_equal(w, L4S_WEIGHT_ONE / 4);
	assert_int_equal(parse_weight("1000000", &w), 0);

	static const char *const bad[] = { "",	  "-1",	 "NaN", "nan", "inf", "1e3", "0x10",
					   "1.2.3", "1,5", " 1", "1 ", "1.1234567", "1000001",
					   "99999999999999999999999", "." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(parse_weight(bad[i], &w), 0);
}

static void test_fmt_weight(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fmt_weight(buf, 99 * L4S_WEIGHT_ONE), "99");
	assert_string_equal(fmt_weight(buf, L4S_WEIGHT_ONE / 2), "0.5");
	assert_string_equal(fmt_weight(buf, 0), "0");
	assert_string_equal(fmt_weight(buf, 1), "0.000001");
}

static void test_name(void **state)
{
	(void)state;
	assert_int_equal(parse_name("service", "nginx"), 0);
	assert_int_equal(parse_name("service", "web-1.v2_x"), 0);
	assert_int_not_equal(parse_name("service", ""), 0);
	assert_int_not_equal(parse_name("service", "-web"), 0);
	assert_int_not_equal(parse_name("service", "web/1"), 0);
	assert_int_not_equal(parse_name("service", "web 1"), 0);
	assert_int_not_equal(parse_name("track", "0123456789012345678901234567890123"), 0);
	assert_non_null(strstr(l4s_errmsg(), "track name"));
}

static void test_primes(void **state)
{
	(void)state;
	assert_true(is_prime(16381));
	assert_true(is_prime(65521));
	assert_false(is_prime(16384));
	assert_false(is_prime(1));
}

static void test_duration(void **state)
{
	__u64 ms;

	(void)state;
	assert_int_equal(parse_duration_ms("interval", "30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(parse_duration_ms("interval", "500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(parse_duration_ms("interval", "1.5", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(parse_duration_ms("interval", "2m", &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_not_equal(parse_duration_ms("interval", "0s", &ms), 0);
	assert_int_not_equal(parse_duration_ms("interval", "30x", &ms), 0);
	assert_int_not_equal(parse_duration_ms("interval", "s", &ms), 0);
	assert_int_not_equal(parse_duration_ms("interval", "-1s", &ms), 0);
	assert_int_not_equal(parse_duration_ms("interval", "8000h", &ms), 0);
	assert_non_null(strstr(l4s_errmsg(), "interval \"8000h\" is wrong"));
}

static void test_ratio(void **state)
{
	__u32 ppm;

	(void)state;
	assert_int_equal(parse_ratio_ppm("ratio", "0.05", &ppm), 0);
	assert_int_equal(ppm, 50000);
	assert_int_equal(parse_ratio_ppm("ratio", "5%", &ppm), 0);
	assert_int_equal(ppm, 50000);
	assert_int_equal(parse_ratio_ppm("ratio", "1", &ppm), 0);
	assert_int_equal(ppm, 1000000);
	assert_int_equal(parse_ratio_ppm("ratio", "0", &ppm), 0);
	assert_int_equal(ppm, 0);
	assert_int_not_equal(parse_ratio_ppm("ratio", "1.5", &ppm), 0);
	assert_int_not_equal(parse_ratio_ppm("ratio", "150%", &ppm), 0);
	assert_int_not_equal(parse_ratio_ppm("ratio", "%", &ppm), 0);
	assert_int_not_equal(parse_ratio_ppm("ratio", "abc", &ppm), 0);
}

static void test_steps(void **state)
{
	__u32 st[L4S_ROLLOUT_MAX_STEPS];
	int n;

	(void)state;
	assert_int_equal(parse_steps("1,5,25,50,100", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(st[0], 10000);
	assert_int_equal(st[4], 1000000);
	assert_int_equal(parse_steps("0.1,50", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_equal(st[0], 1000);
	assert_int_not_equal(parse_steps("5,1", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_non_null(strstr(l4s_errmsg(), "larger than the one before"));
	assert_int_not_equal(parse_steps("0,50", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_not_equal(parse_steps("50,101", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_not_equal(parse_steps("1,,5", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_not_equal(parse_steps("1,5,", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_not_equal(parse_steps("", st, L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_int_not_equal(parse_steps("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", st,
					 L4S_ROLLOUT_MAX_STEPS, &n), 0);
	assert_non_null(strstr(l4s_errmsg(), "at most 16 steps"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_port), cmocka_unit_test(test_frontend),
		cmocka_unit_test(test_weight),	  cmocka_unit_test(test_fmt_weight),
		cmocka_unit_test(test_name),	  cmocka_unit_test(test_primes),
		cmocka_unit_test(test_duration),  cmocka_unit_test(test_ratio),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_addr_usable), cmocka_unit_test(test_port_or_name),
		cmocka_unit_test(test_track_name),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
