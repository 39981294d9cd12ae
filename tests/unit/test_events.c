// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Event recorder's pure parts: the per-object token bucket (client-go's spam filter:
 * burst 25, one token every 5 minutes) with an injected clock, and the Event names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "events.h"

static int allowed(struct ev_limiter *l, const char *key, double now, int tries)
{
	int n = 0;

	for (int i = 0; i < tries; i++)
		n += ev_limiter_allow(l, key, now);
	return n;
}

static void test_burst_then_refill(void **state)
{
	struct ev_limiter l = {};

	(void)state;
	/* A burst of 25 at once, then nothing. */
	assert_int_equal(allowed(&l, "default/web", 1000, 40), EV_BURST);
	assert_int_equal(ev_limiter_allow(&l, "default/web", 1000 + 299), 0);
	/* One token 5 minutes after the burst, not two. */
	assert_int_equal(allowed(&l, "default/web", 1000 + 300, 3), 1);
	/* 10 minutes later: two. */
	assert_int_equal(allowed(&l, "default/web", 1000 + 900, 5), 2);
	/* Never more than the burst, however long the quiet. */
	assert_int_equal(allowed(&l, "default/web", 1000 + 1e6, 100), EV_BURST);
	ev_limiter_free(&l);
}

static void test_per_object(void **state)
{
	struct ev_limiter l = {};

	(void)state;
	assert_int_equal(allowed(&l, "default/web", 5, 30), EV_BURST);
	/* Another object has its own bucket. */
	assert_int_equal(allowed(&l, "default/api", 5, 30), EV_BURST);
	assert_int_equal(ev_limiter_allow(&l, "default/web", 6), 0);
	/* Many objects: each still gets its burst (buckets are reused only when full). */
	for (int i = 0; i < 100; i++) {
		char k[32];

		snprintf(k, sizeof(k), "ns/svc-%d", i);
		assert_int_equal(allowed(&l, k, 7, 26), EV_BURST);
	}
	assert_int_equal(ev_limiter_allow(&l, "default/web", 8), 0);
	ev_limiter_free(&l);
}

static void test_knobs(void **state)
{
	struct ev_limiter l = { .burst = 2, .refill_s = 1 };

	(void)state;
	assert_int_equal(allowed(&l, "k", 0, 5), 2);
	assert_int_equal(allowed(&l, "k", 1.5, 5), 1);
	ev_limiter_free(&l);
}

static void test_names(void **state)
{
	char a[300], b[300];

	(void)state;
	/* Same occurrence, any node: the same name. */
	ev_name(a, sizeof(a), "web", "uid-1", "Normal", "L4splitApplied", "x: created", 7);
	ev_name(b, sizeof(b), "web", "uid-1", "Normal", "L4splitApplied", "x: created", 7);
	assert_string_equal(a, b);
	assert_int_equal(strncmp(a, "web.", 4), 0);
	assert_int_equal(strlen(a), 4 + 16);
	/* Another message, reason, type, object or window: another Event. */
	ev_name(b, sizeof(b), "web", "uid-1", "Normal", "L4splitApplied", "x: weights", 7);
	assert_string_not_equal(a, b);
	ev_name(b, sizeof(b), "web", "uid-1", "Warning", "L4splitApplied", "x: created", 7);
	assert_string_not_equal(a, b);
	ev_name(b, sizeof(b), "web", "uid-2", "Normal", "L4splitApplied", "x: created", 7);
	assert_string_not_equal(a, b);
	ev_name(b, sizeof(b), "web", "uid-1", "Normal", "L4splitApplied", "x: created", 8);
	assert_string_not_equal(a, b);
	/* Field boundaries count: ("ab", "c") is not ("a", "bc"). */
	ev_name(a, sizeof(a), "web", "u", "Normal", "ab", "c", 1);
	ev_name(b, sizeof(b), "web", "u", "Normal", "a", "bc", 1);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_per_object),
		cmocka_unit_test(test_knobs),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
