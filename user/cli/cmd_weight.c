// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split weight NAME { TRACK=W | ADDR:PORT=W } ...: one spec change, one table swap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "parse.h"
#include "writer.h"

int help_weight(void)
{
	printf("Usage: l4split weight NAME { TRACK=W | ADDR:PORT=W } ...\n");
	help_weight_cluster(0);
	printf("  Set track weights (old=99 new=1) or backend weights inside their track\n"
	       "  (10.0.0.1:80=2). W is a non-negative decimal; weights are relative; 0 drains:\n"
	       "  no new flows, existing flows continue. All changes apply in one table swap.\n");
	help_weight_cluster(1);
	return 0;
}

int edit_service(const char *name, int (*edit)(struct svc_spec *s, void *ctx), void *ctx,
		 struct svc_spec *s, struct write_result *r)
{
	struct l4s_state st;
	int err;

	memset(s, 0, sizeof(*s));
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	err = service_edit(&st, name, edit, ctx, s, r);
	state_close(&st);
	return err ? cmd_fail(1) : 0;
}

void print_shares(const struct svc_spec *s)
{
	double *share = calloc((size_t)s->ntr + 1, sizeof(*share));
	json_t *tracks = json_object();
	double total = 0;
	char w[32];

	if (!share || !tracks) {
		free(share);
		json_decref(tracks);
		return;
	}
	spec_shares(s, share, NULL);
	if (!l4s_json)
		printf("%s:", s->name);
	for (int t = 0; t < s->ntr; t++) {
		total += share[t];
		if (l4s_json)
			json_object_set_new(tracks, s->tr[t].name,
					    json_pack("{s:f, s:f}", "weight",
						      (double)s->tr[t].weight / L4S_WEIGHT_ONE,
						      "share", share[t]));
		else
			printf(" %s=%s (%.2f%%)", s->tr[t].name, fmt_weight(w, s->tr[t].weight),
			       share[t]);
	}
	free(share);
	if (l4s_json) {
		json_print(json_pack("{s:s, s:o}", "service", s->name, "tracks", tracks));
		return;
	}
	json_decref(tracks);
	printf("\n");
	if (total <= 0)
		l4s_note("Note: no backend of %s has a weight above 0: it takes no new flows\n",
			 s->name);
}

void note_starved(const struct svc_spec *s, const struct write_result *r)
{
	char buf[96];

	if (!r->starved)
		return;
	l4s_note("Note: %s: backend %s (track %s)%s has a weight above 0 but no slot of the "
		 "%u-slot table: it gets no new flows\n", s->name,
		 fmt_addr_port(buf, &r->starved_be.addr, r->starved_be.family, r->starved_be.port),
		 r->starved_be.track, r->starved > 1 ? " and others" : "", s->table_size);
	l4s_note("Hint: its share is below one slot; give the service a larger table "
		 "(service add --table-size, up to %d)\n", L4S_TABLE_MAX);
}

/* TRACK=W or ADDR:PORT=W: the key and the weight. Usage errors print nothing here. */
static int split_arg(const char *arg, char *key, size_t klen, __u64 *w)
{
	const char *eq = strrchr(arg, '=');
	size_t kl;

	if (!eq || eq == arg)
		return l4s_err(EINVAL, "argument \"%s\" is wrong: expected TRACK=W or ADDR:PORT=W",
			       arg);
	kl = (size_t)(eq - arg);
	if (kl >= klen)
		return l4s_err(EINVAL, "argument \"%.40s...\" is wrong: too long", arg);
	memcpy(key, arg, kl);
	key[kl] = 0;
	return parse_weight(eq + 1, w);
}

struct weight_args {
	int argc;
	char **argv;
};

/* Each TRACK=W or ADDR:PORT=W into the spec (all parsed already). */
static int weight_edit(struct svc_spec *s, void *ctx)
{
	const struct weight_args *w = ctx;
	const char *name = w->argv[0];

	for (int i = 1; i < w->argc; i++) {
		char key[128];
		__u64 v;

		split_arg(w->argv[i], key, sizeof(key), &v);
		if (strchr(key, ':')) {
			struct l4s_addr a;
			struct spec_backend *b;
			__u8 fam;
			__u16 port;

			parse_addr_port(key, &a, &fam, &port);
			b = spec_backend(s, &a, fam, port);
			if (!b) {
				l4s_err(ENOENT, "%s is not a backend of \"%s\"", key, name);
				l4s_hint("'l4split status %s' lists its backends", name);
				return -ENOENT;
			}
			b->weight = v;
		} else {
			char tn[L4S_NAME_LEN], known[256] = "";
			struct spec_track *t;

			/* A label value longer than a track name: its shortened track. */
			if (strlen(key) >= L4S_NAME_LEN && track_name(tn, key) == 1)
				snprintf(key, sizeof(key), "%s", tn);
			t = spec_track(s, key);
			if (t) {
				t->weight = v;
				continue;
			}
			for (int j = 0; j < s->ntr; j++) {
				strncat(known, j ? ", " : "", sizeof(known) - strlen(known) - 1);
				strncat(known, s->tr[j].name, sizeof(known) - strlen(known) - 1);
			}
			l4s_err(ENOENT, "service \"%s\" has no track \"%s\"", name, key);
			if (s->ntr)
				l4s_hint("its tracks are: %s", known);
			else
				l4s_hint("add backends first: 'l4split backend add %s ADDR:PORT "
					 "--track %s'", name, key);
			return -ENOENT;
		}
	}
	return 0;
}

int do_weight(int argc, char **argv)
{
	struct weight_args w = { argc, argv };
	struct write_result res;
	struct svc_spec s;
	int rc;

	if (argc >= 1 && is_help(argv[0]))
		return help_weight();
	if (cluster_mode(argc, argv))
		return do_weight_cluster(argc, argv);
	if (argc < 2) {
		usage_help(help_weight);
		return usage_error("weight needs NAME and at least one TRACK=W or ADDR:PORT=W");
	}
	if (parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	/* Every argument first: nothing is opened before all of it parses. */
	for (int i = 1; i < argc; i++) {
		char key[128], other[128];
		__u64 v;

		if (split_arg(argv[i], key, sizeof(key), &v))
			return cmd_fail(EXIT_USAGE);
		if (strchr(key, ':')) {
			struct l4s_addr a;
			__u8 fam;
			__u16 port;

			if (parse_addr_port(key, &a, &fam, &port))
				return cmd_fail(EXIT_USAGE);
		}
		for (int j = 1; j < i; j++)
			if (!split_arg(argv[j], other, sizeof(other), &v) && !strcmp(key, other))
				return usage_error("\"%s\" is given twice (%s and %s): give each track "
						   "or backend once", key, argv[j], argv[i]);
	}
	rc = edit_service(argv[0], weight_edit, &w, &s, &res);
	if (!rc) {
		print_shares(&s);
		note_starved(&s, &res);
	}
	spec_free(&s);
	return rc;
}
