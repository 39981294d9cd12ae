// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Leader election's decision (lease_next): who may write the Lease, and what. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "lease.h"

static struct lease_record rec(const char *holder, long dur, long transitions)
{
	struct lease_record r = { .duration_s = dur, .transitions = transitions };

	strcpy(r.holder, holder);
	strcpy(r.acquire, "2026-12-06T01:00:00.000000Z");
	strcpy(r.renew, "2026-12-06T01:00:10.000000Z");
	return r;
}

/* No Lease: create it, holder me, acquired now, no transition. */
static void test_create(void **state)
{
	struct lease_record next;

	(void)state;
	assert_int_equal(lease_next(NULL, "node-a", 0, 100, 15, "T1", &next), 1);
	assert_string_equal(next.holder, "node-a");
	assert_string_equal(next.acquire, "T1");
	assert_string_equal(next.renew, "T1");
	assert_int_equal(next.duration_s, 15);
	assert_int_equal(next.transitions, 0);
}

/* Another holder that changed the record less than its duration ago (on our clock)
 * keeps it; at the duration, it is ours, with one more transition. */
static void test_other_holder(void **state)
{
	struct lease_record cur = rec("node-b", 15, 3), next;

	(void)state;
	assert_int_equal(lease_next(&cur, "node-a", 100, 100, 15, "T", &next), 0);
	assert_int_equal(lease_next(&cur, "node-a", 100, 114.9, 15, "T", &next), 0);
	assert_int_equal(lease_next(&cur, "node-a", 100, 115.1, 15, "T2", &next), 1);
	assert_string_equal(next.holder, "node-a");
	assert_string_equal(next.acquire, "T2");
	assert_int_equal(next.transitions, 4);
}

/* The holder's own leaseDurationSeconds counts, not ours. */
static void test_their_duration(void **state)
{
	struct lease_record cur = rec("node-b", 60, 0), next;

	(void)state;
	assert_int_equal(lease_next(&cur, "node-a", 100, 130, 15, "T", &next), 0);
	assert_int_equal(lease_next(&cur, "node-a", 100, 161, 15, "T", &next), 1);
}

/* Our own lease: a renewal keeps acquireTime and the transition count. */
static void test_renew(void **state)
{
	struct lease_record cur = rec("node-a", 15, 7), next;

	(void)state;
	assert_int_equal(lease_next(&cur, "node-a", 100, 101, 15, "T3", &next), 1);
	assert_string_equal(next.acquire, "2026-12-06T01:00:00.000000Z");
	assert_string_equal(next.renew, "T3");
	assert_int_equal(next.transitions, 7);
}

/* A released lease (holder "") is taken at once; the new holder is a transition. */
static void test_released(void **state)
{
	struct lease_record cur = rec("", 1, 2), next;

	(void)state;
	assert_int_equal(lease_next(&cur, "node-a", 100, 100, 15, "T4", &next), 1);
	assert_string_equal(next.holder, "node-a");
	assert_int_equal(next.transitions, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),       cmocka_unit_test(test_other_holder),
		cmocka_unit_test(test_their_duration), cmocka_unit_test(test_renew),
		cmocka_unit_test(test_released),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
