// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split service add / del */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"

int help_service(void)
{
	printf("Usage: l4split service add NAME FRONTEND [FRONTEND...] [--affinity client-ip|none]\n"
	       "                          [--table-size M]\n"
	       "       l4split service del NAME\n"
	       "  FRONTEND := VIP:PORT/{tcp|udp}   e.g. 10.96.0.10:80/tcp, [fd00::10]:53/udp\n"
	       "  --affinity client-ip  every flow of a client address goes to the same backend\n"
	       "  --table-size M        lookup table slots, a prime up to %d (default %d)\n",
	       L4S_TABLE_MAX, L4S_TABLE_DEFAULT);
	return 0;
}

static int svc_add(int argc, char **argv)
{
	struct l4s_frontend_key *fe = calloc((size_t)argc + 1, sizeof(*fe));
	struct l4s_service svc = {}, cur;
	struct l4s_state st;
	struct model m = {};
	const char *name = NULL;
	__u64 tsize = L4S_TABLE_DEFAULT;
	int nfe = 0, affinity = 0, err, rc = 1, inserted = 0;
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
		help_service();
		rc = usage_error("service add needs NAME and at least one VIP:PORT/proto");
		goto out_free;
	}

	err = state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK);
	if (err) {
		rc = cmd_fail(1);
		goto out_free;
	}
	if (svc_find(&st, name, &id) == 0) {
		l4s_err(EEXIST, "service \"%s\" already exists", name);
		l4s_hint("delete it first with 'l4split service del %s'", name);
		goto out;
	}
	for (int j = 0; j < nfe; j++) {
		struct l4s_frontend f;

		if (bpf_map_lookup_elem(st.frontends, &fe[j], &f) == 0) {
			bpf_map_lookup_elem(st.services, &f.svc_id, &cur);
			l4s_err(EEXIST, "frontend %s is already used by service \"%s\"",
				fmt_frontend(buf, &fe[j]), cur.name);
			goto out;
		}
	}
	for (id = 0; id < L4S_MAX_SERVICES; id++) {
		if (bpf_map_lookup_elem(st.services, &id, &cur)) {
			l4s_err(errno, "cannot read l4s_services: %s", strerror(errno));
			goto out;
		}
		if (!(cur.flags & L4S_SVC_F_IN_USE))
			break;
	}
	if (id == L4S_MAX_SERVICES) {
		l4s_err(ENOSPC, "no free service slot: all %d are in use", L4S_MAX_SERVICES);
		goto out;
	}

	strncpy(svc.name, name, L4S_NAME_LEN - 1);
	svc.flags = L4S_SVC_F_IN_USE | (affinity ? L4S_SVC_F_AFFINITY_CLIENT_IP : 0);
	svc.table_size = (__u32)tsize;
	svc.proto = fe[0].proto;
	svc.family = fe[0].family;
	svc.gen = cur.gen;
	m.id = id;
	m.svc = svc;
	/* An empty table first, then the service, then the frontends that make it live. */
	if (bpf_map_update_elem(st.services, &id, &svc, BPF_ANY)) {
		l4s_err(errno, "cannot write service: %s", strerror(errno));
		goto out;
	}
	{
		size_t sz = sizeof(struct l4s_service_stats) * (size_t)st.ncpus;
		void *z = calloc(1, sz);

		if (z) {
			bpf_map_update_elem(st.sstats, &id, z, BPF_ANY);
			free(z);
		}
	}
	if (table_swap(&st, &m))
		goto undo;
	for (inserted = 0; inserted < nfe; inserted++) {
		struct l4s_frontend f = { .svc_id = id };

		if (bpf_map_update_elem(st.frontends, &fe[inserted], &f, BPF_NOEXIST)) {
			l4s_err(errno, "cannot add frontend %s: %s", fmt_frontend(buf, &fe[inserted]),
				strerror(errno));
			goto undo;
		}
	}
	rc = 0;
	if (l4s_json) {
		json_t *fes = json_array();

		for (int j = 0; j < nfe; j++)
			json_array_append_new(fes, json_string(fmt_frontend(buf, &fe[j])));
		json_print(json_pack("{s:s, s:i, s:o, s:i}", "service", name, "id", id,
				     "frontends", fes, "table_size", (int)tsize));
	} else {
		printf("service %s added:", name);
		for (int j = 0; j < nfe; j++)
			printf(" %s", fmt_frontend(buf, &fe[j]));
		printf(" (table %llu slots%s)\n", (unsigned long long)tsize,
		       affinity ? ", client-ip affinity" : "");
	}
	goto out_close;
undo:
	while (inserted-- > 0)
		bpf_map_delete_elem(st.frontends, &fe[inserted]);
	bpf_map_delete_elem(st.tables, &id);
	memset(&svc, 0, sizeof(svc));
	bpf_map_update_elem(st.services, &id, &svc, BPF_ANY);
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
	struct model m;
	__u32 id;
	long flows;
	int err;

	if (argc >= 1 && is_help(argv[0]))
		return help_service();
	if (argc != 1)
		return usage_error("service del takes exactly one NAME");
	if (parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	err = state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK);
	if (err)
		return cmd_fail(1);
	if (svc_find(&st, argv[0], &id) || model_load(&st, id, &m)) {
		state_close(&st);
		return cmd_fail(1);
	}
	/* Unreachable first (frontends), then the table, then everything it named. */
	for (int i = 0; i < m.nfe; i++)
		bpf_map_delete_elem(st.frontends, &m.fe[i]);
	bpf_map_delete_elem(st.tables, &id);
	for (int i = 0; i < m.nbe; i++) {
		struct l4s_backend gone = { .gen = m.be[i].be.gen + 1 };
		struct l4s_weight w0 = {};

		bpf_map_update_elem(st.backends, &m.be[i].id, &gone, BPF_ANY);
		bpf_map_update_elem(st.weights, &m.be[i].id, &w0, BPF_ANY);
	}
	for (int i = 0; i < m.ntr; i++) {
		struct l4s_track_key tk = { .svc_id = id };

		strncpy(tk.name, m.tr[i].name, L4S_NAME_LEN - 1);
		bpf_map_delete_elem(st.tracks, &tk);
	}
	flows = flows_flush_service(&st, id);
	for (int i = 0; i < m.nbe; i++)
		flows_flush_backend(&st, m.be[i].id);
	{
		struct l4s_service gone = { .gen = m.svc.gen + 1 };

		bpf_map_update_elem(st.services, &id, &gone, BPF_ANY);
	}
	state_close(&st);
	if (l4s_json)
		json_print(json_pack("{s:s, s:i, s:I}", "deleted", argv[0], "backends", m.nbe,
				     "flows", (json_int_t)(flows > 0 ? flows : 0)));
	else
		printf("service %s deleted (%d backends, %ld flows dropped)\n", argv[0], m.nbe,
		       flows > 0 ? flows : 0);
	model_free(&m);
	return 0;
}

int do_service(int argc, char **argv)
{
	static const struct cmd cmds[] = {
		{ "add", svc_add }, { "del", svc_del }, { "delete", svc_del }, { NULL, NULL },
	};

	return cmd_dispatch(cmds, argc, argv, help_service, "service command");
}
