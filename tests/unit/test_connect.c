// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The connect-time histogram read back: quantiles as Prometheus' histogram_quantile()
 * gives them over the same buckets, sums and windows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "connect.h"

static void test_bounds(void **state)
{
	(void)state;
	assert_true(fabs(connect_bound_s(0) - 50e-6) < 1e-12);
	assert_true(fabs(connect_bound_s(6) - 5e-3) < 1e-12);
	assert_true(fabs(connect_bound_s(14) - 2.5) < 1e-12);
	assert_true(isinf(connect_bound_s(15)));
}

static void test_quantile(void **state)
{
	struct l4s_connect_hist h = {};

	(void)state;
	assert_true(connect_quantile(&h, 0.99) < 0); /* nothing counted */
	/* 100 flows in (1 ms, 2.5 ms]: p99 is 1 ms + 0.99 x 1.5 ms. */
	h.count[5] = 100;
	assert_true(fabs(connect_quantile(&h, 0.99) - (1e-3 + 0.99 * 1.5e-3)) < 1e-9);
	/* 98 fast (50-100 us) and 2 slow (250-500 ms): p99 is among the slow ones. */
	memset(&h, 0, sizeof(h));
	h.count[1] = 98;
	h.count[12] = 2;
	assert_true(fabs(connect_quantile(&h, 0.99) - (0.25 + 0.25 * 0.5)) < 1e-9);
	assert_true(connect_quantile(&h, 0.5) < 100e-6);
	/* Past the last bound: the last finite one (as Prometheus). */
	memset(&h, 0, sizeof(h));
	h.count[15] = 10;
	assert_true(fabs(connect_quantile(&h, 0.99) - 2.5) < 1e-9);
}

static void test_window(void **state)
{
	struct l4s_connect_hist a = {}, b = {}, d, sum = {};

	(void)state;
	a.count[3] = 5;
	a.sum_ns = 1000;
	b.count[3] = 7;
	b.count[4] = 1;
	b.sum_ns = 3000;
	connect_delta(&d, &b, &a);
	assert_int_equal(d.count[3], 2);
	assert_int_equal(d.count[4], 1);
	assert_int_equal(d.sum_ns, 2000);
	assert_int_equal(connect_count(&d), 3);
	connect_delta(&d, &a, &b); /* went back (a reused id): 0, never a wrap */
	assert_int_equal(connect_count(&d), 0);
	connect_add(&sum, &a);
	connect_add(&sum, &b);
	assert_int_equal(connect_count(&sum), 13);
	assert_int_equal(sum.sum_ns, 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
