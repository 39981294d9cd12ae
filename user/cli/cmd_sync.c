// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split sync: make a service's backends match a Kubernetes pod or EndpointSlice list. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "k8s.h"
#include "k8s_stream.h"
#include "parse.h"
#include "state.h"
#include "writer.h"

#define MAX_WEIGHT_OPTS 32

int help_sync(void)
{
	printf("Usage: l4split sync NAME { --pods FILE | --endpointslices FILE }\n"
	       "                    { --track-label LABEL | --track T } [--port PORT|NAME]\n"
	       "                    [--weight T=W]... [--dry-run]\n"
	       "  Make the backends of NAME match a PodList / EndpointSliceList ('-' reads stdin):\n"
	       "    kubectl get pods -l app=nginx -o json | l4split sync nginx --track-label run --pods -\n"
	       "  Ready pods with an IP become backends; terminating or unready ones are drained\n"
	       "  (weight 0); backends no longer listed are removed. With --track-label every\n"
	       "  track of the service is synced; with --track only that track. Track weights are\n"
	       "  kept; a new track starts at 0 unless --weight T=W. One atomic table swap.\n"
	       "  --port      target port: a number or a container/EndpointSlice port name\n"
	       "              (default: the service's port)\n"
	       "  --dry-run   print what would change, change nothing\n");
	return 0;
}

struct sync_args {
	const char *name, *file, *label, *track, *port;
	const char *wopt[MAX_WEIGHT_OPTS];
	char wbuf[MAX_WEIGHT_OPTS][128]; /* TRACK=W, TRACK shortened (track_name) */
	int nw, dry, slices;
};

/* sync's words. 0, or the exit code of a usage error (printed), or help's. */
static int sync_args(int argc, char **argv, struct sync_args *x)
{
	x->slices = -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (is_help(a))
			return help_sync() - 1; /* 0 - 1: help, done */
		if ((!strcmp(a, "--pods") || !strcmp(a, "--endpointslices")) && i + 1 < argc) {
			if (x->file && x->slices == !strcmp(a, "--endpointslices"))
				return usage_error("%s is given twice", a);
			if (x->file)
				return usage_error("give one of --pods or --endpointslices");
			x->slices = !strcmp(a, "--endpointslices");
			x->file = argv[++i];
		} else if (!strcmp(a, "--track-label") && i + 1 < argc) {
			if (x->label)
				return usage_error("--track-label is given twice");
			x->label = argv[++i];
		} else if (!strcmp(a, "--track") && i + 1 < argc) {
			if (x->track)
				return usage_error("--track is given twice");
			x->track = argv[++i];
			if (parse_name("track", x->track))
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(a, "--port") && i + 1 < argc) {
			__u16 pnum;

			if (x->port)
				return usage_error("--port is given twice");
			x->port = argv[++i];
			if (parse_port_or_name("--port", x->port, &pnum) < 0)
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(a, "--weight") && i + 1 < argc) {
			char *eq = strchr(argv[i + 1], '='), t[L4S_NAME_LEN];
			__u64 w;

			if (x->nw == MAX_WEIGHT_OPTS)
				return usage_error("too many --weight options");
			if (!eq || eq == argv[i + 1] || parse_weight(eq + 1, &w))
				return eq ? cmd_fail(EXIT_USAGE) :
					    usage_error("--weight \"%s\" is wrong: expected TRACK=W",
							argv[i + 1]);
			/* A label value longer than a track name names its shortened track. */
			snprintf(x->wbuf[x->nw], sizeof(x->wbuf[x->nw]), "%.*s", (int)(eq - argv[i + 1]),
				 argv[i + 1]);
			if (track_name(t, x->wbuf[x->nw]) < 0)
				return cmd_fail(EXIT_USAGE);
			if (snprintf(x->wbuf[x->nw], sizeof(x->wbuf[x->nw]), "%s=%s", t, eq + 1) >=
			    (int)sizeof(x->wbuf[x->nw]))
				return usage_error("--weight \"%.40s...\" is wrong: too long",
						   argv[i + 1]);
			for (int k = 0; k < x->nw; k++)
				if (!strncmp(x->wopt[k], x->wbuf[x->nw], strlen(t) + 1))
					return usage_error("--weight for track \"%s\" is given twice",
							   t);
			x->wopt[x->nw] = x->wbuf[x->nw];
			x->nw++;
			i++;
		} else if (!strcmp(a, "--dry-run")) {
			x->dry = 1;
		} else if (a[0] == '-' && strcmp(a, "-")) {
			return usage_error("unknown option \"%s\" for sync (or it needs a value)", a);
		} else if (!x->name) {
			x->name = a;
		} else {
			return usage_error("sync takes one service NAME, got \"%s\" too", a);
		}
	}
	if (!x->name || !x->file) {
		usage_help(help_sync);
		return usage_error("sync needs NAME and --pods FILE or --endpointslices FILE");
	}
	if (!!x->label == !!x->track)
		return usage_error("sync needs exactly one of --track-label LABEL or --track T");
	if (parse_name("service", x->name))
		return cmd_fail(EXIT_USAGE);

	return 0;
}

/* The document's endpoints, read as the service needs them (family, protocol, port). */
static int sync_read(json_t *doc, const struct sync_args *x, const struct svc_spec *spec,
		     struct k8s_result *kr)
{
	struct k8s_opts ko = { .family = spec->fe[0].family, .track_label = x->label,
			       .track = x->track, .port = x->port, .proto = spec->fe[0].proto,
			       .default_port = ntohs(spec->fe[0].port) };
	const char *kind = json_string_value(json_object_get(doc, "kind"));

	if (kind && x->slices == 1 && strstr(kind, "Pod")) {
		l4s_err(EINVAL, "kind \"%s\" given to --endpointslices", kind);
		l4s_hint("use --pods for pod lists");
		return -EINVAL;
	}
	if (kind && x->slices == 0 && strstr(kind, "EndpointSlice")) {
		l4s_err(EINVAL, "kind \"%s\" given to --pods", kind);
		l4s_hint("use --endpointslices for EndpointSlice lists");
		return -EINVAL;
	}
	return k8s_parse(doc, &ko, kr);
}

/* Track weights after the merge: README's rule for a service's first track, then the
 * --weight options. */
static int sync_weights(struct svc_spec *spec, const struct sync_args *x, int had_backends,
			int ntr_before)
{
	if (!had_backends && spec->ntr > ntr_before && !x->nw) {
		int fresh = spec->ntr - ntr_before;

		if (fresh == 1 && ntr_before == 0)
			spec->tr[ntr_before].weight = L4S_WEIGHT_ONE;
		else
			l4s_note("Note: %s has no weighted backend before this sync and it brings "
				 "%d new tracks: they start at weight 0 and the service takes no new "
				 "flows until 'l4split weight %s TRACK=W' (or --weight T=W)\n",
				 x->name, fresh, x->name);
	}
	for (int w = 0; w < x->nw; w++) {
		char t[L4S_NAME_LEN + 1];
		const char *eq = strchr(x->wopt[w], '=');
		size_t tl = (size_t)(eq - x->wopt[w]);
		struct spec_track *st;
		__u64 wv;

		snprintf(t, sizeof(t), "%.*s", (int)(tl < L4S_NAME_LEN ? tl : L4S_NAME_LEN),
			 x->wopt[w]);
		parse_weight(eq + 1, &wv);
		st = spec_track(spec, t);
		if (!st)
			return l4s_err(ENOENT, "--weight %s: service \"%s\" has no track \"%s\" after "
				       "this sync", x->wopt[w], x->name, t);
		st->weight = wv;
	}
	return 0;
}

static void sync_print(const struct sync_args *x, const struct svc_spec *spec,
		       const struct merge_counts *c, const struct k8s_result *kr)
{
	if (l4s_json) {
		json_print(json_pack("{s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "service",
				     x->name, "dry_run", x->dry, "added", c->added, "drained",
				     c->drained, "restored", c->restored, "removed", c->removed,
				     "moved", c->moved, "unchanged", c->unchanged, "ignored",
				     c->ignored, "skipped_no_ip", kr->skipped_no_ip));
		return;
	}
	printf("%s%s: %d added, %d drained, %d restored, %d removed, %d moved track, "
	       "%d unchanged", x->dry ? "dry run: " : "", x->name, c->added, c->drained,
	       c->restored, c->removed, c->moved, c->unchanged);
	if (c->ignored || kr->skipped_no_ip)
		printf(" (%d terminating/unready and %d without an IP ignored)", c->ignored,
		       kr->skipped_no_ip);
	printf("\n");
	for (int t = 0; t < spec->ntr; t++) {
		char wb[32];

		printf("  track %s weight %s\n", spec->tr[t].name, fmt_weight(wb, spec->tr[t].weight));
	}
}

/* The document in FILE ('-': stdin), read as a stream: only what k8s_parse reads is kept
 * (k8s_stream.h). NULL and @jerr as k8s_read_stream's; when the file cannot be read,
 * @jerr->line is -1 and the message is said (l4s_err). */
static json_t *sync_load(const char *file, json_error_t *jerr)
{
	const char *shown = strcmp(file, "-") ? file : "stdin";
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	json_t *doc;

	if (!f) {
		jerr->line = -1;
		l4s_err(errno, "%s: %s", file, strerror(errno));
		return NULL;
	}
	doc = k8s_read_stream(f, jerr);
	if (!doc && jerr->line < 0)
		l4s_err(errno, "%s: %s", shown, jerr->text);
	if (f != stdin)
		fclose(f);
	return doc;
}

int do_sync(int argc, char **argv)
{
	struct write_opts wo = { .how = WRITE_UPDATE };
	struct sync_args x = {};
	struct merge_counts c = {};
	struct write_result res = {};
	struct k8s_result kr = {};
	struct svc_spec spec = {};
	struct l4s_state st;
	json_error_t jerr;
	json_t *doc;
	int rc = sync_args(argc, argv, &x), had_backends, ntr_before;

	if (rc)
		return rc < 0 ? 0 : rc;
	wo.dry_run = x.dry;
	doc_arena_begin(); /* ended below, after the last JSON value is released */
	doc = sync_load(x.file, &jerr);
	if (!doc && jerr.line < 0) { /* could not be read: exit 1, said by sync_load */
		doc_arena_end();
		return cmd_fail(1);
	}
	if (!doc) {
		doc_arena_end();
		l4s_err(EINVAL, "%s: line %d, column %d: %s", !strcmp(x.file, "-") ? "stdin" : x.file,
			jerr.line, jerr.column, jerr.text);
		l4s_hint("give it the output of 'kubectl get pods -o json' (JSON, not YAML)");
		return cmd_fail(EXIT_USAGE);
	}
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK)) {
		json_decref(doc);
		doc_arena_end();
		return cmd_fail(1);
	}
	rc = 1;
	if (service_get(&st, x.name, &spec) || sync_read(doc, &x, &spec, &kr))
		goto out;
	had_backends = spec.nbe > 0;
	ntr_before = spec.ntr;
	if (spec_merge_endpoints(&spec, kr.ep, kr.n, x.track, 0, &c) ||
	    sync_weights(&spec, &x, had_backends, ntr_before))
		goto out;
	if (kr.warning[0])
		l4s_note("Note: %s\n", kr.warning);
	if (kr.note[0])
		l4s_note("Note: %s\n", kr.note);
	if (service_apply(&st, &spec, &wo, &res))
		goto out;
	rc = 0;
	sync_print(&x, &spec, &c, &kr);
	note_starved(&spec, &res);
out:
	if (rc)
		rc = cmd_fail(1);
	k8s_result_free(&kr);
	spec_free(&spec);
	state_close(&st);
	json_decref(doc);
	doc_arena_end();
	return rc;
}
