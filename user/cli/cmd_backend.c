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

static int be_add(int argc, char **argv)
{
	const char *name = NULL, *addr = NULL, *track = DEFAULT_TRACK;
	struct write_opts wo = { .how = WRITE_UPDATE };
	struct write_result res;
	struct svc_spec s = {};
	struct l4s_state st;
	struct spec_backend *b;
	struct l4s_addr a;
	__u64 weight = L4S_WEIGHT_ONE;
	__u8 family;
	__u16 port;
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
		usage_help(help_backend);
		return usage_error("backend add needs NAME and ADDR:PORT");
	}
	if (parse_name("service", name) || parse_addr_port(addr, &a, &family, &port))
		return cmd_fail(EXIT_USAGE);

	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (service_get(&st, name, &s))
		goto out;
	if (s.nfe && family != s.fe[0].family) {
		l4s_err(EINVAL, "backend %s is IPv%d but service \"%s\" is IPv%d", addr, family,
			name, s.fe[0].family);
		l4s_hint("a service and its backends use one address family");
		goto out;
	}
	b = spec_backend(&s, &a, family, port);
	if (b) {
		l4s_err(EEXIST, "%s is already a backend of \"%s\" (track %s)",
			fmt_addr_port(buf, &a, family, port), name, b->track);
		l4s_hint("change its weight with 'l4split weight %s %s=W'", name, addr);
		goto out;
	}
	if (s.nbe >= L4S_MAX_BACKENDS_PER_SVC) {
		l4s_err(E2BIG, "service \"%s\" has %d backends, the most a service may have",
			name, s.nbe);
		l4s_hint("remove backends it no longer needs first");
		goto out;
	}
	if (!spec_track(&s, track)) {
		/* The first track of a service (no backend yet) starts at 1, a later one at
		 * 0: adding a canary never shifts traffic by itself. */
		int first = s.nbe == 0;

		if (!spec_track_add(&s, track, first ? L4S_WEIGHT_ONE : 0)) {
			l4s_err(ENOMEM, "out of memory");
			goto out;
		}
		if (!first)
			l4s_note("Note: new track \"%s\" starts with weight 0: it gets no traffic "
				 "until 'l4split weight %s %s=W'\n", track, name, track);
	}
	if (!spec_backend_add(&s, &a, family, port, track, weight)) {
		l4s_err(ENOMEM, "out of memory");
		goto out;
	}
	if (service_apply(&st, &s, &wo, &res))
		goto out;
	rc = 0;
	if (!l4s_json)
		printf("backend %s added to %s (track %s)\n", fmt_addr_port(buf, &a, family, port),
		       name, track);
	print_shares(&s);
	note_starved(&s, &res);
out:
	if (rc)
		rc = cmd_fail(1);
	spec_free(&s);
	state_close(&st);
	return rc;
}

static int be_del(int argc, char **argv)
{
	struct write_opts wo = { .how = WRITE_UPDATE };
	struct write_result res;
	struct svc_spec s = {};
	struct l4s_state st;
	struct spec_backend *b;
	struct l4s_addr a;
	__u8 family;
	__u16 port;
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
	if (service_get(&st, argv[0], &s))
		goto out;
	b = spec_backend(&s, &a, family, port);
	if (!b) {
		l4s_err(ENOENT, "%s is not a backend of \"%s\"", fmt_addr_port(buf, &a, family, port),
			argv[0]);
		l4s_hint("'l4split status %s' lists its backends", argv[0]);
		goto out;
	}
	/* Its track stays, with its weight: a replacement backend gets the same share. */
	spec_backend_del(b, &s);
	if (service_apply(&st, &s, &wo, &res))
		goto out;
	rc = 0;
	if (!l4s_json) {
		printf("backend %s deleted from %s", fmt_addr_port(buf, &a, family, port), argv[0]);
		if (res.flows_dropped)
			printf("; %ld of its flows were dropped from the flow table",
			       res.flows_dropped);
		printf("\n");
	} else {
		json_print(json_pack("{s:s, s:s, s:I}", "service", argv[0], "deleted",
				     fmt_addr_port(buf, &a, family, port), "flows_dropped",
				     (json_int_t)res.flows_dropped));
	}
out:
	if (rc)
		rc = cmd_fail(1);
	spec_free(&s);
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
