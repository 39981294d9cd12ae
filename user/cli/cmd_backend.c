// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split backend add / del: the service read as a spec, changed, written back. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "parse.h"
#include "state.h"
#include "writer.h"

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

struct be_change {
	const char *name, *addr, *track;
	struct l4s_addr a;
	__u8 family;
	__u16 port;
	__u64 weight;
};

static int be_add_edit(struct svc_spec *s, void *ctx)
{
	const struct be_change *c = ctx;
	struct spec_backend *b;
	char buf[96];

	if (s->nfe && c->family != s->fe[0].family) {
		l4s_err(EINVAL, "backend %s is IPv%d but service \"%s\" is IPv%d", c->addr, c->family,
			c->name, s->fe[0].family);
		l4s_hint("a service and its backends use one address family");
		return -EINVAL;
	}
	b = spec_backend(s, &c->a, c->family, c->port);
	if (b) {
		l4s_err(EEXIST, "%s is already a backend of \"%s\" (track %s)",
			fmt_addr_port(buf, &c->a, c->family, c->port), c->name, b->track);
		l4s_hint("change its weight with 'l4split weight %s %s=W'", c->name, c->addr);
		return -EEXIST;
	}
	if (s->nbe >= L4S_MAX_BACKENDS_PER_SVC) {
		l4s_err(E2BIG, "service \"%s\" has %d backends, the most a service may have",
			c->name, s->nbe);
		l4s_hint("remove backends it no longer needs first");
		return -E2BIG;
	}
	if (!spec_track(s, c->track)) {
		/* The first track of a service (no backend yet) starts at 1, a later one at
		 * 0: adding a canary never shifts traffic by itself. */
		int first = s->nbe == 0;

		if (!spec_track_add(s, c->track, first ? L4S_WEIGHT_ONE : 0))
			return l4s_err(ENOMEM, "out of memory");
		if (!first)
			l4s_note("Note: new track \"%s\" starts with weight 0: it gets no traffic "
				 "until 'l4split weight %s %s=W'\n", c->track, c->name, c->track);
	}
	if (!spec_backend_add(s, &c->a, c->family, c->port, c->track, c->weight))
		return l4s_err(ENOMEM, "out of memory");
	return 0;
}

static int be_add(int argc, char **argv)
{
	struct be_change c = { .track = DEFAULT_TRACK, .weight = L4S_WEIGHT_ONE };
	int have_track = 0, have_weight = 0, rc;
	struct write_result res;
	struct svc_spec s;
	char buf[96];

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_backend();
		if (!strcmp(argv[i], "--track")) {
			if (++i >= argc)
				return usage_error("--track needs a name");
			if (have_track++)
				return usage_error("--track is given twice (%s and %s)", c.track,
						   argv[i]);
			c.track = argv[i];
			if (parse_name("track", c.track))
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(argv[i], "--weight")) {
			if (++i >= argc)
				return usage_error("--weight needs a number");
			if (have_weight++)
				return usage_error("--weight is given twice");
			if (parse_weight(argv[i], &c.weight))
				return cmd_fail(EXIT_USAGE);
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option \"%s\" for backend add", argv[i]);
		} else if (!c.name) {
			c.name = argv[i];
		} else if (!c.addr) {
			c.addr = argv[i];
		} else {
			return usage_error("backend add takes NAME ADDR:PORT, got \"%s\" too", argv[i]);
		}
	}
	if (!c.name || !c.addr) {
		usage_help(help_backend);
		return usage_error("backend add needs NAME and ADDR:PORT");
	}
	if (parse_name("service", c.name) || parse_addr_port(c.addr, &c.a, &c.family, &c.port))
		return cmd_fail(EXIT_USAGE);
	rc = edit_service(c.name, be_add_edit, &c, &s, &res);
	if (!rc) {
		if (!l4s_json)
			printf("backend %s added to %s (track %s)\n",
			       fmt_addr_port(buf, &c.a, c.family, c.port), c.name, c.track);
		print_shares(&s);
		note_starved(&s, &res);
	}
	spec_free(&s);
	return rc;
}

static int be_del_edit(struct svc_spec *s, void *ctx)
{
	const struct be_change *c = ctx;
	struct spec_backend *b = spec_backend(s, &c->a, c->family, c->port);
	char buf[96];

	if (!b) {
		l4s_err(ENOENT, "%s is not a backend of \"%s\"",
			fmt_addr_port(buf, &c->a, c->family, c->port), c->name);
		l4s_hint("'l4split status %s' lists its backends", c->name);
		return -ENOENT;
	}
	/* Its track stays, with its weight: a replacement backend gets the same share. */
	spec_backend_del(b, s);
	return 0;
}

static int be_del(int argc, char **argv)
{
	struct be_change c = {};
	struct write_result res;
	struct svc_spec s;
	char buf[96];
	int rc;

	if (argc >= 1 && is_help(argv[0]))
		return help_backend();
	if (argc != 2)
		return usage_error("backend del takes NAME ADDR:PORT");
	c.name = argv[0];
	if (parse_name("service", c.name) || parse_addr_port(argv[1], &c.a, &c.family, &c.port))
		return cmd_fail(EXIT_USAGE);
	rc = edit_service(c.name, be_del_edit, &c, &s, &res);
	fmt_addr_port(buf, &c.a, c.family, c.port);
	if (!rc && !l4s_json) {
		printf("backend %s deleted from %s", buf, c.name);
		if (res.flows_dropped)
			printf("; %ld of its flows were dropped from the flow table",
			       res.flows_dropped);
		printf("\n");
	} else if (!rc) {
		json_print(json_pack("{s:s, s:s, s:I}", "service", c.name, "deleted", buf,
				     "flows_dropped", (json_int_t)res.flows_dropped));
	}
	spec_free(&s);
	return rc;
}

int do_backend(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", be_add }, { "del", be_del }, { "delete", be_del }, { NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, help_backend, "backend command");
}
