// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split backend add / del, and l4split weight */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"

#define DEFAULT_TRACK "default"

int help_backend(void)
{
	printf("Usage: l4split backend add NAME ADDR:PORT [--track T] [--weight W]\n"
	       "       l4split backend del NAME ADDR:PORT\n"
	       "  --track T   the track (version) of the backend, default \"" DEFAULT_TRACK "\".\n"
	       "              The first track of a service starts with weight 1, any later new\n"
	       "              track with weight 0 (no traffic until 'l4split weight').\n"
	       "  --weight W  weight inside the track (default 1)\n");
	return 0;
}

int help_weight(void)
{
	printf("Usage: l4split weight NAME { TRACK=W | ADDR:PORT=W } ...\n"
	       "  Set track weights (old=99 new=1) or backend weights inside their track\n"
	       "  (10.0.0.1:80=2). W is a non-negative decimal; weights are relative; 0 drains:\n"
	       "  no new flows, existing flows continue. All changes apply in one table swap.\n");
	return 0;
}

/* Share (percent) of new flows that track @t of @m gets. */
static double track_share(struct model *m, const char *t, unsigned __int128 total)
{
	unsigned __int128 sum = 0;

	for (int i = 0; i < m->nbe; i++)
		if (!m->be[i].removed && !strcmp(m->be[i].be.track, t))
			sum += m->be[i].effective;
	return total ? (double)sum * 100.0 / (double)total : 0.0;
}

/* Print the service's tracks and shares after a change. */
static void print_shares(struct model *m)
{
	json_t *tracks = json_object();
	unsigned __int128 total = 0;
	char w[32];

	model_effective(m);
	for (int i = 0; i < m->nbe; i++)
		if (!m->be[i].removed)
			total += m->be[i].effective;
	if (!l4s_json)
		printf("%s:", m->svc.name);
	for (int t = 0; t < m->ntr; t++) {
		double share = track_share(m, m->tr[t].name, total);

		if (m->tr[t].removed)
			continue;
		if (l4s_json)
			json_object_set_new(tracks, m->tr[t].name,
					    json_pack("{s:f, s:f}", "weight",
						      (double)m->tr[t].weight / L4S_WEIGHT_ONE,
						      "share", share));
		else
			printf(" %s=%s (%.2f%%)", m->tr[t].name, fmt_weight(w, m->tr[t].weight),
			       share);
	}
	if (l4s_json) {
		json_print(json_pack("{s:s, s:o}", "service", m->svc.name, "tracks", tracks));
		return;
	}
	json_decref(tracks);
	printf("\n");
	if (!total)
		l4s_note("Note: no backend of %s has a weight above 0: it takes no new flows\n",
			 m->svc.name);
}

static int be_add(int argc, char **argv)
{
	const char *name = NULL, *addr = NULL, *track = DEFAULT_TRACK;
	struct l4s_state st;
	struct model m = {};
	struct model_backend *b, *tmp;
	struct l4s_addr a;
	__u64 weight = L4S_WEIGHT_ONE;
	__u8 family;
	__u16 port;
	__u32 id, sid;
	char buf[96];
	int rc = 1, have_track = 0, have_weight = 0;

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_backend();
		if (!strcmp(argv[i], "--track")) {
			if (++i >= argc)
				return usage_error("--track needs a name");
			if (have_track++)
				return usage_error("--track is given twice");
			track = argv[i];
			if (parse_name("track", track))
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(argv[i], "--weight")) {
			if (++i >= argc)
				return usage_error("--weight needs a number");
			if (have_weight++)
				return usage_error("--weight is given twice");
			if (parse_weight(argv[i], &weight))
				return cmd_fail(EXIT_USAGE);
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option \"%s\" for backend add", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else if (!addr) {
			addr = argv[i];
		} else {
			return usage_error("backend add takes NAME ADDR:PORT, got \"%s\" too", argv[i]);
		}
	}
	if (!name || !addr) {
		help_backend();
		return usage_error("backend add needs NAME and ADDR:PORT");
	}
	if (parse_name("service", name) || parse_addr_port(addr, &a, &family, &port))
		return cmd_fail(EXIT_USAGE);

	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (svc_find(&st, name, &sid) || model_load(&st, sid, &m))
		goto out;
	if (family != m.svc.family) {
		l4s_err(EINVAL, "backend %s is IPv%d but service \"%s\" is IPv%d", addr, family,
			name, m.svc.family);
		l4s_hint("a service and its backends use one address family");
		goto out;
	}
	b = model_backend_find(&m, &a, family, port);
	if (b) {
		l4s_err(EEXIST, "%s is already a backend of \"%s\" (track %s)",
			fmt_addr_port(buf, &a, family, port), name, b->be.track);
		l4s_hint("change its weight with 'l4split weight %s %s=W'", name, addr);
		goto out;
	}
	if (m.nbe >= L4S_MAX_BACKENDS_PER_SVC) {
		l4s_err(E2BIG, "service \"%s\" has %d backends, the most a service may have",
			name, m.nbe);
		l4s_hint("remove backends it no longer needs first");
		goto out;
	}
	if (backend_alloc(&st, &id, NULL, 0))
		goto out;
	tmp = realloc(m.be, sizeof(*tmp) * (size_t)(m.nbe + 1));
	if (!tmp) {
		l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	m.be = tmp;
	b = &m.be[m.nbe++];
	memset(b, 0, sizeof(*b));
	b->id = id;
	b->be.addr = a;
	b->be.port = htons(port);
	b->be.family = family;
	strncpy(b->be.track, track, L4S_NAME_LEN - 1);
	b->weight = weight;
	if (!model_track(&m, track)) {
		int first = 1;

		for (int t = 0; t < m.ntr; t++)
			if (!m.tr[t].removed)
				first = 0;
		if (!model_track_add(&m, track, first ? L4S_WEIGHT_ONE : 0)) {
			l4s_err(ENOMEM, "out of memory");
			goto out;
		}
		if (!first)
			l4s_note("Note: new track \"%s\" starts with weight 0: it gets no traffic "
				 "until 'l4split weight %s %s=W'\n", track, name, track);
	}
	if (model_commit(&st, &m))
		goto out;
	rc = 0;
	if (!l4s_json)
		printf("backend %s added to %s (track %s)\n", fmt_addr_port(buf, &a, family, port),
		       name, track);
	print_shares(&m);
out:
	if (rc)
		rc = cmd_fail(1);
	model_free(&m);
	state_close(&st);
	return rc;
}

static int be_del(int argc, char **argv)
{
	struct l4s_state st;
	struct model m = {};
	struct model_backend *b;
	struct l4s_addr a;
	__u8 family;
	__u16 port;
	__u32 sid;
	char buf[96];
	int rc = 1;

	if (argc >= 1 && is_help(argv[0]))
		return help_backend();
	if (argc != 2)
		return usage_error("backend del takes NAME ADDR:PORT");
	if (parse_name("service", argv[0]) || parse_addr_port(argv[1], &a, &family, &port))
		return cmd_fail(EXIT_USAGE);
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (svc_find(&st, argv[0], &sid) || model_load(&st, sid, &m))
		goto out;
	b = model_backend_find(&m, &a, family, port);
	if (!b) {
		l4s_err(ENOENT, "%s is not a backend of \"%s\"", fmt_addr_port(buf, &a, family, port),
			argv[0]);
		l4s_hint("'l4split status %s' lists its backends", argv[0]);
		goto out;
	}
	b->removed = 1;
	{
		/* A track left without backends goes with its last backend. */
		int others = 0;
		struct model_track *t = model_track(&m, b->be.track);

		for (int i = 0; i < m.nbe; i++)
			if (!m.be[i].removed && !strcmp(m.be[i].be.track, b->be.track))
				others++;
		if (!others && t)
			t->removed = 1;
	}
	if (model_commit(&st, &m))
		goto out;
	rc = 0;
	if (!l4s_json) {
		printf("backend %s deleted from %s", fmt_addr_port(buf, &a, family, port), argv[0]);
		if (b->flows)
			printf("; %llu of its flows were dropped from the flow table",
			       (unsigned long long)b->flows);
		printf("\n");
	} else {
		json_print(json_pack("{s:s, s:s, s:I}", "service", argv[0], "deleted",
				     fmt_addr_port(buf, &a, family, port), "flows_dropped",
				     (json_int_t)b->flows));
	}
out:
	if (rc)
		rc = cmd_fail(1);
	model_free(&m);
	state_close(&st);
	return rc;
}

int do_backend(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", be_add }, { "del", be_del }, { "delete", be_del }, { NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, help_backend, "backend command");
}

int do_weight(int argc, char **argv)
{
	struct l4s_state st;
	struct model m = {};
	__u32 sid;
	int rc = 1;

	if (argc >= 1 && is_help(argv[0]))
		return help_weight();
	if (argc < 2) {
		help_weight();
		return usage_error("weight needs NAME and at least one TRACK=W or ADDR:PORT=W");
	}
	if (parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	/* Syntax of every argument first: nothing is opened before all of it parses. */
	for (int i = 1; i < argc; i++) {
		char *eq = strrchr(argv[i], '=');
		__u64 w;

		if (!eq || eq == argv[i])
			return usage_error("argument \"%s\" is wrong: expected TRACK=W or "
					   "ADDR:PORT=W", argv[i]);
		if (parse_weight(eq + 1, &w))
			return cmd_fail(EXIT_USAGE);
	}
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (svc_find(&st, argv[0], &sid) || model_load(&st, sid, &m))
		goto out;
	for (int i = 1; i < argc; i++) {
		char key[128], *eq = strrchr(argv[i], '=');
		size_t kl = (size_t)(eq - argv[i]);
		__u64 w;

		parse_weight(eq + 1, &w);
		if (kl >= sizeof(key)) {
			l4s_err(EINVAL, "argument \"%.40s...\" is wrong: too long", argv[i]);
			goto out;
		}
		memcpy(key, argv[i], kl);
		key[kl] = 0;
		if (strchr(key, ':')) {
			struct l4s_addr a;
			__u8 fam;
			__u16 port;
			struct model_backend *b;

			if (parse_addr_port(key, &a, &fam, &port)) {
				rc = cmd_fail(EXIT_USAGE);
				goto out_nofail;
			}
			b = model_backend_find(&m, &a, fam, port);
			if (!b) {
				l4s_err(ENOENT, "%s is not a backend of \"%s\"", key, argv[0]);
				l4s_hint("'l4split status %s' lists its backends", argv[0]);
				goto out;
			}
			b->weight = w;
		} else {
			struct model_track *t = model_track(&m, key);

			if (!t) {
				char known[256] = "";

				for (int j = 0; j < m.ntr; j++) {
					strncat(known, j ? ", " : "", sizeof(known) - strlen(known) - 1);
					strncat(known, m.tr[j].name, sizeof(known) - strlen(known) - 1);
				}
				l4s_err(ENOENT, "service \"%s\" has no track \"%s\"", argv[0], key);
				if (m.ntr)
					l4s_hint("its tracks are: %s", known);
				else
					l4s_hint("add backends first: 'l4split backend add %s ADDR:PORT "
						 "--track %s'", argv[0], key);
				goto out;
			}
			t->weight = w;
		}
	}
	if (model_commit(&st, &m))
		goto out;
	rc = 0;
	print_shares(&m);
out:
	if (rc)
		rc = cmd_fail(1);
out_nofail:
	model_free(&m);
	state_close(&st);
	return rc;
}
