/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One reader of Kubernetes documents, two ways in: k8s_parse() of the whole document
 * (jansson, as the agent holds objects) and of its stream projection (k8s_read_stream,
 * as sync reads a list) must agree on everything a user sees: accepted or not, the
 * error and hint, every endpoint, the counts, the warning and the note. Used by
 * tests/unit/test_k8s.c and tests/fuzz/fuzz_k8s.c.
 */
#ifndef L4S_TEST_K8S_SAME_H
#define L4S_TEST_K8S_SAME_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "k8s.h"
#include "k8s_stream.h"

struct k8s_seen {
	int rc;
	char err[512], hint[512];
	struct k8s_result r;
};

static inline void k8s_seen_parse(json_t *doc, const struct k8s_opts *o, struct k8s_seen *s)
{
	memset(s, 0, sizeof(*s));
	l4s_err_clear();
	s->rc = k8s_parse(doc, o, &s->r);
	snprintf(s->err, sizeof(s->err), "%s", s->rc ? l4s_errmsg() : "");
	snprintf(s->hint, sizeof(s->hint), "%s", s->rc && l4s_errhint() ? l4s_errhint() : "");
	l4s_err_clear();
}

/* NULL when both ways agree on @data for @o, else what differs. */
static inline const char *k8s_same(const void *data, size_t len, const struct k8s_opts *o)
{
	static char why[256];
	FILE *f = len ? fmemopen((void *)data, len, "r") : fopen("/dev/null", "r");
	json_t *full = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL), *proj;
	struct k8s_seen a, b;
	json_error_t e;
	const char *bad = NULL;

	proj = f ? k8s_read_stream(f, &e) : NULL;
	if (f)
		fclose(f);
	if (!full || !proj) {
		if (!full != !proj)
			snprintf(why, sizeof(why), "the document is %s by jansson and %s by the "
				 "stream reader (%s)", full ? "taken" : "refused",
				 proj ? "taken" : "refused", proj ? "" : e.text);
		json_decref(full);
		json_decref(proj);
		return !full != !proj ? why : NULL;
	}
	k8s_seen_parse(full, o, &a);
	k8s_seen_parse(proj, o, &b);
	if (a.rc != b.rc || strcmp(a.err, b.err) || strcmp(a.hint, b.hint))
		bad = "the result or the error";
	else if (a.r.n != b.r.n)
		bad = "the number of endpoints";
	else if (a.r.skipped_no_ip != b.r.skipped_no_ip || a.r.skipped_family != b.r.skipped_family ||
		 a.r.skipped_no_track != b.r.skipped_no_track ||
		 a.r.skipped_bad_addr != b.r.skipped_bad_addr ||
		 a.r.tracks_shortened != b.r.tracks_shortened)
		bad = "the counts";
	else if (strcmp(a.r.warning, b.r.warning) || strcmp(a.r.note, b.r.note))
		bad = "the warning or the note";
	for (int i = 0; !bad && i < a.r.n; i++) {
		const struct spec_endpoint *x = &a.r.ep[i], *y = &b.r.ep[i];

		if (x->family != y->family || memcmp(&x->addr, &y->addr, sizeof(x->addr)) ||
		    x->port != y->port || x->state != y->state || strcmp(x->track, y->track) ||
		    strcmp(x->name, y->name))
			bad = "an endpoint";
	}
	if (bad)
		snprintf(why, sizeof(why), "%s differs: jansson rc %d \"%.80s\", stream rc %d "
			 "\"%.80s\"", bad, a.rc, a.err, b.rc, b.err);
	k8s_result_free(&a.r);
	k8s_result_free(&b.r);
	json_decref(full);
	json_decref(proj);
	return bad ? why : NULL;
}

#endif
