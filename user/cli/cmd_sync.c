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

int do_sync(int argc, char **argv)
{
	const char *name = NULL, *file = NULL, *label = NULL, *track = NULL, *port = NULL;
	const char *wopt[MAX_WEIGHT_OPTS];
	char wbuf[MAX_WEIGHT_OPTS][128]; /* TRACK=W, TRACK shortened (track_name) */
	int nw = 0, dry = 0, slices = -1, rc = 1;
	struct merge_counts counts = {}, *c = &counts;
	struct write_result res = {};
	struct k8s_result kr = {};
	struct svc_spec spec = {};
	struct l4s_state st;
	json_error_t jerr;
	json_t *doc = NULL;
	int had_backends, ntr_before;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (is_help(a))
			return help_sync();
		if ((!strcmp(a, "--pods") || !strcmp(a, "--endpointslices")) && i + 1 < argc) {
			if (file && slices == !strcmp(a, "--endpointslices"))
				return usage_error("%s is given twice", a);
			if (file)
				return usage_error("give one of --pods or --endpointslices");
			slices = !strcmp(a, "--endpointslices");
			file = argv[++i];
		} else if (!strcmp(a, "--track-label") && i + 1 < argc) {
			if (label)
				return usage_error("--track-label is given twice");
			label = argv[++i];
		} else if (!strcmp(a, "--track") && i + 1 < argc) {
			if (track)
				return usage_error("--track is given twice");
			track = argv[++i];
			if (parse_name("track", track))
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(a, "--port") && i + 1 < argc) {
			__u16 pnum;

			if (port)
				return usage_error("--port is given twice");
			port = argv[++i];
			if (parse_port_or_name("--port", port, &pnum) < 0)
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(a, "--weight") && i + 1 < argc) {
			char *eq = strchr(argv[i + 1], '='), t[L4S_NAME_LEN];
			__u64 w;

			if (nw == MAX_WEIGHT_OPTS)
				return usage_error("too many --weight options");
			if (!eq || eq == argv[i + 1] || parse_weight(eq + 1, &w))
				return eq ? cmd_fail(EXIT_USAGE) :
					    usage_error("--weight \"%s\" is wrong: expected TRACK=W",
							argv[i + 1]);
			/* A label value longer than a track name names its shortened track. */
			snprintf(wbuf[nw], sizeof(wbuf[nw]), "%.*s", (int)(eq - argv[i + 1]),
				 argv[i + 1]);
			if (track_name(t, wbuf[nw]) < 0)
				return cmd_fail(EXIT_USAGE);
			if (snprintf(wbuf[nw], sizeof(wbuf[nw]), "%s=%s", t, eq + 1) >=
			    (int)sizeof(wbuf[nw]))
				return usage_error("--weight \"%.40s...\" is wrong: too long",
						   argv[i + 1]);
			for (int k = 0; k < nw; k++)
				if (!strncmp(wopt[k], wbuf[nw], strlen(t) + 1))
					return usage_error("--weight for track \"%s\" is given twice",
							   t);
			wopt[nw] = wbuf[nw];
			nw++;
			i++;
		} else if (!strcmp(a, "--dry-run")) {
			dry = 1;
		} else if (a[0] == '-' && strcmp(a, "-")) {
			return usage_error("unknown option \"%s\" for sync (or it needs a value)", a);
		} else if (!name) {
			name = a;
		} else {
			return usage_error("sync takes one service NAME, got \"%s\" too", a);
		}
	}
	if (!name || !file) {
		usage_help(help_sync);
		return usage_error("sync needs NAME and --pods FILE or --endpointslices FILE");
	}
	if (!!label == !!track)
		return usage_error("sync needs exactly one of --track-label LABEL or --track T");
	if (parse_name("service", name))
		return cmd_fail(EXIT_USAGE);

	doc = json_load_arg(file, &jerr);
	if (!doc && jerr.line < 0) /* could not be read: exit 1, said by json_load_arg */
		return cmd_fail(1);
	if (!doc) {
		l4s_err(EINVAL, "%s: line %d, column %d: %s", !strcmp(file, "-") ? "stdin" : file,
			jerr.line, jerr.column, jerr.text);
		l4s_hint("give it the output of 'kubectl get pods -o json' (JSON, not YAML)");
		return cmd_fail(EXIT_USAGE);
	}
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK)) {
		json_decref(doc);
		return cmd_fail(1);
	}
	if (service_get(&st, name, &spec))
		goto out;

	{
		struct k8s_opts ko = { .family = spec.fe[0].family, .track_label = label,
				       .track = track, .port = port, .proto = spec.fe[0].proto,
				       .default_port = ntohs(spec.fe[0].port) };
		const char *kind = json_string_value(json_object_get(doc, "kind"));

		if (kind && slices == 1 && strstr(kind, "Pod")) {
			l4s_err(EINVAL, "kind \"%s\" given to --endpointslices", kind);
			l4s_hint("use --pods for pod lists");
			goto out;
		}
		if (kind && slices == 0 && strstr(kind, "EndpointSlice")) {
			l4s_err(EINVAL, "kind \"%s\" given to --pods", kind);
			l4s_hint("use --endpointslices for EndpointSlice lists");
			goto out;
		}
		if (k8s_parse(doc, &ko, &kr))
			goto out;
	}
	/* README's rule: the first track of a service (none has a backend yet) starts at
	 * weight 1, later ones at 0 (a new version gets nothing until asked). */
	had_backends = spec.nbe > 0;
	ntr_before = spec.ntr;
	if (spec_merge_endpoints(&spec, kr.ep, kr.n, track, 0, c))
		goto out;
	if (!had_backends && spec.ntr > ntr_before && !nw) {
		int fresh = spec.ntr - ntr_before;

		if (fresh == 1 && ntr_before == 0) {
			spec.tr[ntr_before].weight = L4S_WEIGHT_ONE;
		} else if (fresh >= 1) {
			l4s_note("Note: %s has no weighted backend before this sync and it brings "
				 "%d new tracks: they start at weight 0 and the service takes no new "
				 "flows until 'l4split weight %s TRACK=W' (or --weight T=W)\n", name,
				 fresh, name);
		}
	}
	for (int w = 0; w < nw; w++) {
		char t[L4S_NAME_LEN + 1];
		const char *eq = strchr(wopt[w], '=');
		size_t tl = (size_t)(eq - wopt[w]);
		struct spec_track *st_;
		__u64 wv;

		snprintf(t, sizeof(t), "%.*s", (int)(tl < L4S_NAME_LEN ? tl : L4S_NAME_LEN), wopt[w]);
		parse_weight(eq + 1, &wv);
		st_ = spec_track(&spec, t);
		if (!st_) {
			l4s_err(ENOENT, "--weight %s: service \"%s\" has no track \"%s\" after this "
				"sync", wopt[w], name, t);
			goto out;
		}
		st_->weight = wv;
	}

	if (kr.warning[0])
		l4s_note("Note: %s\n", kr.warning);
	if (kr.note[0])
		l4s_note("Note: %s\n", kr.note);
	{
		struct write_opts wo = { .how = WRITE_UPDATE, .dry_run = dry };

		if (service_apply(&st, &spec, &wo, &res))
			goto out;
	}
	rc = 0;
	if (l4s_json) {
		json_print(json_pack("{s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "service",
				     name, "dry_run", dry, "added", c->added, "drained", c->drained,
				     "restored", c->restored, "removed", c->removed, "moved", c->moved,
				     "unchanged", c->unchanged, "ignored", c->ignored, "skipped_no_ip",
				     kr.skipped_no_ip));
	} else {
		printf("%s%s: %d added, %d drained, %d restored, %d removed, %d moved track, "
		       "%d unchanged", dry ? "dry run: " : "", name, c->added, c->drained, c->restored,
		       c->removed, c->moved, c->unchanged);
		if (c->ignored || kr.skipped_no_ip)
			printf(" (%d terminating/unready and %d without an IP ignored)", c->ignored,
			       kr.skipped_no_ip);
		printf("\n");
		for (int t = 0; t < spec.ntr; t++) {
			char wb[32];

			printf("  track %s weight %s\n", spec.tr[t].name,
			       fmt_weight(wb, spec.tr[t].weight));
		}
	}
	note_starved(&spec, &res);
out:
	if (rc)
		rc = cmd_fail(1);
	k8s_result_free(&kr);
	spec_free(&spec);
	state_close(&st);
	json_decref(doc);
	return rc;
}
