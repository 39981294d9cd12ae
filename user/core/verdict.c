// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The rollout's judgement of a step (see verdict.h). */
#include "verdict.h"

__u32 group_ratio(const struct group *g, __u64 min_flows)
{
	__u32 r = 0;

	if (min_flows < 1)
		min_flows = 1;
	if (g->lag.flows >= min_flows)
		r = health_ratio_ppm(&g->lag);
	if (g->flows >= min_flows) {
		__u64 rr = (g->resets > g->flows ? g->flows : g->resets) * 1000000ull / g->flows;

		if (rr > r)
			r = (__u32)rr;
	}
	return r;
}

__u64 group_failed(const struct group *g)
{
	return g->lag.failed > g->resets ? g->lag.failed : g->resets;
}

int verdict_failing(const struct verdict *v, __u32 max_failure_ppm, __u64 min_flows)
{
	__u32 rt = group_ratio(&v->track, min_flows);

	return rt > max_failure_ppm && rt > group_ratio(&v->others, 1);
}

__u32 verdict_share_ppm(const struct verdict *v)
{
	__u64 all = v->track.flows + v->others.flows;

	return all ? (__u32)(v->track.flows * 1000000ull / all) : 0;
}
