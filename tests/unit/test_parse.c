// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Parsers of what users type: addresses, frontends, weights, names. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
