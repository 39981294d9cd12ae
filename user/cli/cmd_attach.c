// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split attach / detach */
#include <stdio.h>
#include <string.h>
#include "attach.h"
#include "attach_cgroup.h"
#include "cmd.h"
#include "err.h"
#include "parse.h"
#include "state.h"
#include "svc.h"

int help_attach(void)
{
	printf("Usage: l4split attach DEV [--xdp-mode native|generic] [--tc-only] [--flows N]\n"
	       "                          [--backends N] [--redirect-target]\n"
	       "       l4split attach --cgroup PATH [--flows N] [--backends N]\n"
	       "  Load the programs (reusing the pinned state) and attach them to DEV: XDP (or tc\n"
	       "  ingress with --tc-only) for the forward path, tc egress for replies.\n"
	       "  --cgroup PATH      the socket path instead, for clients on this node: sockets of\n"
	       "                     processes in the cgroup v2 PATH (and below) that connect or\n"
	       "                     send to a VIP get a backend by the same weights, and talk to\n"
	       "                     it directly. PATH may be an empty directory: cgroup2 is\n"
	       "                     mounted on it (its root cgroup: every process)\n"
	       "  --flows N          flow table size when the state is created (default %d)\n"
	       "  --backends N       backend capacity (over all services) when the state is\n"
	       "                     created (default %d, %d to %d); kernel memory about\n"
	       "                     (16 x CPUs + 88) bytes a backend for its counters\n"
	       "  --redirect-target  XDP may redirect frames out of DEV (it must accept XDP frames)\n",
	       L4S_FLOWS_DEFAULT, L4S_MAX_BACKENDS, L4S_BACKENDS_MIN, L4S_BACKENDS_LIMIT);
	return 0;
}

int help_detach(void)
{
	printf("Usage: l4split detach { DEV | --cgroup PATH | --all [--purge] }\n"
	       "  Remove l4split's programs from DEV, from the cgroup PATH, or from every device\n"
	       "  of this network namespace and every cgroup. --purge also removes the pinned\n"
	       "  state (services, backends, flows).\n");
	return 0;
}

int do_attach(int argc, char **argv)
{
	struct attach_opts o = { .mode = XDP_MODE_NATIVE };
	struct l4s_state st;
	const char *dev = NULL, *cgroup = NULL;
	__u64 flows = 0, backends = 0, cgid = 0;
	int err;

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_attach();
		if (!strcmp(argv[i], "--xdp-mode")) {
			if (++i >= argc)
				return usage_error("--xdp-mode needs native or generic");
			if (!strcmp(argv[i], "native"))
				o.mode = XDP_MODE_NATIVE;
			else if (!strcmp(argv[i], "generic") || !strcmp(argv[i], "skb"))
				o.mode = XDP_MODE_GENERIC;
			else
				return usage_error("argument \"%s\" is wrong: --xdp-mode is native or "
						   "generic", argv[i]);
		} else if (!strcmp(argv[i], "--tc-only")) {
			o.tc_only = 1;
		} else if (!strcmp(argv[i], "--redirect-target")) {
			o.redirect_target = 1;
		} else if (!strcmp(argv[i], "--cgroup")) {
			if (++i >= argc || !argv[i][0])
				return usage_error("--cgroup needs a cgroup v2 directory");
			cgroup = argv[i];
		} else if (!strcmp(argv[i], "--flows")) {
			if (++i >= argc)
				return usage_error("--flows needs a number");
			if (parse_u64("flow table size", argv[i], 1024, 1u << 28, &flows))
				return cmd_fail(EXIT_USAGE);
		} else if (!strcmp(argv[i], "--backends")) {
			if (++i >= argc)
				return usage_error("--backends needs a number");
			if (parse_u64("backend capacity", argv[i], L4S_BACKENDS_MIN,
				      L4S_BACKENDS_LIMIT, &backends))
				return cmd_fail(EXIT_USAGE);
		} else if (argv[i][0] == '-') {
			return usage_error("unknown option \"%s\" for attach", argv[i]);
		} else if (!dev) {
			dev = argv[i];
		} else {
			return usage_error("attach takes one device, got \"%s\" too", argv[i]);
		}
	}
	if (dev && cgroup)
		return usage_error("attach takes a device or --cgroup PATH, not both: run it once "
				   "for each");
	if (cgroup && (o.tc_only || o.redirect_target || o.mode != XDP_MODE_NATIVE))
		return usage_error("--xdp-mode, --tc-only and --redirect-target are for devices, "
				   "not --cgroup");
	if (!dev && !cgroup) {
		usage_help(help_attach);
		return usage_error("attach needs a device or --cgroup PATH");
	}
	state_set_flow_max(flows);
	state_set_backend_max((__u32)backends);
	err = state_open(&st, state_pin_dir(opt_pin_dir), STATE_CREATE | STATE_LOCK | STATE_UPGRADE);
	if (err)
		return cmd_fail(1);
	if (flows && flows != st.flow_max) {
		l4s_note("Note: the flow table already exists with %llu entries; --flows %llu "
			 "applies only to new state (detach --all --purge first)\n",
			 (unsigned long long)st.flow_max, (unsigned long long)flows);
	}
	if (backends && backends != st.be_max) {
		l4s_note("Note: the state already holds %u backends; --backends %llu applies only "
			 "to new state (detach --all --purge first)\n", st.be_max,
			 (unsigned long long)backends);
	}
	err = cgroup ? attach_cgroup(&st, cgroup, &cgid) : attach_dev(&st, dev, &o);
	/* The backend index may be new here, or behind an older binary's changes. */
	if (!err && svc_sync_index_all(&st))
		l4s_note("Warning: %s; replies of flows whose reverse entry is evicted are "
			 "repaired a second later\n", l4s_errmsg());
	state_close(&st);
	if (err)
		return cmd_fail(1);
	if (cgroup) {
		if (l4s_json)
			json_print(json_pack("{s:s, s:I, s:s}", "attached", cgroup, "cgroup_id",
					     (json_int_t)cgid, "hooks", "socket"));
		else
			printf("attached to cgroup %s: connect, sendmsg, recvmsg, getpeername (IPv4 "
			       "and IPv6), sockops\n", cgroup);
		return 0;
	}
	if (l4s_json) {
		json_t *doc = json_pack("{s:s, s:s, s:s}", "attached", dev, "forward",
					o.tc_only ? "tc-ingress" :
					o.mode == XDP_MODE_GENERIC ? "xdp-generic" : "xdp-native",
					"reply", "tc-egress");
		json_print(doc);
	} else {
		printf("attached to %s: forward %s, reply tc egress\n", dev,
		       o.tc_only ? "tc ingress" :
		       o.mode == XDP_MODE_GENERIC ? "XDP (generic)" : "XDP (native)");
	}
	return 0;
}

int do_detach(int argc, char **argv)
{
	struct l4s_state st;
	const char *dev = NULL, *cgroup = NULL;
	int all = 0, purge = 0, err, left = 0, gone = 0;
	char where[1024];

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_detach();
		if (!strcmp(argv[i], "--all"))
			all = 1;
		else if (!strcmp(argv[i], "--purge"))
			purge = 1;
		else if (!strcmp(argv[i], "--cgroup")) {
			if (++i >= argc || !argv[i][0])
				return usage_error("--cgroup needs the cgroup's path");
			cgroup = argv[i];
		}
		else if (argv[i][0] == '-')
			return usage_error("unknown option \"%s\" for detach", argv[i]);
		else if (!dev)
			dev = argv[i];
		else
			return usage_error("detach takes one device, got \"%s\" too", argv[i]);
	}
	if (!!dev + !!all + !!cgroup != 1) {
		usage_help(help_detach);
		return usage_error("detach needs one of a device, --cgroup PATH or --all");
	}
	if (purge && !all)
		return usage_error("--purge goes with --all");
	/* --all tears down an incomplete state too (a pinned map removed by hand). */
	err = state_open(&st, state_pin_dir(opt_pin_dir), STATE_LOCK | (all ? STATE_PARTIAL : 0));
	if (err)
		return cmd_fail(1);
	if (cgroup)
		err = detach_cgroup(&st, cgroup);
	else if (all)
		err = detach_all(&st, &left, &gone, where, sizeof(where));
	else
		err = detach_dev(&st, dev);
	if (!err && all)
		err = detach_cgroups_all(&st);
	if (!err && purge && left) {
		l4s_err(16, "not purging: l4split is still attached in %d other network "
			"namespace(s): %s", left, where);
		l4s_hint("run 'l4split detach --all' in those namespaces first");
		err = -16;
	}
	state_close(&st);
	if (gone)
		l4s_note("Note: skipped %d attachment(s) whose network namespace is gone (its "
			 "devices and programs went with it); removed their records\n", gone);
	if (!err && purge)
		err = state_purge(state_pin_dir(opt_pin_dir));
	if (err)
		return cmd_fail(1);
	if (l4s_json)
		json_print(json_pack("{s:s, s:b}", "detached", all ? "all" : cgroup ? cgroup : dev,
				     "purged", purge));
	else if (cgroup)
		printf("detached from cgroup %s\n", cgroup);
	else
		printf("detached from %s%s\n", all ? "all devices and cgroups" : dev,
		       purge ? "; state removed" : "");
	return 0;
}
