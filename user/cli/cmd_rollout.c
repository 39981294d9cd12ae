// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split rollout: move a track's share of new flows through steps, judge the
 * track's L4 health from the datapath counters while each step runs, and
 * restore the starting weights by itself when the track fails.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "connect.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "sample.h"
#include "verdict.h"
#include "state.h"
#include "writer.h"

#define EXIT_ROLLED_BACK 3
#define TICK_MS 250

int help_rollout(void)
{
	printf("Usage: l4split rollout NAME --to TRACK [--steps P1,P2,...] [--interval DUR]\n"
	       "                       [--max-failure-ratio R] [--min-flows N]\n"
	       "                       [--answer-timeout DUR] [--rollback-on-abort]\n"
	       "                       [--max-connect-p99-ratio R]\n"
	       "       l4split rollout NAME --status\n");
	help_rollout_cluster(0);
	printf(	       "  Moves TRACK's share of new flows through the steps (percent; default\n"
	       "  1,5,25,50,100); the other tracks share the rest in their current proportions.\n"
	       "  Each step lasts --interval (default 30s) and passes once TRACK has had\n"
	       "  --min-flows new flows (default 100). A flow fails when its backend resets it or\n"
	       "  does not answer within --answer-timeout (default 1s). When TRACK's failure\n"
	       "  ratio is above --max-failure-ratio (default 0.05) and above the other tracks'\n"
	       "  ratio, the starting weights are restored at once and the exit code is 3.\n"
	       "  With --max-connect-p99-ratio R, so are they when TRACK's connect time p99 (first\n"
	       "  packet to the backend's first answer, this step) is above R times the other\n"
	       "  tracks' p99, once TRACK and the others each have --min-flows answered flows.\n"
	       "  Ctrl-C / SIGTERM leaves the weights of the last completed step (the starting\n"
	       "  weights with --rollback-on-abort). Exit: 0 done, 1 error, 2 usage, 3 rolled\n"
	       "  back, 128+signal interrupted.\n"
	       "  --status  the rollout in progress (or the last one) of NAME, from any shell\n");
	help_rollout_cluster(1);
	return 0;
}

struct rollout_opts {
	const char *svc;
	const char *track;
	__u32 steps[L4S_ROLLOUT_MAX_STEPS];
	int nsteps;
	__u64 interval_ms;
	__u64 answer_ms;
	__u32 max_failure_ppm;
	__u64 min_flows;
	int rollback_on_abort;
	int status;
	double max_p99_ratio; /* 0: connect time not judged */
};

/* Starting weights: restored on rollback, proportions kept for the other tracks. */
struct start_weights {
	char (*name)[L4S_NAME_LEN];
	__u64 *weight;
	int n;
	__u64 others; /* sum of the other tracks' weights */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static __u64 realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static void sleep_ms(__u64 ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL); /* a signal cuts it short: the loop checks stop_signal */
}

static void set_reason(struct l4s_rollout *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(struct l4s_rollout *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static double pct(__u64 ppm)
{
	return (double)ppm / 10000.0;
}

static const char *state_name(__u32 s)
{
	switch (s) {
	case L4S_RO_RUNNING:
		return "running";
	case L4S_RO_DONE:
		return "done";
	case L4S_RO_ROLLED_BACK:
		return "rolled-back";
	case L4S_RO_ABORTED:
		return "aborted";
	}
	return "unknown";
}

/* --max-connect-p99-ratio: a decimal number above 0 (1.5: 50% slower at most). */
static int parse_p99_ratio(const char *s, double *r)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v <= 0 || v > 1e6 ||
	    strspn(s, "0123456789.") != strlen(s))
		return l4s_err(EINVAL, "max connect p99 ratio \"%s\" is wrong: expected a number "
			       "above 0 (2: TRACK's p99 at most twice the other tracks')", s);
	*r = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct rollout_opts *o)
{
	__u64 mf;

	memset(o, 0, sizeof(*o));
	o->interval_ms = 30000;
	o->answer_ms = 1000;
	o->max_failure_ppm = 50000;
	o->min_flows = 100;
	parse_steps("1,5,25,50,100", o->steps, L4S_ROLLOUT_MAX_STEPS, &o->nsteps);
	if (argc < 1)
		return usage_error("rollout needs a service NAME");
	o->svc = argv[0];
	if (parse_name("service", o->svc))
		return cmd_fail(EXIT_USAGE);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int err = 0;

		if (!strcmp(a, "--status")) {
			o->status = 1;
			continue;
		}
		if (!strcmp(a, "--rollback-on-abort")) {
			o->rollback_on_abort = 1;
			continue;
		}
		if (strcmp(a, "--to") && strcmp(a, "--steps") && strcmp(a, "--interval") &&
		    strcmp(a, "--max-failure-ratio") && strcmp(a, "--min-flows") &&
		    strcmp(a, "--answer-timeout") && strcmp(a, "--max-connect-p99-ratio"))
			return usage_error("unknown rollout option \"%s\"", a);
		if (!v)
			return usage_error("%s needs a value", a);
		i++;
		if (!strcmp(a, "--to")) {
			o->track = v;
			err = parse_name("track", v);
		} else if (!strcmp(a, "--steps"))
			err = parse_steps(v, o->steps, L4S_ROLLOUT_MAX_STEPS, &o->nsteps);
		else if (!strcmp(a, "--interval"))
			err = parse_duration_ms("interval", v, &o->interval_ms);
		else if (!strcmp(a, "--answer-timeout"))
			err = parse_duration_ms("answer timeout", v, &o->answer_ms);
		else if (!strcmp(a, "--max-failure-ratio"))
			err = parse_ratio_ppm("max failure ratio", v, &o->max_failure_ppm);
		else if (!strcmp(a, "--max-connect-p99-ratio"))
			err = parse_p99_ratio(v, &o->max_p99_ratio);
		else {
			err = parse_u64("min flows", v, 0, 1000000000, &mf);
			o->min_flows = mf;
		}
		if (err)
			return cmd_fail(EXIT_USAGE);
	}
	if (o->status) {
		if (argc != 2)
			return usage_error("--status goes alone: l4split rollout NAME --status");
		return 0;
	}
	if (!o->track)
		return usage_error("rollout needs --to TRACK: the track whose share grows");
	return 0;
}

/* ---- --status ---------------------------------------------------------------- */

static int pid_alive(__u32 pid)
{
	return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static json_t *rollout_json(const struct l4s_rollout *r)
{
	json_t *j = json_object(), *steps = json_array();
	int stale = r->state == L4S_RO_RUNNING && !pid_alive(r->pid);

	for (__u32 i = 0; i < r->nsteps && i < L4S_ROLLOUT_MAX_STEPS; i++)
		json_array_append_new(steps, json_real(pct(r->steps[i])));
	json_object_set_new(j, "track", json_string(r->track));
	json_object_set_new(j, "state", json_string(stale ? "stale" : state_name(r->state)));
	json_object_set_new(j, "pid", json_integer(r->pid));
	json_object_set_new(j, "step", json_integer(r->step + 1));
	json_object_set_new(j, "of", json_integer(r->nsteps));
	json_object_set_new(j, "steps", steps);
	json_object_set_new(j, "weight_percent",
			    json_real(r->step < r->nsteps ? pct(r->steps[r->step]) : 0));
	json_object_set_new(j, "interval_ms", json_integer((json_int_t)r->interval_ms));
	json_object_set_new(j, "max_failure_ratio", json_real(r->max_failure_ppm / 1e6));
	json_object_set_new(j, "min_flows", json_integer(r->min_flows));
	json_object_set_new(j, "started_at_ms", json_integer((json_int_t)r->started_at));
	json_object_set_new(j, "step_started_at_ms", json_integer((json_int_t)r->step_started_at));
	json_object_set_new(j, "updated_at_ms", json_integer((json_int_t)r->updated_at));
	json_object_set_new(j, "observed_share_percent", json_real(pct(r->share_ppm)));
	json_object_set_new(j, "flows", json_integer((json_int_t)r->flows));
	json_object_set_new(j, "other_flows", json_integer((json_int_t)r->others_flows));
	json_object_set_new(j, "failure_ratio", json_real(r->failure_ppm / 1e6));
	json_object_set_new(j, "other_failure_ratio", json_real(r->others_failure_ppm / 1e6));
	json_object_set_new(j, "reason", json_string(r->reason));
	return j;
}

static int rollout_status(struct l4s_state *st, __u32 sid, const char *svc)
{
	struct l4s_rollout r;
	json_t *j;

	if (state_rollout_get(st, sid, &r)) {
		if (l4s_json) {
			json_t *doc = json_object();

			json_object_set_new(doc, "service", json_string(svc));
			json_object_set_new(doc, "rollout", json_null());
			json_print(doc);
		} else
			printf("no rollout of %s on record\n", svc);
		return 0;
	}
	j = rollout_json(&r);
	if (l4s_json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "service", json_string(svc));
		json_object_set_new(doc, "rollout", j);
		json_print(doc);
		return 0;
	}
	printf("rollout of %s to track %s: %s", svc, r.track,
	       json_string_value(json_object_get(j, "state")));
	if (r.state == L4S_RO_RUNNING)
		printf(" (pid %u)", r.pid);
	printf(", step %u of %u (%g%%)\n", r.step + 1, r.nsteps,
	       r.step < r.nsteps ? pct(r.steps[r.step]) : 0.0);
	printf("  steps");
	for (__u32 i = 0; i < r.nsteps && i < L4S_ROLLOUT_MAX_STEPS; i++)
		printf("%s%g", i ? "," : " ", pct(r.steps[i]));
	printf(" every %gs; rolls back above %g%% failed flows (judged from %u flows)\n",
	       r.interval_ms / 1000.0, pct(r.max_failure_ppm), r.min_flows);
	printf("  this step: %s got %.2f%% of new flows (%llu); failed %.2f%%, other tracks "
	       "%.2f%% of %llu\n",
	       r.track, pct(r.share_ppm), (unsigned long long)r.flows, pct(r.failure_ppm),
	       pct(r.others_failure_ppm), (unsigned long long)r.others_flows);
	if (r.reason[0])
		printf("  %s\n", r.reason);
	json_decref(j);
	return 0;
}

/* ---- weights ------------------------------------------------------------------ */

static int start_weights_read(const struct model *m, const char *track, struct start_weights *sw)
{
	sw->name = calloc((size_t)(m->ntr ? m->ntr : 1), sizeof(*sw->name));
	sw->weight = calloc((size_t)(m->ntr ? m->ntr : 1), sizeof(*sw->weight));
	if (!sw->name || !sw->weight)
		return l4s_err(ENOMEM, "out of memory");
	for (int t = 0; t < m->ntr; t++) {
		memcpy(sw->name[t], m->tr[t].name, L4S_NAME_LEN);
		sw->weight[t] = m->tr[t].weight;
		if (strcmp(m->tr[t].name, track))
			sw->others += m->tr[t].weight;
	}
	sw->n = m->ntr;
	return 0;
}

static void start_weights_free(struct start_weights *sw)
{
	free(sw->name);
	free(sw->weight);
}

/* Weight of track @t at a step of @ppm: TRACK gets ppm, the others the rest pro rata. */
static __u64 step_weight(const struct start_weights *sw, int t, const char *track, __u32 ppm)
{
	const unsigned __int128 total = 100 * (unsigned __int128)L4S_WEIGHT_ONE;
	unsigned __int128 mine = total * ppm / 1000000;

	if (!strcmp(sw->name[t], track))
		return (__u64)mine;
	if (!sw->others)
		return 0;
	return (__u64)((total - mine) * sw->weight[t] / sw->others);
}

/*
 * Is the rollout record at @sid still the one this run wrote (same pid and start)? A
 * deleted service takes its record with it; a service made again under the same name
 * (even at the same id) is another service, which this run must not drive.
 * Before the run's first record, nothing is there to compare: yes.
 */
static int rollout_ours(struct l4s_state *st, __u32 sid, const struct l4s_rollout *r)
{
	struct l4s_rollout cur;

	if (!r->updated_at)
		return 1;
	if (state_rollout_get(st, sid, &cur))
		return 0;
	return cur.pid == r->pid && cur.started_at == r->started_at;
}

/*
 * Write the weights of a step (ppm) or, with @restore, the starting weights, in
 * one locked transaction through the writer. Tracks that appeared since the start
 * are left alone.
 */
static int apply_weights(const char *pin_dir, __u32 sid, const struct l4s_rollout *r,
			 const struct start_weights *sw, const char *track, __u32 ppm, int restore)
{
	struct write_opts wo = { .how = WRITE_UPDATE };
	struct write_result res;
	struct svc_spec s = {};
	struct l4s_state st;
	int err;

	err = state_open(&st, pin_dir, STATE_LOCK);
	if (err)
		return err;
	if (!rollout_ours(&st, sid, r)) {
		l4s_err(ESTALE, "the service was deleted or made again since the rollout started");
		err = -ESTALE;
	} else {
		err = service_spec(&st, sid, &s);
	}
	if (!err) {
		for (int t = 0; t < sw->n; t++) {
			struct spec_track *mt = spec_track(&s, sw->name[t]);

			if (mt)
				mt->weight = restore ? sw->weight[t] : step_weight(sw, t, track, ppm);
		}
		err = service_apply(&st, &s, &wo, &res);
	}
	spec_free(&s);
	state_close(&st);
	return err;
}

static void weights_text(char *buf, size_t len, const struct start_weights *sw, const char *track,
			 __u32 ppm, int restore)
{
	size_t off = 0;

	buf[0] = 0;
	for (int t = 0; t < sw->n && off < len; t++) {
		char w[32];

		fmt_weight(w, restore ? sw->weight[t] : step_weight(sw, t, track, ppm));
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", t ? " " : "", sw->name[t], w);
	}
}

/* ---- judging ------------------------------------------------------------------ */

static void judge(const struct model *m, const char *track, const struct sample *s0,
		  const struct sample *lagged, const struct sample *now, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	for (int i = 0; i < m->nbe; i++) {
		const struct model_backend *b = &m->be[i];
		struct l4s_backend_stats dl, dn;
		struct group *g = strcmp(b->be.track, track) ? &v->others : &v->track;

		sample_delta(s0, lagged, b->id, b->be.gen, &dl);
		sample_delta(s0, now, b->id, b->be.gen, &dn);
		g->lag.flows += dl.flows;
		g->lag.resets += dl.resets;
		g->lag.syn_retries += dl.syn_retries;
		g->lag.answered += dn.answered;
		g->flows += dn.flows;
		g->resets += dn.resets;
	}
	health_finish(&v->track.lag);
	health_finish(&v->others.lag);
}

static int failing(const struct verdict *v, const struct rollout_opts *o)
{
	return verdict_failing(v, o->max_failure_ppm, o->min_flows);
}

static void record(struct l4s_state *st, __u32 sid, struct l4s_rollout *r, const struct verdict *v)
{
	if (v) {
		r->share_ppm = verdict_share_ppm(v);
		r->flows = v->track.flows;
		r->others_flows = v->others.flows;
		r->failure_ppm = group_ratio(&v->track, 1);
		r->others_failure_ppm = group_ratio(&v->others, 1);
	}
	if (!rollout_ours(st, sid, r))
		return; /* its service is gone: the run stops at its next check */
	r->updated_at = realtime_ms();
	state_rollout_put(st, sid, r);
}

/* The connect-time histograms of one step: TRACK's and the other tracks' (node path). */
struct connect_window {
	struct l4s_connect_hist track, others;
	double p99_track, p99_others; /* seconds, -1 when not judged */
};

static void emit(const char *event, const struct l4s_rollout *r, const struct verdict *v,
		 const char *weights, const struct connect_window *p99);

static void emit(const char *event, const struct l4s_rollout *r, const struct verdict *v,
		 const char *weights, const struct connect_window *p99)
{
	json_t *j = json_object();

	json_object_set_new(j, "event", json_string(event));
	json_object_set_new(j, "step", json_integer(r->step + 1));
	json_object_set_new(j, "of", json_integer(r->nsteps));
	json_object_set_new(j, "track", json_string(r->track));
	json_object_set_new(j, "weight_percent", json_real(pct(r->steps[r->step])));
	if (v) {
		json_object_set_new(j, "observed_share_percent", json_real(pct(verdict_share_ppm(v))));
		json_object_set_new(j, "flows", json_integer((json_int_t)v->track.flows));
		json_object_set_new(j, "answered", json_integer((json_int_t)v->track.lag.answered));
		json_object_set_new(j, "resets", json_integer((json_int_t)v->track.resets));
		json_object_set_new(j, "unanswered",
				    json_integer((json_int_t)(v->track.lag.flows > v->track.lag.answered ?
								      v->track.lag.flows -
									      v->track.lag.answered :
								      0)));
		json_object_set_new(j, "failed", json_integer((json_int_t)group_failed(&v->track)));
		json_object_set_new(j, "failure_ratio", json_real(group_ratio(&v->track, 1) / 1e6));
		json_object_set_new(j, "other_flows", json_integer((json_int_t)v->others.flows));
		json_object_set_new(j, "other_failure_ratio",
				    json_real(group_ratio(&v->others, 1) / 1e6));
	}
	if (p99 && p99->p99_track >= 0)
		json_object_set_new(j, "connect_p99_seconds", json_real(p99->p99_track));
	if (p99 && p99->p99_others >= 0)
		json_object_set_new(j, "other_connect_p99_seconds", json_real(p99->p99_others));
	json_object_set_new(j, "elapsed_ms",
			    json_integer((json_int_t)(realtime_ms() - r->started_at)));
	if (weights)
		json_object_set_new(j, "weights", json_string(weights));
	if (r->reason[0] && strcmp(event, "step"))
		json_object_set_new(j, "reason", json_string(r->reason));
	json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(j);
}

/* ---- the rollout ---------------------------------------------------------------- */

static int check_start(struct l4s_state *st, __u32 sid, const struct model *m,
		       const struct rollout_opts *o, const struct start_weights *sw)
{
	struct l4s_rollout prev;
	int has_backend = 0;

	if (!model_track((struct model *)m, o->track)) {
		l4s_err(ENOENT, "service \"%s\" has no track \"%s\"", o->svc, o->track);
		l4s_hint("add its backends first: 'l4split backend add %s ADDR:PORT --track %s' "
			 "(new tracks start at weight 0)", o->svc, o->track);
		return -ENOENT;
	}
	for (int i = 0; i < m->nbe; i++)
		if (!strcmp(m->be[i].be.track, o->track) && m->be[i].weight)
			has_backend = 1;
	if (!has_backend) {
		l4s_err(ENOENT, "track \"%s\" of \"%s\" has no backend with weight > 0", o->track,
			o->svc);
		l4s_hint("'l4split status %s' lists its backends", o->svc);
		return -ENOENT;
	}
	if (!sw->others && o->steps[0] < 1000000) {
		l4s_err(EINVAL, "the tracks of \"%s\" other than \"%s\" have weight 0: there is "
			"nothing to take the rest of the traffic", o->svc, o->track);
		l4s_hint("set their weights first ('l4split weight %s TRACK=W'), or roll out to "
			 "100 directly (--steps 100)", o->svc);
		return -EINVAL;
	}
	if (!state_rollout_get(st, sid, &prev) && prev.state == L4S_RO_RUNNING &&
	    pid_alive(prev.pid) && prev.pid != (__u32)getpid()) {
		l4s_err(EBUSY, "a rollout of \"%s\" to \"%s\" is in progress (pid %u, step %u of %u)",
			o->svc, prev.track, prev.pid, prev.step + 1, prev.nsteps);
		l4s_hint("follow it with 'l4split rollout %s --status', or stop it with 'kill %u'",
			 o->svc, prev.pid);
		return -EBUSY;
	}
	return 0;
}

static void progress(const struct l4s_rollout *r, const struct verdict *v, __u64 left_ms,
		     int waiting)
{
	printf("\r\033[Kstep %u/%u  %s %g%%  share %.1f%%  flows %llu  failed %.1f%% (others "
	       "%.1f%%)  %s",
	       r->step + 1, r->nsteps, r->track, pct(r->steps[r->step]), pct(verdict_share_ppm(v)),
	       (unsigned long long)v->track.flows, pct(group_ratio(&v->track, 1)),
	       pct(group_ratio(&v->others, 1)), waiting ? "waiting for flows" : "");
	if (!waiting)
		printf("%llus left", (unsigned long long)((left_ms + 999) / 1000));
	fflush(stdout);
}

struct conn_base {
	__u32 id, gen;
	struct l4s_connect_hist h;
};

/* The histograms of every backend of @m now (@base: NULL on error or without the map). */
static struct conn_base *connect_take(struct l4s_state *st, const struct model *m)
{
	struct conn_base *b = calloc((size_t)m->nbe + 1, sizeof(*b));

	for (int i = 0; b && i < m->nbe; i++) {
		b[i].id = m->be[i].id;
		b[i].gen = m->be[i].be.gen;
		if (state_connect_hist(st, b[i].id, &b[i].h)) {
			free(b);
			return NULL;
		}
	}
	return b;
}

/* What the step counted so far: now minus @base (of @nbase backends), by track. */
static void connect_judge(struct l4s_state *st, const struct model *m, const char *track,
			  const struct conn_base *base, int nbase, struct connect_window *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < m->nbe; i++) {
		struct l4s_connect_hist now, then = {}, d;

		if (state_connect_hist(st, m->be[i].id, &now))
			continue;
		for (int k = 0; k < nbase; k++)
			if (base[k].id == m->be[i].id && base[k].gen == m->be[i].be.gen)
				then = base[k].h;
		connect_delta(&d, &now, &then);
		connect_add(strcmp(m->be[i].be.track, track) ? &w->others : &w->track, &d);
	}
	w->p99_track = connect_quantile(&w->track, 0.99);
	w->p99_others = connect_quantile(&w->others, 0.99);
}

/* TRACK's connect p99 above R times the others', both with enough answered flows. */
static int connect_failing(const struct connect_window *w, const struct rollout_opts *o)
{
	if (o->max_p99_ratio <= 0 || connect_count(&w->track) < o->min_flows ||
	    connect_count(&w->others) < (o->min_flows ? o->min_flows : 1) || w->p99_others <= 0)
		return 0;
	return w->p99_track > o->max_p99_ratio * w->p99_others;
}

struct run {
#define CW(rn) ((rn)->o->max_p99_ratio > 0 ? &(rn)->cw : NULL)
	const struct rollout_opts *o;
	const char *pin_dir;
	struct l4s_state *st;
	__u32 sid;
	struct start_weights sw;
	struct l4s_rollout r;
	int tty;
	struct connect_window cw; /* the step's connect times (with --max-connect-p99-ratio) */
	int slow;                 /* the step failed on connect time */
};

/* Run one step: 0 passed, EXIT_ROLLED_BACK failed, -signal interrupted, <0 error. */
static int run_step(struct run *rn, struct verdict *v)
{
	const struct rollout_opts *o = rn->o;
	struct sample s0 = {}, *ring = NULL;
	int nring = 0, cap = 0, rc = 0;
	__u64 t0 = sample_clock_ms(), last_print = 0, nwait = 0;
	struct model m = {};
	struct conn_base *cbase = NULL;
	int ncbase = 0;

	memset(v, 0, sizeof(*v));
	rn->slow = 0;
	rn->cw.p99_track = rn->cw.p99_others = -1;
	if (model_load(rn->st, rn->sid, &m) || sample_take(rn->st, &m, &s0)) {
		model_free(&m);
		return -EIO;
	}
	if (o->max_p99_ratio > 0) {
		cbase = connect_take(rn->st, &m);
		ncbase = cbase ? m.nbe : 0;
	}
	for (;;) {
		struct sample now = {};
		const struct sample *lagged = &s0;
		__u64 t;
		int waiting;

		sleep_ms(TICK_MS);
		if (stop_signal) {
			rc = -stop_signal;
			break;
		}
		model_free(&m);
		memset(&m, 0, sizeof(m));
		state_forget(rn->st); /* see backends other commands add meanwhile */
		if (!rollout_ours(rn->st, rn->sid, &rn->r)) {
			rc = -ESTALE;
			break;
		}
		if (model_load(rn->st, rn->sid, &m) || sample_take(rn->st, &m, &now)) {
			rc = -EIO;
			break;
		}
		t = now.at_ms;
		if (nring == cap) {
			struct sample *nr = realloc(ring, (size_t)(cap ? cap * 2 : 16) * sizeof(*ring));

			if (!nr) {
				sample_free(&now);
				rc = -ENOMEM;
				break;
			}
			ring = nr;
			cap = cap ? cap * 2 : 16;
		}
		ring[nring++] = now;
		/* Keep the newest sample that is at least answer-timeout old, and later ones. */
		while (nring >= 2 && ring[1].at_ms + o->answer_ms <= t) {
			sample_free(&ring[0]);
			memmove(ring, ring + 1, (size_t)(nring - 1) * sizeof(*ring));
			nring--;
		}
		if (ring[0].at_ms + o->answer_ms <= t)
			lagged = &ring[0];
		judge(&m, o->track, &s0, lagged, &ring[nring - 1], v);
		record(rn->st, rn->sid, &rn->r, v);
		if (failing(v, o)) {
			rc = EXIT_ROLLED_BACK;
			break;
		}
		if (o->max_p99_ratio > 0) {
			connect_judge(rn->st, &m, o->track, cbase, ncbase, &rn->cw);
			if (connect_failing(&rn->cw, o)) {
				rn->slow = 1;
				rc = EXIT_ROLLED_BACK;
				break;
			}
		}
		waiting = v->track.lag.flows < o->min_flows;
		if (t - t0 >= o->interval_ms && !waiting)
			break;
		/* Too few flows to judge: say so once per interval, and keep waiting. */
		if (waiting && t - t0 >= o->interval_ms * (nwait + 1)) {
			nwait++;
			if (l4s_json)
				emit("waiting", &rn->r, v, NULL, CW(rn));
			else if (!rn->tty)
				printf("  %s has had %llu of the %llu new flows a step needs; waiting\n",
				       o->track, (unsigned long long)v->track.lag.flows,
				       (unsigned long long)o->min_flows);
			fflush(stdout);
		}
		if (rn->tty && t - last_print >= 1000) {
			progress(&rn->r, v, t - t0 < o->interval_ms ? o->interval_ms - (t - t0) : 0,
				 t - t0 >= o->interval_ms && waiting);
			last_print = t;
		}
	}
	if (rn->tty)
		printf("\r\033[K");
	for (int i = 0; i < nring; i++)
		sample_free(&ring[i]);
	free(ring);
	free(cbase);
	sample_free(&s0);
	model_free(&m);
	return rc;
}

static int finish(struct run *rn, __u32 state, const char *event, const struct verdict *v,
		  int restore, __u32 ppm)
{
	char weights[512];
	int err;

	weights_text(weights, sizeof(weights), &rn->sw, rn->o->track, ppm, restore);
	err = apply_weights(rn->pin_dir, rn->sid, &rn->r, &rn->sw, rn->o->track, ppm, restore);
	rn->r.state = state;
	if (err) {
		char why[96], was[sizeof(rn->r.reason)];

		snprintf(why, sizeof(why), "%s", l4s_errmsg());
		memcpy(was, rn->r.reason, sizeof(was));
		set_reason(&rn->r, "%s; the weights could not be written: %s", was, why);
		rn->r.state = L4S_RO_ABORTED;
	}
	record(rn->st, rn->sid, &rn->r, NULL);
	if (l4s_json)
		emit(event, &rn->r, v, weights, CW(rn));
	else
		printf("%s\n  weights now: %s\n", rn->r.reason, err ? "unchanged" : weights);
	return err;
}

static int rollout_run(struct run *rn)
{
	const struct rollout_opts *o = rn->o;
	int last_done = -1;
	struct verdict v = {};
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	memset(&rn->r, 0, sizeof(rn->r));
	snprintf(rn->r.track, sizeof(rn->r.track), "%s", o->track);
	rn->r.pid = (__u32)getpid();
	rn->r.state = L4S_RO_RUNNING;
	rn->r.nsteps = (__u32)o->nsteps;
	memcpy(rn->r.steps, o->steps, sizeof(o->steps));
	rn->r.started_at = realtime_ms();
	rn->r.interval_ms = o->interval_ms;
	rn->r.max_failure_ppm = o->max_failure_ppm;
	rn->r.min_flows = (__u32)o->min_flows;

	for (int i = 0; i < o->nsteps; i++) {
		char weights[512];
		int rc;

		rn->r.step = (__u32)i;
		rn->r.step_started_at = realtime_ms();
		weights_text(weights, sizeof(weights), &rn->sw, o->track, o->steps[i], 0);
		if (apply_weights(rn->pin_dir, rn->sid, &rn->r, &rn->sw, o->track, o->steps[i], 0)) {
			char why[96];

			snprintf(why, sizeof(why), "%s", l4s_errmsg());
			rn->r.state = L4S_RO_ABORTED;
			set_reason(&rn->r, "step %d: cannot write weights: "
				 "%.60s", i + 1, why);
			record(rn->st, rn->sid, &rn->r, NULL);
			l4s_err(EIO, "%s", rn->r.reason);
			l4s_hint("the weights are those of the last completed step");
			return cmd_fail(1);
		}
		record(rn->st, rn->sid, &rn->r, NULL);
		if (!l4s_json && !rn->tty)
			printf("step %d/%d: %s %g%% (%s)\n", i + 1, o->nsteps, o->track,
			       pct(o->steps[i]), weights);
		fflush(stdout);
		rc = run_step(rn, &v);
		if (rc == EXIT_ROLLED_BACK && rn->slow) {
			set_reason(&rn->r, "rolled back at step %d (%g%%): %s connect p99 %.3f ms, "
				   "%.1fx the other tracks' %.3f ms, above %gx",
				   i + 1, pct(o->steps[i]), o->track, rn->cw.p99_track * 1e3,
				   rn->cw.p99_track / rn->cw.p99_others, rn->cw.p99_others * 1e3,
				   o->max_p99_ratio);
			finish(rn, L4S_RO_ROLLED_BACK, "rollback", &v, 1, 0);
			return EXIT_ROLLED_BACK;
		}
		if (rc == EXIT_ROLLED_BACK) {
			set_reason(&rn->r, "rolled back at step %d (%g%%): %s failed %.1f%% of %llu flows "
				 "(other tracks %.1f%%), above %g%%",
				 i + 1, pct(o->steps[i]), o->track, pct(group_ratio(&v.track, 1)),
				 (unsigned long long)v.track.flows, pct(group_ratio(&v.others, 1)),
				 pct(o->max_failure_ppm));
			finish(rn, L4S_RO_ROLLED_BACK, "rollback", &v, 1, 0);
			return EXIT_ROLLED_BACK;
		}
		if (rc < 0 && rc > -65 && stop_signal) {
			int sig = -rc, restore = o->rollback_on_abort || last_done < 0;

			set_reason(&rn->r, "interrupted (%s) during step %d: %s", strsignal(sig), i + 1,
				 restore ? (o->rollback_on_abort ? "starting weights restored" :
								   "no step completed, starting weights restored") :
					   "weights of the last completed step kept");
			if (restore)
				finish(rn, L4S_RO_ABORTED, "aborted", &v, 1, 0);
			else
				finish(rn, L4S_RO_ABORTED, "aborted", &v, 0, o->steps[last_done]);
			return 128 + sig;
		}
		if (rc < 0) {
			rn->r.state = L4S_RO_ABORTED;
			if (rc == -ESTALE)
				set_reason(&rn->r, "step %d: service %s was deleted or made again "
					   "since the rollout started: stopped", i + 1, o->svc);
			else
				set_reason(&rn->r, "step %d: cannot read the "
					   "service's counters (was it deleted?)", i + 1);
			record(rn->st, rn->sid, &rn->r, NULL);
			l4s_err(EIO, "%s", rn->r.reason);
			return cmd_fail(1);
		}
		last_done = i;
		if (l4s_json)
			emit("step", &rn->r, &v, weights, CW(rn));
		else
			printf("step %d/%d passed: %s %g%%, observed share %.2f%% of %llu new flows, "
			       "failed %.2f%% (other tracks %.2f%%)\n",
			       i + 1, o->nsteps, o->track, pct(o->steps[i]), pct(verdict_share_ppm(&v)),
			       (unsigned long long)(v.track.flows + v.others.flows),
			       pct(group_ratio(&v.track, 1)), pct(group_ratio(&v.others, 1)));
		if (!l4s_json && o->max_p99_ratio > 0 && rn->cw.p99_track >= 0)
			printf("  connect p99 %.3f ms (other tracks %.3f ms)\n", rn->cw.p99_track * 1e3,
			       rn->cw.p99_others * 1e3);
		fflush(stdout);
	}
	rn->r.state = L4S_RO_DONE;
	set_reason(&rn->r, "done: %s at %g%% after %d steps", o->track,
		 pct(o->steps[o->nsteps - 1]), o->nsteps);
	record(rn->st, rn->sid, &rn->r, NULL);
	if (l4s_json)
		emit("done", &rn->r, NULL, NULL, NULL);
	else
		printf("%s\n", rn->r.reason);
	return 0;
}

int do_rollout(int argc, char **argv)
{
	struct rollout_opts o;
	struct l4s_state st;
	struct model m = {};
	struct run rn = {};
	__u32 sid;
	int rc;

	if (argc >= 1 && is_help(argv[0]))
		return help_rollout();
	if (argc >= 1 && cluster_mode(argc, argv))
		return do_rollout_cluster(argc, argv);
	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
	rn.pin_dir = state_pin_dir(opt_pin_dir);
	if (state_open(&st, rn.pin_dir, 0))
		return cmd_fail(1);
	if (state_require(&st, STATE_HAS_ROLLOUTS)) {
		state_close(&st);
		return cmd_fail(1);
	}
	if (svc_find(&st, o.svc, &sid)) {
		state_close(&st);
		return cmd_fail(1);
	}
	if (o.status) {
		rc = rollout_status(&st, sid, o.svc);
		state_close(&st);
		return rc;
	}
	rn.o = &o;
	rn.st = &st;
	rn.sid = sid;
	rn.tty = !l4s_json && isatty(STDOUT_FILENO);
	if (model_load(&st, sid, &m) || start_weights_read(&m, o.track, &rn.sw) ||
	    check_start(&st, sid, &m, &o, &rn.sw)) {
		model_free(&m);
		start_weights_free(&rn.sw);
		state_close(&st);
		return cmd_fail(1);
	}
	model_free(&m);
	rc = rollout_run(&rn);
	start_weights_free(&rn.sw);
	state_close(&st);
	return rc;
}
