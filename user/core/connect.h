/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connect-time histogram (struct l4s_connect_hist, see l4split.h) read back: bucket
 * bounds, sums over backends, differences over a window, and quantiles the way
 * Prometheus' histogram_quantile() computes them, so a rollout and a PromQL query
 * over /metrics agree. Pure; no maps.
 */
#ifndef L4S_CONNECT_H
#define L4S_CONNECT_H

#include "l4split.h"

/* Upper bound of bucket @i in seconds (+Inf for the last). */
double connect_bound_s(int i);
/* Flows counted. */
__u64 connect_count(const struct l4s_connect_hist *h);
/* @acc += @h. */
void connect_add(struct l4s_connect_hist *acc, const struct l4s_connect_hist *h);
/* @now - @then, counter by counter (0 where a counter went back: a reused id). */
void connect_delta(struct l4s_connect_hist *out, const struct l4s_connect_hist *now,
		   const struct l4s_connect_hist *then);
/* The @q quantile (0 < q < 1) in seconds, interpolated linearly inside its bucket; in the
 * +Inf bucket, the last finite bound (as Prometheus). -1 when nothing was counted. */
double connect_quantile(const struct l4s_connect_hist *h, double q);

#endif
