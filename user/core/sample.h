/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Samples of a service's per-backend counters, and the L4 health judged from
 * the difference of two samples: what `stats --watch` shows and what `rollout`
 * decides on.
 */
#ifndef L4S_SAMPLE_H
#define L4S_SAMPLE_H

#include "model.h"

struct sample_be {
	__u32 id;
	__u32 gen;
	struct l4s_backend_stats c;
};

struct sample {
	__u64 at_ms;  /* CLOCK_MONOTONIC */
	struct sample_be *be;
	int nbe;
};

/* The clock of at_ms (CLOCK_MONOTONIC, milliseconds). */
__u64 sample_clock_ms(void);
/* Counters of every backend of @m, now: the node path's, plus the socket path's TCP
 * connects as flows and their completed handshakes as answers. */
int sample_take(struct l4s_state *st, const struct model *m, struct sample *s);
void sample_free(struct sample *s);

/* Counters of backend @id (same generation) in @s, or NULL. */
const struct l4s_backend_stats *sample_find(const struct sample *s, __u32 id, __u32 gen);
/* @to - @from for one backend; a backend absent from @from counts from zero. */
void sample_delta(const struct sample *from, const struct sample *to, __u32 id, __u32 gen,
		  struct l4s_backend_stats *d);

/*
 * L4 health of a group of flows. A flow fails when the backend resets it or
 * never answers it (no SYN-ACK, no UDP reply); "answered" is counted when the
 * first reply passes, so flows still waiting for their first answer are judged
 * from a sample taken @lag later (see health_judge).
 */
struct health {
	__u64 flows;    /* new flows in the window */
	__u64 answered; /* answers seen up to the later sample */
	__u64 resets;
	__u64 syn_retries;
	__u64 failed;
};

/* failed = max(flows - answered, resets), at most flows. */
void health_finish(struct health *h);
/* Failure ratio in parts per million (0 without flows). */
__u32 health_ratio_ppm(const struct health *h);

#endif
