// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench-table: the lookup table build alone (user/table.c, no maps), for the two
 * weight-change rows of `make bench`: M = 16381 with 100 backends and M = 65521 with
 * 1,000, tracks 9:1. Median of 9 builds; prints one JSON object per case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "table.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	static const struct { __u32 m; int n; } cases[] = { { 16381, 100 }, { 65521, 1000 } };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		__u32 m = cases[c].m, *table = malloc(sizeof(*table) * m);
		int n = cases[c].n;
		struct table_backend *bes = calloc((size_t)n, sizeof(*bes));
		double t[9];
		long filled = 0;

		if (!table || !bes)
			return 1;
		for (int i = 0; i < n; i++) {
			bes[i].id = (__u32)i;
			bes[i].family = L4S_AF_INET;
			bes[i].addr.addr[0] = htobe32(0x0a030000u + (__u32)i + 1);
			bes[i].port = 80;
			bes[i].weight = i % 10 == 0 ? 1000000ull * 9 : 1000000ull; /* new 1 : old 9 */
		}
		for (int r = 0; r < 9; r++) {
			double t0 = now_ms();

			if (table_build(bes, n, m, table))
				return 1;
			t[r] = now_ms() - t0;
		}
		for (__u32 i = 0; i < m; i++)
			filled += table[i] != L4S_NO_BACKEND;
		qsort(t, 9, sizeof(t[0]), cmp_d);
		printf("{\"case\": \"table build alone, M=%u, %d backends\", \"ms\": %.3f, "
		       "\"slots_filled\": %ld}\n", m, n, t[4], filled);
		free(table);
		free(bes);
	}
	return 0;
}
