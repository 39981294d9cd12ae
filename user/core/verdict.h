/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The rollout's judgement of a step: the target track against the other tracks, from
 * their L4 health. One rule for a node's rollout (counters of one node) and for a
 * cluster's (the same counters summed over every node).
 */
#ifndef L4S_VERDICT_H
#define L4S_VERDICT_H

#include "sample.h"

/*
 * A group of backends (the target track, or the other tracks) during a step. A reset is
 * final when it is counted; an unanswered flow only once it had the answer timeout to
 * be answered, so that part is judged on the flows of a sample that old.
 */
struct group {
	struct health lag; /* flows and resets up to the lagged sample, answers up to now */
	__u64 flows;       /* up to now */
	__u64 resets;
};

struct verdict {
	struct group track, others;
};

/* Failure ratio (ppm) from the parts with at least @min_flows flows behind them. */
__u32 group_ratio(const struct group *g, __u64 min_flows);
/* Failed flows: unanswered or reset, whichever says more. */
__u64 group_failed(const struct group *g);
/* The target track fails: its ratio (over at least @min_flows flows) is above
 * @max_failure_ppm and above the other tracks' (so a fault of every version, such as
 * the clients' own, rolls nothing back). */
int verdict_failing(const struct verdict *v, __u32 max_failure_ppm, __u64 min_flows);
/* The target track's share of the step's new flows (ppm). */
__u32 verdict_share_ppm(const struct verdict *v);

#endif
