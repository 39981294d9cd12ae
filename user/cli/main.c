// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split: weighted L4 traffic splitting in XDP/tc. Entry point and dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "build-info.h"
#include "cmd.h"
#include "err.h"
#include "l4split.h"

static int do_help(void)
{
	fprintf(stdout,
		"Usage: l4split [OPTIONS] OBJECT COMMAND [ARGS]\n"
		"       l4split attach DEV [--xdp-mode native|generic] [--tc-only] [--flows N]\n"
		"                          [--backends N] [--redirect-target]\n"
		"       l4split attach --cgroup PATH [--flows N] [--backends N]\n"
		"       l4split detach { DEV | --cgroup PATH | --all [--purge] }\n"
		"       l4split service { add NAME FRONTEND [FRONTEND...] [--affinity client-ip|none]\n"
		"                               [--affinity-timeout SECONDS] [--table-size M]\n"
		"                               [--mode auto|nat|snat|dsr] |\n"
		"                         mode NAME [auto|nat|snat|dsr] [--affinity client-ip|none]\n"
		"                               [--affinity-timeout SECONDS] | del NAME }\n"
		"       l4split node [ set [--snat-addr ADDR]... [--snat-ports LO-HI] | unset | show ]\n"
		"       l4split backend { add NAME ADDR:PORT [--track T] [--weight W] |\n"
		"                         del NAME ADDR:PORT }\n"
		"       l4split weight NAME { TRACK=W | ADDR:PORT=W } ...\n"
		"       l4split weight NAMESPACE/SERVICE TRACK=W ... [--kubeconfig FILE] [--no-wait]\n"
		"                      [--timeout DUR] [--agent-namespace NS] [--agent-selector SEL]\n"
		"                      [--agent-port PORT]\n"
		"       l4split status [NAME [--table]]\n"
		"       l4split status NAMESPACE/SERVICE [--kubeconfig FILE] [--window DUR]\n"
		"                      [--timeout DUR] [--agent-namespace NS] [--agent-selector SEL]\n"
		"                      [--agent-port PORT]\n"
		"       l4split stats [NAME [--watch SECONDS [--count N]]]\n"
		"       l4split explain NAME CLIENT_ADDR:PORT [--proto tcp|udp]\n"
		"                       [--frontend VIP:PORT[/PROTO]]\n"
		"       l4split sync NAME { --pods FILE | --endpointslices FILE }\n"
		"                         { --track-label LABEL | --track T } [--port PORT|NAME]\n"
		"                         [--weight T=W]... [--dry-run]\n"
		"       l4split rollout NAME --to TRACK [--steps P1,P2,...] [--interval DUR]\n"
		"                            [--max-failure-ratio R] [--min-flows N]\n"
		"                            [--answer-timeout DUR] [--rollback-on-abort]\n"
		"                            [--max-connect-p99-ratio R]\n"
		"       l4split rollout NAME --status\n"
		"       l4split rollout NAMESPACE/SERVICE --to TRACK [--steps ...] [--interval DUR]\n"
		"                       [--max-failure-ratio R] [--min-flows N] [--answer-timeout DUR]\n"
		"                       [--watch] [--timeout DUR] [--kubeconfig FILE]\n"
		"       l4split rollout NAMESPACE/SERVICE { --status | --watch | --abort | --pause |\n"
		"                       --resume } [--timeout DUR] [--kubeconfig FILE]\n"
		"       l4split apply FILE|- [--prune] [--dry-run]\n"
		"       l4split agent [--kubeconfig FILE] [--node-name N] [--namespace NS]\n"
		"                     [--metrics-addr [HOST]:PORT|off] [--leader-elect true|false]\n"
		"                     [--lease-namespace NS] [--prometheus-url URL]\n"
		"                     [--nodeport-addresses primary|CIDR,...]\n"
		"\n"
		"       FRONTEND := VIP:PORT/{tcp|udp}     (IPv6: [fd00::10]:80/tcp)\n"
		"       W        := non-negative decimal, relative (99, 1, 0.5); 0 drains\n"
		"\n"
		"OPTIONS := { -j|--json | -p|--pretty | -d|--debug | --pin-dir DIR |\n"
		"             -V|--version | -h|--help }\n"
		"State lives in BPF maps pinned under --pin-dir, $L4SPLIT_PIN_DIR, or /sys/fs/bpf/l4split.\n"
		"'l4split OBJECT help' shows the grammar of one object.\n");
	return 0;
}

static const struct cmd top_cmds[] = {
	{ "attach", do_attach },   { "detach", do_detach }, { "service", do_service },
	{ "backend", do_backend }, { "weight", do_weight }, { "status", do_status },
	{ "stats", do_stats },     { "sync", do_sync },	    { "rollout", do_rollout },
	{ "agent", do_agent },	   { "apply", do_apply },   { "node", do_node },
	{ "explain", do_explain },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	char **rest;
	int nrest = 0, c, version = 0;
	const char *pin_bad = NULL;

	/* Global options may appear anywhere (bpftool style -j at the end works too). */
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-j") || !strcmp(a, "--json"))
			l4s_json = 1;
		else if (!strcmp(a, "-p") || !strcmp(a, "--pretty"))
			l4s_json = opt_pretty = 1;
		else if (!strcmp(a, "-d") || !strcmp(a, "--debug"))
			l4s_debug = 1;
		else if (!strcmp(a, "--pin-dir") || !strncmp(a, "--pin-dir=", 10)) {
			if (a[9] == '=')
				opt_pin_dir = a + 10;
			else if (i + 1 < argc)
				opt_pin_dir = argv[++i];
			else
				opt_pin_dir = NULL, pin_bad = "--pin-dir needs a DIR";
			if (opt_pin_dir && !*opt_pin_dir)
				pin_bad = "--pin-dir \"\" is not a directory: give a DIR (or leave "
					  "--pin-dir out for $L4SPLIT_PIN_DIR or /sys/fs/bpf/l4split)";
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version"))
			version = 1;
		else
			rest[nrest++] = argv[i];
	}
	if (version) {
		char libbpf[32]; /* the libbpf this binary runs with, not the headers' */

		snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(),
			 libbpf_minor_version());
		if (l4s_json)
			json_print(json_pack("{s:s, s:s, s:s, s:i}", "version", L4S_VERSION, "commit",
					     L4S_COMMIT, "libbpf", libbpf, "layout",
					     L4S_LAYOUT_VERSION));
		else
			printf("l4split %s (commit %s, libbpf %s, map layout %d)\n", L4S_VERSION,
			       L4S_COMMIT, libbpf, L4S_LAYOUT_VERSION);
		free(rest);
		return 0;
	}
	if (pin_bad) {
		free(rest);
		return usage_error("%s", pin_bad);
	}
	if ((nrest == 0 && !l4s_json) || (nrest == 1 && is_help(rest[0]))) {
		do_help();
		free(rest);
		return nrest ? 0 : EXIT_USAGE;
	}
	if (nrest >= 2 && is_help(rest[0])) { /* help OBJECT: OBJECT help */
		char *obj = rest[1];

		rest[1] = rest[0];
		rest[0] = obj;
		nrest = 2;
	}
	c = cmd_dispatch(top_cmds, nrest, rest, do_help, "object");
	free(rest);
	return c;
}
