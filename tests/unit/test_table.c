// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The weighted lookup table builder: exact shares, determinism, small disruption. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "table.h"

static void make_backends(struct table_backend *b, int n)
{
	memset(b, 0, sizeof(*b) * (size_t)n);
	for (int i = 0; i < n; i++) {
		b[i].id = (__u32)(100 + i);
		b[i].family = L4S_AF_INET;
		b[i].addr.addr[0] = __builtin_bswap32(0x0a000000u + (__u32)i + 1);
		b[i].port = 80;
		b[i].weight = 1;
	}
}

static void count_slots(const __u32 *t, __u32 m, const struct table_backend *b, int n, __u32 *cnt)
{
	memset(cnt, 0, sizeof(*cnt) * (size_t)n);
	for (__u32 s = 0; s < m; s++)
		for (int i = 0; i < n; i++)
			if (t[s] == b[i].id)
				cnt[i]++;
}

/* Each backend gets floor(M*w/W) or one more, zero weights get nothing, all slots used. */
static void check_exact(const struct table_backend *b, int n, __u32 m)
{
	__u32 *t = malloc(sizeof(*t) * m), *cnt = calloc((size_t)n, sizeof(*cnt)), total = 0;
	long double W = 0;

	assert_int_equal(table_build(b, n, m, t), 0);
	count_slots(t, m, b, n, cnt);
	for (int i = 0; i < n; i++)
		W += b[i].weight;
	for (int i = 0; i < n; i++) {
		long double ideal = (long double)m * b[i].weight / W;
		__u32 lo = (__u32)ideal;

		if (!b[i].weight)
			assert_int_equal(cnt[i], 0);
		assert_true(cnt[i] == lo || cnt[i] == lo + 1);
		total += cnt[i];
	}
	assert_int_equal(total, m);
	free(t);
	free(cnt);
}

static void test_exact_shares(void **state)
{
	static const __u32 sizes[] = { 16381, 65521 };
	static const int counts[] = { 1, 2, 7, 1000 };
	struct table_backend *b = malloc(sizeof(*b) * 1000);

	(void)state;
	srand(42);
	for (int si = 0; si < 2; si++) {
		for (int ci = 0; ci < 4; ci++) {
			for (int round = 0; round < 3; round++) {
				int n = counts[ci];

				make_backends(b, n);
				for (int i = 0; i < n; i++)
					b[i].weight = round == 0 ? 1 : (__u64)(rand() % 10000);
				if (round == 2 && n > 1) {
					b[0].weight = 1;
					b[1].weight = 9999;
					if (n > 2)
						b[2].weight = 0;
				}
				if (n == 1)
					b[0].weight = 5;
				check_exact(b, n, sizes[si]);
			}
		}
	}
	free(b);
}

static void test_one_in_9999(void **state)
{
	struct table_backend b[2];
	__u32 t[16381], cnt[2];

	(void)state;
	make_backends(b, 2);
	b[0].weight = 9999;
	b[1].weight = 1;
	assert_int_equal(table_build(b, 2, 16381, t), 0);
	count_slots(t, 16381, b, 2, cnt);
	assert_int_equal(cnt[1], 2); /* 16381 / 10000 = 1.64 -> 2 by largest remainder */
	assert_int_equal(cnt[0], 16379);
}

static void test_all_zero_is_empty(void **state)
{
	struct table_backend b[3];
	__u32 t[16381];

	(void)state;
	make_backends(b, 3);
	for (int i = 0; i < 3; i++)
		b[i].weight = 0;
	assert_int_equal(table_build(b, 3, 16381, t), 0);
	for (int s = 0; s < 16381; s++)
		assert_int_equal(t[s], L4S_NO_BACKEND);
	assert_int_equal(table_build(b, 0, 16381, t), 0);
	assert_int_equal(t[0], L4S_NO_BACKEND);
}

static void test_deterministic(void **state)
{
	struct table_backend b[50], r[50];
	static __u32 t1[65521], t2[65521];

	(void)state;
	make_backends(b, 50);
	for (int i = 0; i < 50; i++)
		b[i].weight = (__u64)(i * 37 % 11 + 1);
	/* The same backends in reverse order build the very same table. */
	for (int i = 0; i < 50; i++)
		r[i] = b[49 - i];
	assert_int_equal(table_build(b, 50, 65521, t1), 0);
	assert_int_equal(table_build(r, 50, 65521, t2), 0);
	assert_memory_equal(t1, t2, sizeof(t1));
}

/* Slots that change owner between two weight sets, against the share that changed. */
static double disruption(struct table_backend *b, int n, __u64 *w1, __u64 *w2, __u32 m,
			 double *changed_pp)
{
	__u32 *t1 = malloc(sizeof(*t1) * m), *t2 = malloc(sizeof(*t2) * m), moved = 0;
	double s1 = 0, s2 = 0, delta = 0;

	for (int i = 0; i < n; i++) {
		s1 += (double)w1[i];
		s2 += (double)w2[i];
	}
	for (int i = 0; i < n; i++) {
		double d = (double)w2[i] / s2 - (double)w1[i] / s1;

		delta += d > 0 ? d : 0;
		b[i].weight = w1[i];
	}
	assert_int_equal(table_build(b, n, m, t1), 0);
	for (int i = 0; i < n; i++)
		b[i].weight = w2[i];
	assert_int_equal(table_build(b, n, m, t2), 0);
	for (__u32 s = 0; s < m; s++)
		moved += t1[s] != t2[s];
	free(t1);
	free(t2);
	*changed_pp = delta * 100;
	return 100.0 * moved / m;
}

static void test_disruption(void **state)
{
	struct {
		const char *what;
		int n;
		__u64 w1[10], w2[10];
	} cases[] = {
		{ "99:1 -> 98:2", 2, { 99, 1 }, { 98, 2 } },
		{ "99:1 -> 95:5", 2, { 99, 1 }, { 95, 5 } },
		{ "1:1 -> 3:1", 2, { 1, 1 }, { 3, 1 } },
		{ "1:1:1:1 -> 1:1:1:2", 4, { 1, 1, 1, 1 }, { 1, 1, 1, 2 } },
		{ "10 equal -> one drained", 10, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 } },
		{ "10 equal -> one doubled", 10, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 2 } },
	};
	static const __u32 sizes[] = { 16381, 65521 };
	struct table_backend b[10];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int si = 0; si < 2; si++) {
			double changed, moved;

			make_backends(b, cases[c].n);
			moved = disruption(b, cases[c].n, cases[c].w1, cases[c].w2, sizes[si],
					   &changed);
			print_message("# M=%u %-26s share changed %6.3f pp, slots moved %6.3f%%\n",
				      sizes[si], cases[c].what, changed, moved);
			assert_true(moved <= changed + 1.0);
		}
	}
}

/*
 * The exact table for a fixed set of backends, as every release since 2026-11-27 builds
 * it: nodes running different l4split versions must send a flow to the same backend, so
 * a faster builder has to give the same slots (FNV-1a of the table, recorded from the
 * heap-ordered builder that preceded the bucketed one).
 */
static void test_same_table_as_before(void **state)
{
	static __u32 t[65521];
	static const struct { __u32 m; unsigned long long fnv; } want[] = {
		{ 16381, 0x34d3085e8e5134deull }, { 65521, 0x6f469881276370f6ull },
	};
	struct table_backend be[40];

	(void)state;
	for (size_t c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
		unsigned long long h = 1469598103934665603ull;

		for (int i = 0; i < 40; i++) {
			memset(&be[i], 0, sizeof(be[i]));
			be[i].id = 1000 + (__u32)i;
			be[i].family = L4S_AF_INET;
			be[i].addr.addr[0] = htonl(0x0a050000u + (__u32)i + 1);
			be[i].port = 8080;
			be[i].weight = i % 7 == 0 ? 0 : (i % 10 == 0 ? 3000000ull : 1000000ull + (__u64)i);
		}
		assert_int_equal(table_build(be, 40, want[c].m, t), 0);
		for (__u32 i = 0; i < want[c].m; i++) {
			h ^= t[i];
			h *= 1099511628211ull;
		}
		assert_true(h == want[c].fnv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_shares),   cmocka_unit_test(test_one_in_9999),
		cmocka_unit_test(test_all_zero_is_empty), cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_disruption), cmocka_unit_test(test_same_table_as_before),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
