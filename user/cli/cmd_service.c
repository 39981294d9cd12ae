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
	       "                          [--table-size M] [--mode auto|nat|snat|dsr]\n"
	       "       l4split service mode NAME auto|nat|snat|dsr\n"
	       "       l4split service del NAME\n"
	       "  FRONTEND := VIP:PORT/{tcp|udp}   e.g. 10.96.0.10:80/tcp, [fd00::10]:53/udp\n"
	       "  --affinity client-ip  every flow of a client address goes to the same backend\n"
	       "  --table-size M        lookup table slots, a prime up to %d (default %d)\n"
	       "  --mode                how flows reach backends (new flows; default auto):\n"
	       "     nat   rewrite the destination only: the backend sees the client address;\n"
	       "           its replies must come back through this node\n"
	       "     snat  rewrite the source too, to this node's address and a port of its own\n"
	       "           (l4split node set --snat-addr): replies come back from anywhere\n"
	       "     auto  nat for backends on this node, snat for backends behind a gateway\n"
	       "     dsr   nat for backends on this node; remote backends answer the client\n"
	       "           directly, their node (running l4split) rewriting the source\n",
	       L4S_TABLE_MAX, L4S_TABLE_DEFAULT);
	return 0;
}

static int svc_add(int argc, char **argv)
{
	struct l4s_frontend_key *fe = calloc((size_t)argc + 1, sizeof(*fe));
	struct write_opts wo = { .how = WRITE_CREATE };
	struct write_result res;
	struct svc_spec spec;
	struct l4s_state st;
	const char *name = NULL;
	__u64 tsize = L4S_TABLE_DEFAULT;
	int nfe = 0, affinity = 0, err, rc = 1;
	__u8 mode = L4S_MODE_AUTO;
	__u32 id = L4S_MAX_SERVICES;
	char buf[96];

	if (!fe)
		return 1;
	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i])) {
			free(fe);
			return help_service();
		}
		if (!strcmp(argv[i], "--affinity")) {
			if (++i >= argc) {
				rc = usage_error("--affinity needs client-ip or none");
				goto out_free;
			}
			if (!strcmp(argv[i], "client-ip"))
				affinity = 1;
			else if (!strcmp(argv[i], "none"))
				affinity = 0;
			else {
				rc = usage_error("argument \"%s\" is wrong: --affinity is client-ip "
						 "or none", argv[i]);
				goto out_free;
			}
		} else if (!strcmp(argv[i], "--mode")) {
			if (++i >= argc) {
				rc = usage_error("--mode needs auto, nat, snat or dsr");
				goto out_free;
			}
			if (parse_mode(argv[i], &mode)) {
				rc = cmd_fail(EXIT_USAGE);
				goto out_free;
			}
		} else if (!strcmp(argv[i], "--table-size")) {
			if (++i >= argc) {
				rc = usage_error("--table-size needs a prime number");
				goto out_free;
			}
			if (parse_u64("table size", argv[i], 3, L4S_TABLE_MAX, &tsize)) {
				rc = cmd_fail(EXIT_USAGE);
				goto out_free;
			}
			if (!is_prime((__u32)tsize)) {
				__u32 lo = (__u32)tsize, hi = (__u32)tsize;

				while (lo > 2 && !is_prime(lo))
					lo--;
				while (hi < L4S_TABLE_MAX && !is_prime(hi))
					hi++;
				l4s_err(EINVAL, "table size %llu is wrong: it must be a prime",
					(unsigned long long)tsize);
				l4s_hint("the nearest primes are %u and %u", lo, hi);
				rc = cmd_fail(EXIT_USAGE);
				goto out_free;
			}
		} else if (argv[i][0] == '-') {
			rc = usage_error("unknown option \"%s\" for service add", argv[i]);
			goto out_free;
		} else if (!name) {
			name = argv[i];
			if (parse_name("service", name)) {
				rc = cmd_fail(EXIT_USAGE);
				goto out_free;
			}
		} else {
			if (parse_frontend(argv[i], &fe[nfe])) {
				rc = cmd_fail(EXIT_USAGE);
				goto out_free;
			}
			if (nfe && (fe[nfe].proto != fe[0].proto || fe[nfe].family != fe[0].family)) {
				rc = usage_error("frontend \"%s\" is wrong: all frontends of a service "
						 "share one protocol and address family", argv[i]);
				goto out_free;
			}
			for (int j = 0; j < nfe; j++)
				if (!memcmp(&fe[j], &fe[nfe], sizeof(fe[j]))) {
					rc = usage_error("frontend \"%s\" is given twice", argv[i]);
					goto out_free;
				}
			nfe++;
		}
	}
	if (!name || !nfe) {
		usage_help(help_service);
		rc = usage_error("service add needs NAME and at least one VIP:PORT/proto");
		goto out_free;
	}

	err = state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK);
	if (err) {
		rc = cmd_fail(1);
		goto out_free;
	}
	spec_init(&spec, name);
	spec.fe = fe;
	spec.nfe = nfe;
	spec.flags = affinity ? L4S_SVC_F_AFFINITY_CLIENT_IP : 0;
	spec.mode = mode;
	spec.table_size = (__u32)tsize;
	if (service_apply(&st, &spec, &wo, &res))
		goto out;
	id = res.id;
	rc = 0;
	if (l4s_json) {
		json_t *fes = json_array();

		for (int j = 0; j < nfe; j++)
			json_array_append_new(fes, json_string(fmt_frontend(buf, &fe[j])));
		json_print(json_pack("{s:s, s:i, s:o, s:i, s:s}", "service", name, "id", id,
				     "frontends", fes, "table_size", (int)tsize, "mode",
				     mode_name(mode)));
	} else {
		printf("service %s added:", name);
		for (int j = 0; j < nfe; j++)
			printf(" %s", fmt_frontend(buf, &fe[j]));
		printf(" (table %llu slots%s, mode %s)\n", (unsigned long long)tsize,
		       affinity ? ", client-ip affinity" : "", mode_name(mode));
	}
	goto out_close;
out:
	if (rc)
		rc = cmd_fail(1);
out_close:
	state_close(&st);
out_free:
	free(fe);
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

static int svc_mode(int argc, char **argv)
{
	struct write_opts wo = { .how = WRITE_UPDATE };
	struct write_result res;
	struct svc_spec s = {};
	struct l4s_state st;
	__u8 mode;
	int rc = 1;

	if (argc >= 1 && is_help(argv[0]))
		return help_service();
	if (argc != 2)
		return usage_error("service mode takes a NAME and auto, nat, snat or dsr");
	if (parse_name("service", argv[0]) || parse_mode(argv[1], &mode))
		return cmd_fail(EXIT_USAGE);
	if (state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK))
		return cmd_fail(1);
	if (service_get(&st, argv[0], &s))
		goto out;
	s.mode = mode;
	if (service_apply(&st, &s, &wo, &res))
		goto out;
	rc = 0;
	if (l4s_json)
		json_print(json_pack("{s:s, s:s}", "service", argv[0], "mode", mode_name(mode)));
	else
		printf("service %s: mode %s (new flows; established ones keep their path)\n",
		       argv[0], mode_name(mode));
out:
	if (rc)
		rc = cmd_fail(1);
	spec_free(&s);
	state_close(&st);
	return rc;
}

int do_service(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", svc_add }, { "del", svc_del }, { "delete", svc_del }, { "mode", svc_mode },
		{ NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, help_service, "service command");
}
