// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split stats NAME --watch SECONDS: per track and per backend, the configured
 * share against the share of new flows actually seen in the last interval,
 * flows per second and the failure ratio. Redrawn in place on a terminal, one
 * block (or one JSON line) per interval otherwise.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "sample.h"
#include "state.h"

#define BAR_WIDTH 20

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

struct row {
	char label[L4S_ADDRSTRLEN];
	char track[L4S_NAME_LEN];
	double conf_share; /* percent */
	struct health h;
};

static void bar(char *buf, double percent)
{
	int n = (int)(percent * BAR_WIDTH / 100.0 + 0.5);

	if (n > BAR_WIDTH)
		n = BAR_WIDTH;
	memset(buf, '#', (size_t)(n > 0 ? n : 0));
	buf[n > 0 ? n : 0] = 0;
}

static json_t *row_json(const struct row *r, __u64 all, double secs)
{
	json_t *j = json_object();

	json_object_set_new(j, "weight_share_percent", json_real(r->conf_share));
	json_object_set_new(j, "observed_share_percent",
			    json_real(all ? (double)r->h.flows * 100.0 / (double)all : 0));
	json_object_set_new(j, "flows", json_integer((json_int_t)r->h.flows));
	json_object_set_new(j, "flows_per_second", json_real((double)r->h.flows / secs));
	json_object_set_new(j, "answered", json_integer((json_int_t)r->h.answered));
	json_object_set_new(j, "resets", json_integer((json_int_t)r->h.resets));
	json_object_set_new(j, "syn_retries", json_integer((json_int_t)r->h.syn_retries));
	json_object_set_new(j, "failure_ratio", json_real(health_ratio_ppm(&r->h) / 1e6));
	return j;
}

static void print_row(const struct row *r, __u64 all, double secs)
{
	double seen = all ? (double)r->h.flows * 100.0 / (double)all : 0;
	char b[BAR_WIDTH + 1];

	bar(b, seen);
	printf("  %-22.22s %6.2f%% %6.2f%% %-*s %8.1f %6.1f%%\n", r->label, r->conf_share, seen,
	       BAR_WIDTH, b, (double)r->h.flows / secs,
	       health_ratio_ppm(&r->h) / 1e4);
}

/* One frame: the difference between two samples, by track and by backend. */
static void frame(struct model *m, const struct sample *a, const struct sample *b, int tty)
{
	double secs = (double)(b->at_ms - a->at_ms) / 1000.0;
	struct row *tr = calloc((size_t)(m->ntr ? m->ntr : 1), sizeof(*tr));
	struct row *br = calloc((size_t)(m->nbe ? m->nbe : 1), sizeof(*br));
	unsigned __int128 total = 0;
	__u64 all = 0;
	char buf[L4S_ADDRSTRLEN + 8];

	if (!tr || !br)
		goto out;
	if (secs <= 0)
		secs = 1e-3;
	model_effective(m);
	for (int i = 0; i < m->nbe; i++)
		total += m->be[i].effective;
	for (int t = 0; t < m->ntr; t++)
		snprintf(tr[t].label, sizeof(tr[t].label), "%s", m->tr[t].name);
	for (int i = 0; i < m->nbe; i++) {
		struct model_backend *mb = &m->be[i];
		struct l4s_backend_stats d;

		sample_delta(a, b, mb->id, mb->be.gen, &d);
		fmt_addr_port(br[i].label, &mb->be.addr, mb->be.family, ntohs(mb->be.port));
		memcpy(br[i].track, mb->be.track, L4S_NAME_LEN);
		br[i].conf_share = total ? (double)mb->effective * 100.0 / (double)total : 0;
		br[i].h = (struct health){ .flows = d.flows, .answered = d.answered,
					   .resets = d.resets, .syn_retries = d.syn_retries };
		all += d.flows;
		for (int t = 0; t < m->ntr; t++) {
			if (strcmp(m->tr[t].name, mb->be.track))
				continue;
			tr[t].conf_share += br[i].conf_share;
			tr[t].h.flows += d.flows;
			tr[t].h.answered += d.answered;
			tr[t].h.resets += d.resets;
			tr[t].h.syn_retries += d.syn_retries;
		}
		health_finish(&br[i].h);
	}
	for (int t = 0; t < m->ntr; t++)
		health_finish(&tr[t].h);

	if (l4s_json) {
		json_t *doc = json_object(), *tj = json_object(), *bj = json_array();

		json_object_set_new(doc, "service", json_string(m->svc.name));
		json_object_set_new(doc, "interval_ms", json_integer((json_int_t)(b->at_ms - a->at_ms)));
		json_object_set_new(doc, "flows", json_integer((json_int_t)all));
		for (int t = 0; t < m->ntr; t++)
			json_object_set_new(tj, tr[t].label, row_json(&tr[t], all, secs));
		for (int i = 0; i < m->nbe; i++) {
			json_t *j = row_json(&br[i], all, secs);

			json_object_set_new(j, "addr", json_string(br[i].label));
			json_object_set_new(j, "track", json_string(br[i].track));
			json_array_append_new(bj, j);
		}
		json_object_set_new(doc, "tracks", tj);
		json_object_set_new(doc, "backends", bj);
		json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
		goto out;
	}
	if (tty)
		printf("\033[H\033[2J");
	printf("%s %s: %llu new flows in %.1f s (%.1f/s)\n", m->svc.name,
	       m->nfe ? fmt_frontend(buf, &m->fe[0]) : "", (unsigned long long)all, secs,
	       (double)all / secs);
	printf("  %-22s %7s %7s %-*s %8s %7s\n", "TRACK", "WEIGHT", "SEEN", BAR_WIDTH, "",
	       "FLOWS/S", "FAILED");
	for (int t = 0; t < m->ntr; t++)
		print_row(&tr[t], all, secs);
	printf("  %-22s %7s %7s %-*s %8s %7s\n", "BACKEND", "WEIGHT", "SEEN", BAR_WIDTH, "TRACK",
	       "FLOWS/S", "FAILED");
	for (int i = 0; i < m->nbe; i++) {
		char label[BAR_WIDTH + 1];

		snprintf(label, sizeof(label), "%s", br[i].track);
		printf("  %-22.22s %6.2f%% %6.2f%% %-*s %8.1f %6.1f%%\n", br[i].label,
		       br[i].conf_share, all ? (double)br[i].h.flows * 100.0 / (double)all : 0,
		       BAR_WIDTH, label, (double)br[i].h.flows / secs,
		       health_ratio_ppm(&br[i].h) / 1e4);
	}
	if (!tty)
		printf("\n");
out:
	fflush(stdout);
	free(tr);
	free(br);
}

int stats_watch(const char *name, __u64 interval_ms, __u64 count)
{
	struct l4s_state st;
	struct sample prev = {};
	struct model m = {};
	struct sigaction sa = { .sa_handler = on_signal };
	int tty = !l4s_json && isatty(STDOUT_FILENO), rc = 0;
	__u32 sid;

	if (state_open(&st, state_pin_dir(opt_pin_dir), 0))
		return cmd_fail(1);
	if (svc_find(&st, name, &sid) || model_load(&st, sid, &m) || sample_take(&st, &m, &prev)) {
		model_free(&m);
		state_close(&st);
		return cmd_fail(1);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (__u64 n = 0; !count || n < count; n++) {
		struct timespec ts = { .tv_sec = (time_t)(interval_ms / 1000),
				       .tv_nsec = (long)(interval_ms % 1000) * 1000000 };
		struct sample now = {};

		while (nanosleep(&ts, &ts) && !watch_stop)
			;
		if (watch_stop)
			break;
		model_free(&m);
		memset(&m, 0, sizeof(m));
		/* Reloaded every time: weights and backends change under a watch. */
		state_forget(&st);
		if (model_load(&st, sid, &m) || sample_take(&st, &m, &now)) {
			rc = cmd_fail(1);
			break;
		}
		frame(&m, &prev, &now, tty);
		sample_free(&prev);
		prev = now;
	}
	sample_free(&prev);
	model_free(&m);
	state_close(&st);
	return rc;
}
