/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The cluster's rollout controller. A rollout is declared on a Service (annotation
 * l4split.io/rollout); the leading agent (agent_leading) drives every declared rollout:
 * writes each step's weights to l4split.io/weights, judges the step on the health of
 * the target track against the other tracks summed over every node (verdict.h's rule),
 * restores the starting weights when the target fails, and records everything it needs
 * to go on in l4split.io/rollout-status on the same Service, written in the same
 * optimistic-concurrency PUT as the weights. A leader that restarts, or the next leader,
 * reads the status and resumes the step where it was: a step is judged by one PUT that
 * appends it to the status' history, so no step is judged twice or skipped.
 *
 * Health comes from a Prometheus server (increase() over the step's window) or, without
 * one, from every agent's /metrics (counters differenced against the step's baseline
 * kept in the status; a counter that went down is a restarted agent: what it had counted
 * is kept and it counts again from 0).
 */
#ifndef L4S_ROLLOUT_CTL_H
#define L4S_ROLLOUT_CTL_H

#include <pthread.h>
#include <jansson.h>
#include <linux/types.h>
#include "l4split.h"

struct agent;
struct ev_recorder;

#define ANN_ROLLOUT        "l4split.io/rollout"
#define ANN_ROLLOUT_STATUS "l4split.io/rollout-status"
#define RO_TICK_MS         1000 /* how often the leader looks at every rollout */
#define RO_STATUS_EVERY_S  3.0  /* progress written at most this often (transitions at once) */

/*
 * l4split.io/rollout: "to=TRACK; steps=1,5,25,50,100; interval=30s;
 * max-failure-ratio=0.05; min-flows=100; answer-timeout=1s[; id=ID][; state=paused|aborted]"
 * Every key but to= may be left out (today's node rollout defaults). id names one run:
 * a changed value (other than state=) is a new rollout.
 */
struct ro_spec {
	char to[L4S_NAME_LEN];
	__u32 steps[L4S_ROLLOUT_MAX_STEPS]; /* ppm */
	int nsteps;
	__u64 interval_ms, answer_ms;
	__u32 max_failure_ppm;
	__u64 min_flows;
	char id[64];
	int paused, aborted;
};

/* Parse @value: 0, or -EINVAL with a message naming the key. Pure. */
int ro_spec_parse(const char *value, struct ro_spec *s);
/* The canonical text of the run (state= left out): what the status records as "spec". */
void ro_spec_key(const struct ro_spec *s, char *out, size_t len);

/*
 * The l4split.io/weights value of a step of @ppm from the starting value @start
 * ("old=1,new=0"): @to gets ppm/10^4, the other tracks share the rest in their starting
 * proportions. 0, or -EINVAL (with a message) when the other tracks have weight 0 and
 * the step is below 100%, or @start cannot be read. Pure.
 */
int ro_step_weights(const char *start, const char *to, __u32 ppm, char *out, size_t len);

/*
 * Per node and track counters [flows, answered, resets] as kept in the status: base (at
 * the step's start), last (last seen), acc (counted before the agent restarted). Fold
 * the current value @cur into them: a value below last is a restarted agent. The step's
 * count is acc + last - base. Pure.
 */
struct ro_ctr {
	__u64 base, last, acc;
};
void ro_ctr_fold(struct ro_ctr *c, __u64 cur);
__u64 ro_ctr_value(const struct ro_ctr *c);

/* The controller, run on its own thread by the agent command. */
struct rollout_ctl {
	struct agent *a;
	const char *prom_url; /* NULL: scrape the agents */
	const char *agent_ns, *agent_sel;
	int agent_port;
	/* Private. */
	pthread_t th;
	int started;
	pthread_mutex_t evmu;
	struct ev_recorder *ev;
	json_t *mem; /* "ns/name" -> what is not worth a write: lag samples, last write */
};

/* Start the thread: each RO_TICK_MS, while agent_leading(), drive every declared
 * rollout of the Services the agent's informer holds. 0 or -errno. */
int rollout_ctl_start(struct rollout_ctl *c);
/* After agent_stop: join the thread. */
void rollout_ctl_join(struct rollout_ctl *c);

#endif
