// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The cluster's rollout controller (see rollout_ctl.h). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent.h"
#include "cluster.h"
#include "err.h"
#include "events.h"
#include "parse.h"
#include "prom.h"
#include "rollout_ctl.h"
#include "sample.h"
#include "verdict.h"

/* ---- pure parts -------------------------------------------------------------------- */

int ro_spec_parse(const char *value, struct ro_spec *s)
{
	const char *p = value;
	__u64 v;

	memset(s, 0, sizeof(*s));
	s->interval_ms = 30000;
	s->answer_ms = 1000;
	s->max_failure_ppm = 50000;
	s->min_flows = 100;
	parse_steps("1,5,25,50,100", s->steps, L4S_ROLLOUT_MAX_STEPS, &s->nsteps);
	while (p && *p) {
		size_t l = strcspn(p, ";");
		char item[256], *k = item, *val, *e;
		int err = 0;

		snprintf(item, sizeof(item), "%.*s", (int)(l < 255 ? l : 255), p);
		p += l;
		if (*p == ';')
			p++;
		while (*k == ' ' || *k == '\n' || *k == '\t')
			k++;
		for (e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t');)
			*--e = 0;
		if (!*k)
			continue;
		val = strchr(k, '=');
		if (!val)
			return l4s_err(EINVAL, ANN_ROLLOUT " \"%s\": \"%s\" is not KEY=VALUE", value, k);
		*val++ = 0;
		for (e = val + strlen(val); e > val && e[-1] == ' ';)
			*--e = 0;
		while (*val == ' ')
			val++;
		for (e = k + strlen(k); e > k && e[-1] == ' ';)
			*--e = 0;
		if (!strcmp(k, "to")) {
			err = parse_name("track", val);
			snprintf(s->to, sizeof(s->to), "%s", val);
		} else if (!strcmp(k, "steps"))
			err = parse_steps(val, s->steps, L4S_ROLLOUT_MAX_STEPS, &s->nsteps);
		else if (!strcmp(k, "interval"))
			err = parse_duration_ms("interval", val, &s->interval_ms);
		else if (!strcmp(k, "answer-timeout"))
			err = parse_duration_ms("answer timeout", val, &s->answer_ms);
		else if (!strcmp(k, "max-failure-ratio"))
			err = parse_ratio_ppm("max failure ratio", val, &s->max_failure_ppm);
		else if (!strcmp(k, "min-flows")) {
			err = parse_u64("min flows", val, 0, 1000000000, &v);
			s->min_flows = v;
		} else if (!strcmp(k, "id")) {
			if (strlen(val) >= sizeof(s->id))
				err = l4s_err(EINVAL, "id \"%s\" is too long", val);
			snprintf(s->id, sizeof(s->id), "%s", val);
		} else if (!strcmp(k, "state")) {
			if (!strcmp(val, "paused"))
				s->paused = 1;
			else if (!strcmp(val, "aborted"))
				s->aborted = 1;
			else if (strcmp(val, "running"))
				err = l4s_err(EINVAL, "state \"%s\" is wrong: expected running, paused "
					      "or aborted", val);
		} else {
			return l4s_err(EINVAL, ANN_ROLLOUT " \"%s\": unknown key \"%s\" (to, steps, "
				       "interval, max-failure-ratio, min-flows, answer-timeout, id, "
				       "state)", value, k);
		}
		if (err)
			return l4s_err_prefix(ANN_ROLLOUT);
	}
	if (!s->to[0])
		return l4s_err(EINVAL, ANN_ROLLOUT " \"%s\": to=TRACK is missing", value);
	return 0;
}

void ro_spec_key(const struct ro_spec *s, char *out, size_t len)
{
	size_t off;

	off = (size_t)snprintf(out, len, "to=%s;steps=", s->to);
	for (int i = 0; i < s->nsteps && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%g", i ? "," : "", s->steps[i] / 1e4);
	if (off < len)
		snprintf(out + off, len - off, ";interval=%llums;max-failure-ratio=%g;min-flows=%llu;"
			 "answer-timeout=%llums;id=%s", (unsigned long long)s->interval_ms,
			 s->max_failure_ppm / 1e6, (unsigned long long)s->min_flows,
			 (unsigned long long)s->answer_ms, s->id);
}

int ro_step_weights(const char *start, const char *to, __u32 ppm, char *out, size_t len)
{
	json_t *ann = json_pack("{s:s}", ANN_WEIGHTS, start ? start : "");
	struct svc_config c = { 0 };
	long double others = 0, rest = 100.0L * (1000000 - ppm) / 1000000;
	size_t off = 0;
	int err, have_to = 0;
	char w[48];

	err = ann ? svc_config_parse(ann, &c) : -ENOMEM;
	json_decref(ann);
	if (err) {
		svc_config_free(&c);
		return l4s_err_prefix("the starting weights \"%s\"", start ? start : "");
	}
	for (int i = 0; i < c.nw; i++)
		if (strcmp(c.w[i].track, to))
			others += c.w[i].weight;
	if (others == 0 && ppm < 1000000) {
		svc_config_free(&c);
		return l4s_err(EINVAL, "the tracks other than \"%s\" have weight 0 in \"%s\": "
			       "nothing would take the rest of the traffic", to, start ? start : "");
	}
	out[0] = 0;
	for (int i = 0; i <= c.nw; i++) {
		const char *t = i < c.nw ? c.w[i].track : to;
		__u64 fw;
		int m;

		if (i == c.nw && have_to)
			break;
		if (!strcmp(t, to)) {
			have_to = 1;
			fw = (__u64)ppm * L4S_WEIGHT_ONE / 10000;
		} else {
			fw = (__u64)(rest * L4S_WEIGHT_ONE * c.w[i].weight / others + 0.5L);
		}
		m = snprintf(out + off, len - off, "%s%s=%s", off ? "," : "", t, fmt_weight(w, fw));
		if (m < 0 || (size_t)m >= len - off) {
			svc_config_free(&c);
			return l4s_err(E2BIG, "the weights are too long for one annotation");
		}
		off += (size_t)m;
	}
	svc_config_free(&c);
	return 0;
}

void ro_ctr_fold(struct ro_ctr *c, __u64 cur)
{
	if (cur < c->last) { /* the agent restarted: what it had counted this step is kept */
		c->acc += c->last - c->base;
		c->base = 0;
	}
	c->last = cur;
}

__u64 ro_ctr_value(const struct ro_ctr *c)
{
	return c->acc + (c->last >= c->base ? c->last - c->base : 0);
}

/* ---- health ------------------------------------------------------------------------ */

enum { F_FLOWS, F_ANSWERED, F_RESETS, F_N };
static const char *const fam[F_N] = { "l4split_backend_flows_total",
				      "l4split_backend_answered_flows_total",
				      "l4split_backend_resets_total" };

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static json_t *ctr_json(const struct ro_ctr *c)
{
	return json_pack("[I,I,I]", (json_int_t)c->base, (json_int_t)c->last, (json_int_t)c->acc);
}

static void ctr_read(json_t *j, struct ro_ctr *c)
{
	c->base = (__u64)json_integer_value(json_array_get(j, 0));
	c->last = (__u64)json_integer_value(json_array_get(j, 1));
	c->acc = (__u64)json_integer_value(json_array_get(j, 2));
}

/*
 * The step's counts per track ({track: [flows, answered, resets]}) from every agent's
 * /metrics, folded into @baseline (status "baseline": {node: {track: [[b,l,a] x3]}}).
 * 0, or -errno with a message naming the nodes that could not be read.
 */
static int health_scrape(struct rollout_ctl *c, const char *ns, const char *name,
			 json_t *baseline, json_t *counts)
{
	struct cluster_agent *ag = NULL;
	int n = 0, err;
	char bad[1024] = "";
	size_t off = 0;

	err = cluster_agents(&c->a->k, c->agent_ns, c->agent_sel, &ag, &n);
	if (!err && !n)
		err = l4s_err(ENOENT, "no agent found (pods in %s matching %s)", c->agent_ns,
			      c->agent_sel);
	if (!err)
		err = cluster_scrape(ag, n, NULL, c->agent_port, 2.0);
	for (int i = 0; !err && i < n; i++) {
		json_t *node, *tracks = json_object(), *v;
		const char *t;

		if (!ag[i].text) {
			int m = snprintf(bad + off, sizeof(bad) - off, "%s%s (%s)", off ? ", " : "",
					 ag[i].node, ag[i].err);

			if (m > 0 && (size_t)m < sizeof(bad) - off)
				off += (size_t)m;
			json_decref(tracks);
			continue;
		}
		for (int f = 0; f < F_N; f++) {
			json_t *sel = prom_text_select(ag[i].text, fam[f], ns, name), *s;
			size_t k;

			json_array_foreach(sel, k, s) {
				const char *tr = json_string_value(
					json_object_get(json_object_get(s, "labels"), "track"));
				json_t *a;

				if (!tr)
					continue;
				if (!(a = json_object_get(tracks, tr))) {
					a = json_pack("[f,f,f]", 0.0, 0.0, 0.0);
					json_object_set_new(tracks, tr, a);
				}
				json_array_set_new(a, (size_t)f, json_real(
					json_real_value(json_array_get(a, (size_t)f)) +
					json_real_value(json_object_get(s, "value"))));
			}
			json_decref(sel);
		}
		if (!(node = json_object_get(baseline, ag[i].node))) {
			node = json_object();
			json_object_set_new(baseline, ag[i].node, node);
		}
		json_object_foreach(tracks, t, v) {
			json_t *b = json_object_get(node, t), *sum;
			int fresh = !b;

			if (fresh) { /* three counters, each set below */
				b = json_pack("[n,n,n]");
				json_object_set_new(node, t, b);
			}
			if (!(sum = json_object_get(counts, t))) {
				sum = json_pack("[I,I,I]", (json_int_t)0, (json_int_t)0, (json_int_t)0);
				json_object_set_new(counts, t, sum);
			}
			for (int f = 0; f < F_N; f++) {
				__u64 cur = (__u64)llround(json_real_value(json_array_get(v, (size_t)f)));
				struct ro_ctr ct = { cur, cur, 0 };

				if (!fresh) /* a node or track first seen counts from now */
					ctr_read(json_array_get(b, (size_t)f), &ct);
				ro_ctr_fold(&ct, cur);
				json_array_set_new(b, (size_t)f, ctr_json(&ct));
				json_array_set_new(sum, (size_t)f, json_integer(
					json_integer_value(json_array_get(sum, (size_t)f)) +
					(json_int_t)ro_ctr_value(&ct)));
			}
		}
		json_decref(tracks);
	}
	cluster_agents_free(ag, n);
	if (!err && bad[0])
		err = l4s_err(EHOSTUNREACH, "the metrics of %s cannot be read: health from every "
			      "node is unknown", bad);
	return err;
}

/* The step's counts per track from Prometheus: increase() over the step so far. */
static int health_prom(struct rollout_ctl *c, const char *ns, const char *name, double window_s,
		       double offset_s, json_t *counts)
{
	for (int f = 0; f < F_N; f++) {
		struct prom_result r = { 0 };
		char q[1024];
		int err;

		if (window_s < 1) /* nothing yet */
			return 0;
		if (offset_s > 0)
			snprintf(q, sizeof(q), "sum by (track) (increase(%s{namespace=\"%s\","
				 "service=\"%s\"}[%.0fs] offset %.0fs))", fam[f], ns, name, window_s,
				 offset_s);
		else
			snprintf(q, sizeof(q), "sum by (track) (increase(%s{namespace=\"%s\","
				 "service=\"%s\"}[%.0fs]))", fam[f], ns, name, window_s);
		err = prom_query(c->prom_url, q, 3.0, &r);
		if (err)
			return err;
		for (int i = 0; i < r.n; i++) {
			const char *t = json_string_value(json_object_get(r.s[i].labels, "track"));
			json_t *sum;

			if (!t || !isfinite(r.s[i].value))
				continue;
			if (!(sum = json_object_get(counts, t))) {
				sum = json_pack("[I,I,I]", (json_int_t)0, (json_int_t)0, (json_int_t)0);
				json_object_set_new(counts, t, sum);
			}
			json_array_set_new(sum, (size_t)f, json_integer((json_int_t)llround(r.s[i].value)));
		}
		prom_result_free(&r);
	}
	return 0;
}

/* {track: [flows, answered, resets]} -> the verdict's groups; @lag: the counts of the
 * answer timeout ago (flows and resets judged on answers), or NULL. */
static void verdict_fill(struct verdict *v, const char *to, json_t *now, json_t *lag)
{
	const char *t;
	json_t *a;

	memset(v, 0, sizeof(*v));
	json_object_foreach(now, t, a) {
		struct group *g = strcmp(t, to) ? &v->others : &v->track;
		json_t *l = lag ? json_object_get(lag, t) : NULL;

		g->flows += (__u64)json_integer_value(json_array_get(a, F_FLOWS));
		g->resets += (__u64)json_integer_value(json_array_get(a, F_RESETS));
		g->lag.answered += (__u64)json_integer_value(json_array_get(a, F_ANSWERED));
		if (l) {
			g->lag.flows += (__u64)json_integer_value(json_array_get(l, F_FLOWS));
			g->lag.resets += (__u64)json_integer_value(json_array_get(l, F_RESETS));
		}
	}
	health_finish(&v->track.lag);
	health_finish(&v->others.lag);
}

/* ---- the controller ---------------------------------------------------------------- */

struct tick {
	struct rollout_ctl *c;
	json_t *svc;          /* as the informer has it */
	const char *ns, *name;
	char spec_value[1024]; /* the rollout annotation this decision read */
	char *status_value;   /* the status annotation this decision read (NULL: none) */
	json_t *st;           /* the new status */
	char weights[1024];   /* the weights to write, or "" */
	int write;
};

/* The PUT's edit: only if neither annotation changed since the decision. */
static int tick_edit(json_t *ann, void *ctx, char *value, size_t len)
{
	struct tick *t = ctx;
	const char *sv = json_string_value(json_object_get(ann, ANN_ROLLOUT));
	const char *ss = json_string_value(json_object_get(ann, ANN_ROLLOUT_STATUS));
	char *dump;

	if (!sv || strcmp(sv, t->spec_value) || (!ss) != (!t->status_value) ||
	    (ss && strcmp(ss, t->status_value)))
		return -ECANCELED; /* someone else moved first: decide again next tick */
	dump = json_dumps(t->st, JSON_COMPACT | JSON_SORT_KEYS);
	json_object_set_new(ann, ANN_ROLLOUT_STATUS, json_string(dump ? dump : "{}"));
	free(dump);
	snprintf(value, len, "%s", t->weights[0] ? t->weights :
		 json_string_value(json_object_get(ann, ANN_WEIGHTS)) ?: "");
	return 0;
}

static void event(struct tick *t, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void event(struct tick *t, const char *type, const char *reason, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	agent_log("rollout %s/%s: %s: %s", t->ns, t->name, reason, msg);
	ev_post(t->c->ev, t->svc, type, reason, msg);
}

static int commit(struct tick *t)
{
	char value[1024], rv[64];
	int tries = 0, err;

	json_object_set_new(t->st, "updated", json_real(floor(wall_s() * 1000) / 1000));
	json_object_set_new(t->st, "leader", json_string(t->c->a->node ? t->c->a->node : ""));
	err = cluster_put_service(&t->c->a->k, t->ns, t->name, tick_edit, t, value, sizeof(value),
				  rv, sizeof(rv), &tries);
	if (err && err != -ECANCELED)
		agent_log("rollout %s/%s: the status cannot be written: %s", t->ns, t->name,
			  l4s_errmsg());
	l4s_err_clear();
	return err;
}

static json_t *mem_of(struct rollout_ctl *c, const char *key)
{
	json_t *m = json_object_get(c->mem, key);

	if (!m) {
		m = json_object();
		json_object_set_new(c->mem, key, m);
	}
	return m;
}

static double step_pct(const struct ro_spec *s, int step)
{
	return s->steps[step] / 1e4;
}

/* A new step (or the first): its weights, its clock, a fresh baseline. */
static int enter_step(struct tick *t, const struct ro_spec *s, int step, double now)
{
	const char *start = json_string_value(json_object_get(t->st, "startWeights"));

	if (ro_step_weights(start, s->to, s->steps[step], t->weights, sizeof(t->weights)))
		return -EINVAL;
	json_object_set_new(t->st, "step", json_integer(step + 1));
	json_object_set_new(t->st, "weight", json_real(step_pct(s, step)));
	json_object_set_new(t->st, "stepStart", json_real(floor(now * 1000) / 1000));
	json_object_set_new(t->st, "baseline", json_object());
	return 0;
}

static void ratios_set(json_t *st, const struct verdict *v, const char *to)
{
	json_object_set_new(st, "track", json_pack("{s:s, s:I, s:f}", "name", to, "flows",
						   (json_int_t)v->track.flows, "failureRatio",
						   group_ratio(&v->track, 1) / 1e6));
	json_object_set_new(st, "others", json_pack("{s:I, s:f}", "flows",
						    (json_int_t)v->others.flows, "failureRatio",
						    group_ratio(&v->others, 1) / 1e6));
	json_object_set_new(st, "share", json_real(verdict_share_ppm(v) / 1e4));
}

static void history_add(json_t *st, const char *result, const struct verdict *v, int step,
			double pct_, const char *by)
{
	json_t *h = json_object_get(st, "history");

	if (!json_is_array(h)) {
		h = json_array();
		json_object_set_new(st, "history", h);
	}
	json_array_append_new(h, json_pack("{s:i, s:f, s:s, s:I, s:f, s:f, s:f, s:s}", "step", step,
					   "weight", pct_, "result", result, "flows",
					   (json_int_t)v->track.flows, "failureRatio",
					   group_ratio(&v->track, 1) / 1e6, "othersFailureRatio",
					   group_ratio(&v->others, 1) / 1e6, "at",
					   floor(wall_s() * 1000) / 1000, "by",
					   by ? by : ""));
}

static void drive(struct rollout_ctl *c, json_t *svc)
{
	json_t *md = json_object_get(svc, "metadata"), *ann = json_object_get(md, "annotations");
	const char *spec_v = json_string_value(json_object_get(ann, ANN_ROLLOUT));
	const char *stat_v = json_string_value(json_object_get(ann, ANN_ROLLOUT_STATUS));
	const char *phase;
	struct tick t = { .c = c, .svc = svc };
	struct ro_spec s;
	char key[600], mkey[600];
	double now = wall_s(), elapsed, stepstart;
	int step;
	json_t *mem, *counts = NULL, *lag = NULL;
	struct verdict v;
	const char *by = c->a->node;
	int err;

	t.ns = json_string_value(json_object_get(md, "namespace"));
	t.name = json_string_value(json_object_get(md, "name"));
	if (!spec_v || !t.ns || !t.name)
		return;
	snprintf(mkey, sizeof(mkey), "%s/%s", t.ns, t.name);
	mem = mem_of(c, mkey);
	snprintf(t.spec_value, sizeof(t.spec_value), "%s", spec_v);
	t.status_value = stat_v ? strdup(stat_v) : NULL;
	if (ro_spec_parse(spec_v, &s)) {
		const char *was = json_string_value(json_object_get(mem, "invalid"));

		if (!was || strcmp(was, spec_v)) {
			event(&t, "Warning", "L4splitRolloutInvalid", "%s", l4s_errmsg());
			json_object_set_new(mem, "invalid", json_string(spec_v));
		}
		l4s_err_clear();
		goto out;
	}
	ro_spec_key(&s, key, sizeof(key));
	t.st = stat_v ? json_loads(stat_v, 0, NULL) : NULL;
	if (!json_is_object(t.st) ||
	    strcmp(json_string_value(json_object_get(t.st, "spec")) ?: "", key)) {
		/* A new rollout: its starting weights are the weights as they are now. */
		const char *w = json_string_value(json_object_get(ann, ANN_WEIGHTS));

		json_decref(t.st);
		t.st = json_pack("{s:s, s:s, s:s, s:i, s:f, s:s, s:[], s:s}", "spec", key, "phase",
				 "Progressing", "startWeights", w ? w : "", "of", s.nsteps,
				 "started", floor(now * 1000) / 1000, "source",
				 c->prom_url ? "prometheus" : "agents", "history", "reason", "");
		if (s.aborted) {
			json_object_set_new(t.st, "phase", json_string("Aborted"));
			json_object_set_new(t.st, "reason", json_string("aborted before it started"));
			if (!commit(&t))
				event(&t, "Normal", "L4splitRolloutAborted", "rollout to %s aborted "
				      "before it started", s.to);
			goto out;
		}
		if (enter_step(&t, &s, 0, now)) {
			json_object_set_new(t.st, "phase", json_string("Aborted"));
			json_object_set_new(t.st, "reason", json_string(l4s_errmsg()));
			t.weights[0] = 0;
			if (!commit(&t))
				event(&t, "Warning", "L4splitRolloutInvalid", "rollout to %s cannot "
				      "start: %s", s.to, l4s_errmsg());
			l4s_err_clear();
			goto out;
		}
		if (!commit(&t)) {
			event(&t, "Normal", "L4splitRolloutStarted", "rollout to %s started: steps "
			      "of %s, from weights %s", s.to, key + strlen("to=") + strlen(s.to) + 1,
			      w ? w : "(none)");
			event(&t, "Normal", "L4splitRolloutStep", "step 1 of %d: %s at %g%% (weights %s)",
			      s.nsteps, s.to, step_pct(&s, 0), t.weights);
		}
		goto out;
	}
	phase = json_string_value(json_object_get(t.st, "phase")) ?: "";
	if (!strcmp(phase, "Succeeded") || !strcmp(phase, "RolledBack") ||
	    !strcmp(phase, "Aborted"))
		goto out;
	step = (int)json_integer_value(json_object_get(t.st, "step")) - 1;
	if (step < 0 || step >= s.nsteps)
		goto out;
	if (s.aborted) {
		snprintf(t.weights, sizeof(t.weights), "%s",
			 json_string_value(json_object_get(t.st, "startWeights")) ?: "");
		json_object_set_new(t.st, "phase", json_string("Aborted"));
		json_object_set_new(t.st, "reason", json_string("aborted (state=aborted): the "
								"starting weights are restored"));
		if (!commit(&t))
			event(&t, "Normal", "L4splitRolloutAborted", "rollout to %s aborted at step "
			      "%d of %d: weights %s restored", s.to, step + 1, s.nsteps, t.weights);
		goto out;
	}
	if (s.paused) {
		if (strcmp(phase, "Paused") ||
		    strcmp(json_string_value(json_object_get(t.st, "pausedBy")) ?: "", "user")) {
			json_object_set_new(t.st, "phase", json_string("Paused"));
			json_object_set_new(t.st, "pausedBy", json_string("user"));
			json_object_set_new(t.st, "reason", json_string("paused (state=paused): the "
									"weights stay"));
			if (!commit(&t))
				event(&t, "Normal", "L4splitRolloutPaused", "rollout to %s paused at "
				      "step %d of %d (%g%%)", s.to, step + 1, s.nsteps,
				      step_pct(&s, step));
		}
		goto out;
	}
	/* Health of the step so far. */
	stepstart = json_real_value(json_object_get(t.st, "stepStart"));
	elapsed = now - stepstart;
	counts = json_object();
	if (c->prom_url) {
		double lagw = elapsed - s.answer_ms / 1000.0;

		lag = json_object();
		err = health_prom(c, t.ns, t.name, floor(elapsed), 0, counts);
		if (!err && lagw >= 1)
			err = health_prom(c, t.ns, t.name, floor(lagw), ceil(s.answer_ms / 1000.0), lag);
	} else {
		json_t *base = json_object_get(t.st, "baseline"), *ring, *e;
		char run[700];
		size_t i;

		if (!json_is_object(base)) {
			base = json_object();
			json_object_set_new(t.st, "baseline", base);
		}
		err = health_scrape(c, t.ns, t.name, base, counts);
		/* The counts of answer-timeout ago, kept here (a new leader starts without). */
		snprintf(run, sizeof(run), "%s#%d#%.3f", key, step, stepstart);
		if (strcmp(json_string_value(json_object_get(mem, "run")) ?: "", run)) {
			json_object_set_new(mem, "run", json_string(run));
			json_object_set_new(mem, "ring", json_array());
		}
		ring = json_object_get(mem, "ring");
		if (!err)
			json_array_append_new(ring, json_pack("{s:f, s:O}", "at", now, "c", counts));
		json_array_foreach(ring, i, e)
			if (json_real_value(json_object_get(e, "at")) <= now - s.answer_ms / 1000.0)
				lag = json_object_get(e, "c");
		json_incref(lag);
		while (json_array_size(ring) > 2 &&
		       json_real_value(json_object_get(json_array_get(ring, 1), "at")) <=
			       now - s.answer_ms / 1000.0)
			json_array_remove(ring, 0);
	}
	if (err) {
		/* Never promote blind: pause, say why, and go on when health is back. */
		char why[600];

		snprintf(why, sizeof(why), "health unknown: %s", l4s_errmsg());
		l4s_err_clear();
		if (strcmp(phase, "Paused") ||
		    strcmp(json_string_value(json_object_get(t.st, "reason")) ?: "", why)) {
			int was = !strcmp(phase, "Paused");

			json_object_set_new(t.st, "phase", json_string("Paused"));
			json_object_set_new(t.st, "pausedBy", json_string("health"));
			json_object_set_new(t.st, "reason", json_string(why));
			t.weights[0] = 0;
			if (!commit(&t) && !was)
				event(&t, "Warning", "L4splitRolloutPaused", "rollout to %s paused at "
				      "step %d of %d: %s", s.to, step + 1, s.nsteps, why);
		}
		goto out;
	}
	if (!strcmp(phase, "Paused")) {
		/* Resumed (by the user, or health is back): the step is judged on a whole
		 * interval of health seen from now on. */
		const char *pb = json_string_value(json_object_get(t.st, "pausedBy")) ?: "";

		json_object_set_new(t.st, "phase", json_string("Progressing"));
		json_object_set_new(t.st, "reason", json_string(""));
		json_object_del(t.st, "pausedBy");
		json_object_set_new(t.st, "stepStart", json_real(floor(now * 1000) / 1000));
		json_object_set_new(t.st, "baseline", json_object());
		if (!commit(&t))
			event(&t, "Normal", "L4splitRolloutResumed", "rollout to %s resumed at step "
			      "%d of %d (%s): the step's interval starts again", s.to, step + 1,
			      s.nsteps, strcmp(pb, "user") ? "health is known again" : "state=running");
		goto out;
	}
	verdict_fill(&v, s.to, counts, lag);
	ratios_set(t.st, &v, s.to);
	if (verdict_failing(&v, s.max_failure_ppm, s.min_flows)) {
		snprintf(t.weights, sizeof(t.weights), "%s",
			 json_string_value(json_object_get(t.st, "startWeights")) ?: "");
		history_add(t.st, "failed", &v, step + 1, step_pct(&s, step), by);
		json_object_set_new(t.st, "phase", json_string("RolledBack"));
		json_object_set_new(t.st, "reason", json_sprintf(
			"step %d (%g%%): %s failed %.2f%% of %llu flows over every node (max %g%%, "
			"the other tracks %.2f%%)", step + 1, step_pct(&s, step), s.to,
			group_ratio(&v.track, 1) / 1e4, (unsigned long long)v.track.flows,
			s.max_failure_ppm / 1e4, group_ratio(&v.others, 1) / 1e4));
		if (!commit(&t))
			event(&t, "Warning", "L4splitRolloutRolledBack", "%s; weights %s restored",
			      json_string_value(json_object_get(t.st, "reason")), t.weights);
		goto out;
	}
	/* Passed: the interval is over and TRACK had min-flows flows old enough to judge
	 * (answered or not within the answer timeout), as the node rollout waits for them. */
	if (elapsed * 1000 >= (double)s.interval_ms && v.track.lag.flows >= s.min_flows) {
		history_add(t.st, "passed", &v, step + 1, step_pct(&s, step), by);
		if (step + 1 == s.nsteps) {
			json_object_set_new(t.st, "phase", json_string("Succeeded"));
			json_object_set_new(t.st, "reason", json_sprintf("%s at %g%% on every node",
									 s.to, step_pct(&s, step)));
			if (!commit(&t))
				event(&t, "Normal", "L4splitRolloutSucceeded", "rollout to %s done: step "
				      "%d of %d passed (%s failed %.2f%% of %llu flows)", s.to, step + 1,
				      s.nsteps, s.to, group_ratio(&v.track, 1) / 1e4,
				      (unsigned long long)v.track.flows);
			goto out;
		}
		if (enter_step(&t, &s, step + 1, now)) {
			l4s_err_clear();
			goto out;
		}
		if (!commit(&t)) {
			event(&t, "Normal", "L4splitRolloutStepPassed", "step %d of %d passed: %s "
			      "failed %.2f%% of %llu flows (the others %.2f%%)", step + 1, s.nsteps,
			      s.to, group_ratio(&v.track, 1) / 1e4, (unsigned long long)v.track.flows,
			      group_ratio(&v.others, 1) / 1e4);
			event(&t, "Normal", "L4splitRolloutStep", "step %d of %d: %s at %g%% "
			      "(weights %s)", step + 2, s.nsteps, s.to, step_pct(&s, step + 1),
			      t.weights);
		}
		goto out;
	}
	/* Progress, now and then (the baseline's restarts folded in are worth keeping). */
	if (now - json_real_value(json_object_get(mem, "wrote")) >= RO_STATUS_EVERY_S) {
		json_object_set_new(t.st, "reason", json_sprintf(
			"step %d of %d: %.0f of %.0f s, %llu of %llu flows judged", step + 1,
			s.nsteps, elapsed, s.interval_ms / 1000.0,
			(unsigned long long)v.track.lag.flows,
			(unsigned long long)s.min_flows));
		if (!commit(&t))
			json_object_set_new(mem, "wrote", json_real(now));
	}
out:
	json_decref(counts);
	json_decref(lag);
	json_decref(t.st);
	free(t.status_value);
}

static void *ctl_main(void *arg)
{
	struct rollout_ctl *c = arg;
	struct agent *a = c->a;

	while (!a->stop) {
		struct pollfd p = { .fd = a->stop_rd, .events = POLLIN };
		json_t *svcs = NULL, *svc;
		const char *k;

		poll(&p, 1, RO_TICK_MS);
		if (a->stop)
			break;
		if (!agent_leading(a))
			continue;
		pthread_mutex_lock(&a->mu);
		if (a->inf[RES_SERVICES].synced && a->inf[RES_SERVICES].cache)
			svcs = json_deep_copy(a->inf[RES_SERVICES].cache);
		pthread_mutex_unlock(&a->mu);
		json_object_foreach(svcs, k, svc)
			if (json_object_get(json_object_get(json_object_get(svc, "metadata"),
							    "annotations"), ANN_ROLLOUT) &&
			    !a->stop && agent_leading(a))
				drive(c, svc);
		json_decref(svcs);
	}
	return NULL;
}

int rollout_ctl_start(struct rollout_ctl *c)
{
	c->mem = json_object();
	c->ev = calloc(1, sizeof(*c->ev));
	if (!c->mem || !c->ev)
		return l4s_err(ENOMEM, "out of memory");
	pthread_mutex_init(&c->evmu, NULL);
	*c->ev = (struct ev_recorder){ .k = &c->a->k, .node = c->a->node, .mu = &c->evmu,
				       .log = agent_log };
	/* A rollout's Events are few and each counts: up to 100 per Service, then one
	 * more every 30 s (the configuration's Events keep client-go's 25 and 5 minutes). */
	c->ev->lim.burst = 100;
	c->ev->lim.refill_s = 30;
	if (!c->agent_ns)
		c->agent_ns = c->a->lease_ns ? c->a->lease_ns : CLUSTER_AGENT_NS;
	if (!c->agent_sel)
		c->agent_sel = CLUSTER_AGENT_SELECTOR;
	if (!c->agent_port)
		c->agent_port = CLUSTER_AGENT_PORT;
	if (pthread_create(&c->th, NULL, ctl_main, c))
		return l4s_err(EAGAIN, "cannot start the rollout controller's thread");
	c->started = 1;
	return 0;
}

void rollout_ctl_join(struct rollout_ctl *c)
{
	if (c->started)
		pthread_join(c->th, NULL);
	c->started = 0;
	if (c->ev) {
		ev_recorder_free(c->ev);
		free(c->ev);
		c->ev = NULL;
	}
	json_decref(c->mem);
	c->mem = NULL;
}
