// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split service add / del */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"
#include "writer.h"

int help_service(void)
{
	printf("Usage: l4split service add NAME FRONTEND [FRONTEND...] [--affinity client-ip|none]\n"
	       "                          [--affinity-timeout SECONDS] [--table-size M]\n"
	       "                          [--mode auto|nat|snat|dsr]\n"
	       "       l4split service mode NAME [auto|nat|snat|dsr] [--affinity client-ip|none]\n"
	       "                          [--affinity-timeout SECONDS]\n"
	       "       l4split service del NAME\n"
	       "  FRONTEND := VIP:PORT/{tcp|udp}   e.g. 10.96.0.10:80/tcp, [fd00::10]:53/udp\n"
	       "  --affinity client-ip  every flow of a client address goes to the same backend\n"
	       "                        (a hash of the address: clients move when weights change)\n"
	       "  --affinity-timeout S  with client-ip: a client that opened a flow in the last S\n"
	       "                        seconds (1 to %d; Kubernetes' default is %d) gets the\n"
	       "                        same backend for its new flows, whatever the weights do,\n"
	       "                        until that backend is removed or drained (weight 0)\n"
	       "  --table-size M        lookup table slots, a prime up to %d (default %d)\n"
	       "  --mode                how flows reach backends (new flows; default auto):\n"
	       "     nat   rewrite the destination only: the backend sees the client address;\n"
	       "           its replies must come back through this node\n"
	       "     snat  rewrite the source too, to this node's address and a port of its own\n"
	       "           (l4split node set --snat-addr): replies come back from anywhere\n"
	       "     auto  nat for backends on this node, snat for backends behind a gateway\n"
	       "     dsr   nat for backends on this node; remote backends answer the client\n"
	       "           directly, their node (running l4split) rewriting the source\n",
	       L4S_AFFINITY_TIMEOUT_MAX, L4S_AFFINITY_TIMEOUT_DEFAULT, L4S_TABLE_MAX,
	       L4S_TABLE_DEFAULT);
	return 0;
}

/* --affinity-timeout's seconds. 0 or -EINVAL with a message. */
static int affinity_timeout_arg(const char *arg, __u32 *out)
{
	__u64 t;

	if (parse_u64("affinity timeout", arg, 1, L4S_AFFINITY_TIMEOUT_MAX, &t))
		return -EINVAL;
	*out = (__u32)t;
	return 0;
}

/* The table size of --table-size: a prime (the nearest ones named when it is not). */
static int table_size_arg(const char *arg, __u32 *out)
{
	__u64 tsize;

	if (parse_u64("table size", arg, 3, L4S_TABLE_MAX, &tsize))
		return -EINVAL;
	if (!is_prime((__u32)tsize)) {
		__u32 lo = (__u32)tsize, hi = (__u32)tsize;

		while (lo > 2 && !is_prime(lo))
			lo--;
		while (hi < L4S_TABLE_MAX && !is_prime(hi))
			hi++;
		l4s_err(EINVAL, "table size %llu is wrong: it must be a prime",
			(unsigned long long)tsize);
		l4s_hint("the nearest primes are %u and %u", lo, hi);
		return -EINVAL;
	}
	*out = (__u32)tsize;
	return 0;
}

/* service add's words as a spec. 0, or the exit code of a usage error (printed). */
static int svc_add_args(int argc, char **argv, struct svc_spec *s)
{
	const char *seen[4] = {}; /* each option once */
	static const char *const opts[4] = { "--affinity", "--mode", "--table-size",
					     "--affinity-timeout" };
	static const char *const needs[4] = { "client-ip or none", "auto, nat, snat or dsr",
					      "a prime number", "seconds" };

	for (int i = 0; i < argc; i++) {
		int o;

		for (o = 0; o < 4 && strcmp(argv[i], opts[o]); o++)
			;
		if (o < 4) {
			if (i + 1 >= argc)
				return usage_error("%s needs %s", opts[o], needs[o]);
			if (seen[o])
				return usage_error("%s is given twice (%s and %s)", opts[o], seen[o],
						   argv[i + 1]);
			seen[o] = argv[++i];
		}
		if (o == 0) {
			if (!strcmp(argv[i], "client-ip"))
				s->flags |= L4S_SVC_F_AFFINITY_CLIENT_IP;
			else if (strcmp(argv[i], "none"))
				return usage_error("argument \"%s\" is wrong: --affinity is client-ip "
						   "or none", argv[i]);
		} else if (o == 1) {
			if (parse_mode(argv[i], &s->mode))
				return cmd_fail(EXIT_USAGE);
		} else if (o == 2) {
			if (table_size_arg(argv[i], &s->table_size))
				return cmd_fail(EXIT_USAGE);
		} else if (o == 3) {
			if (affinity_timeout_arg(argv[i], &s->affinity_timeout))
				return cmd_fail(EXIT_USAGE);
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option \"%s\" for service add", argv[i]);
		} else if (!s->name[0]) {
			if (parse_name("service", argv[i]))
				return cmd_fail(EXIT_USAGE);
			snprintf(s->name, sizeof(s->name), "%s", argv[i]);
		} else {
			struct l4s_frontend_key k;

			if (parse_frontend(argv[i], &k))
				return cmd_fail(EXIT_USAGE);
			if (s->nfe && (k.proto != s->fe[0].proto || k.family != s->fe[0].family))
				return usage_error("frontend \"%s\" is wrong: all frontends of a service "
						   "share one protocol and address family", argv[i]);
			for (int j = 0; j < s->nfe; j++)
				if (!memcmp(&s->fe[j], &k, sizeof(k)))
					return usage_error("frontend \"%s\" is given twice", argv[i]);
			if (spec_add_frontend(s, &k))
				return cmd_fail(1);
		}
	}
	if (!s->name[0] || !s->nfe) {
		usage_help(help_service);
		return usage_error("service add needs NAME and at least one VIP:PORT/proto");
	}
	if (s->affinity_timeout && !(s->flags & L4S_SVC_F_AFFINITY_CLIENT_IP))
		return usage_error("--affinity-timeout needs --affinity client-ip");
	return 0;
}

static int svc_add(int argc, char **argv)
{
	struct write_opts wo = { .how = WRITE_CREATE };
	struct write_result res;
	struct svc_spec s;
	struct l4s_state st;
	char buf[96];
	int rc;

	for (int i = 0; i < argc; i++)
		if (is_help(argv[i]))
			return help_service();
	spec_init(&s, NULL);
	rc = svc_add_args(argc, argv, &s);
	if (rc) {
		spec_free(&s);
		return rc;
	}
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK)) {
		spec_free(&s);
		return cmd_fail(1);
	}
	rc = service_apply(&st, &s, &wo, &res) ? cmd_fail(1) : 0;
	state_close(&st);
	if (!rc && l4s_json) {
		json_t *fes = json_array();

		for (int j = 0; j < s.nfe; j++)
			json_array_append_new(fes, json_string(fmt_frontend(buf, &s.fe[j])));
		json_print(json_pack("{s:s, s:i, s:o, s:i, s:s, s:i}", "service", s.name, "id",
				     res.id, "frontends", fes, "table_size", (int)s.table_size, "mode",
				     mode_name(s.mode), "affinity_timeout", (int)s.affinity_timeout));
	} else if (!rc) {
		printf("service %s added:", s.name);
		for (int j = 0; j < s.nfe; j++)
			printf(" %s", fmt_frontend(buf, &s.fe[j]));
		printf(" (table %u slots%s", s.table_size,
		       s.flags & L4S_SVC_F_AFFINITY_CLIENT_IP ? ", client-ip affinity" : "");
		if (s.affinity_timeout)
			printf(" for %u s", s.affinity_timeout);
		printf(", mode %s)\n", mode_name(s.mode));
	}
	spec_free(&s);
	return rc;
}

static int svc_del(int argc, char **argv)
{
	struct l4s_state st;
	__u32 id;
	long flows = 0;
	int nbe = 0;

	if (argc >= 1 && is_help(argv[0]))
		return help_service();
	if (argc != 1)
		return usage_error("service del takes exactly one NAME");
	if (parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (svc_find(&st, argv[0], &id) || service_delete(&st, id, &nbe, &flows)) {
		state_close(&st);
		return cmd_fail(1);
	}
	state_close(&st);
	if (l4s_json)
		json_print(json_pack("{s:s, s:i, s:I}", "deleted", argv[0], "backends", nbe,
				     "flows", (json_int_t)flows));
	else
		printf("service %s deleted (%d backends, %ld flows dropped)\n", argv[0], nbe, flows);
	return 0;
}

/* What 'service mode' changes: the mode, the affinity, its timeout (-1: kept). */
struct svc_mode_change {
	int mode, affinity;
	long timeout;
};

static int svc_mode_edit(struct svc_spec *s, void *ctx)
{
	const struct svc_mode_change *c = ctx;

	if (c->mode >= 0)
		s->mode = (__u8)c->mode;
	if (c->affinity == 0) {
		s->flags &= ~L4S_SVC_F_AFFINITY_CLIENT_IP;
		s->affinity_timeout = 0; /* no timeout without the affinity */
	} else if (c->affinity == 1) {
		s->flags |= L4S_SVC_F_AFFINITY_CLIENT_IP;
	}
	if (c->timeout >= 0)
		s->affinity_timeout = (__u32)c->timeout;
	if (s->affinity_timeout && !(s->flags & L4S_SVC_F_AFFINITY_CLIENT_IP)) {
		l4s_err(EINVAL, "service \"%s\" has no client-ip affinity: a timeout needs it",
			s->name);
		l4s_hint("add --affinity client-ip");
		return -EINVAL;
	}
	return 0;
}

static int svc_mode(int argc, char **argv)
{
	struct svc_mode_change c = { -1, -1, -1 };
	struct write_result res;
	struct svc_spec s;
	int rc;

	if (argc >= 1 && is_help(argv[0]))
		return help_service();
	if (argc < 2)
		return usage_error("service mode takes a NAME and auto, nat, snat or dsr, "
				   "--affinity or --affinity-timeout");
	if (parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	for (int i = 1; i < argc; i++) {
		int aff = !strcmp(argv[i], "--affinity"), tmo = !strcmp(argv[i], "--affinity-timeout");
		__u32 t;

		if ((aff || tmo) && i + 1 >= argc)
			return usage_error("%s needs %s", argv[i], aff ? "client-ip or none" : "seconds");
		if (aff) {
			i++;
			if (strcmp(argv[i], "client-ip") && strcmp(argv[i], "none"))
				return usage_error("argument \"%s\" is wrong: --affinity is client-ip "
						   "or none", argv[i]);
			c.affinity = !strcmp(argv[i], "client-ip");
		} else if (tmo) {
			if (affinity_timeout_arg(argv[++i], &t))
				return cmd_fail(EXIT_USAGE);
			c.timeout = t;
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option \"%s\" for service mode", argv[i]);
		} else {
			__u8 mode;

			if (c.mode >= 0)
				return usage_error("service mode takes one mode (%s and %s)",
						   mode_name((__u8)c.mode), argv[i]);
			if (parse_mode(argv[i], &mode))
				return cmd_fail(EXIT_USAGE);
			c.mode = mode;
		}
	}
	rc = edit_service(argv[0], svc_mode_edit, &c, &s, &res);
	if (rc) {
		spec_free(&s);
		return rc;
	}
	if (l4s_json) {
		json_print(json_pack("{s:s, s:s, s:s, s:i}", "service", argv[0], "mode",
				     mode_name(s.mode), "affinity",
				     s.flags & L4S_SVC_F_AFFINITY_CLIENT_IP ? "client-ip" : "none",
				     "affinity_timeout", (int)s.affinity_timeout));
	} else {
		printf("service %s: mode %s", argv[0], mode_name(s.mode));
		if (s.flags & L4S_SVC_F_AFFINITY_CLIENT_IP)
			printf(", client-ip affinity");
		if (s.affinity_timeout)
			printf(" for %u s", s.affinity_timeout);
		printf(" (new flows; established ones keep their path)\n");
	}
	spec_free(&s);
	return 0;
}

int do_service(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", svc_add }, { "del", svc_del }, { "delete", svc_del }, { "mode", svc_mode },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, help_service, "service command");
}
