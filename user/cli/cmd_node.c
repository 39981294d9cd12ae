// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split node: this node's SNAT address and port range, and SNAT ports in use. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "attach.h"
#include "cmd.h"
#include "err.h"
#include "parse.h"
#include "state.h"

int help_node(void)
{
	printf("Usage: l4split node set [--snat-addr ADDR|auto]... [--snat-ports LO-HI]\n"
	       "       l4split node unset\n"
	       "       l4split node [show]\n"
	       "  The address SNAT rewrites sources to, and the range of ports it hands out\n"
	       "  (default %d-%d; keep it out of the node's own ip_local_port_range).\n"
	       "  By default (or after --snat-addr auto) the source is the primary address of\n"
	       "  the device the packet leaves by, as iptables MASQUERADE does; --snat-addr\n"
	       "  ADDR (one IPv4 and/or one IPv6 address of this node, which the backends'\n"
	       "  replies are routed back to) overrides it for its family. Services in mode\n"
	       "  auto SNAT their remote backends; unset turns SNAT off for new flows (auto\n"
	       "  uses nat, snat drops; flows that have a port keep it) until the next set.\n"
	       "  Setting the address of one family keeps the other family's. The devices'\n"
	       "  addresses are read again by attach and by every node command. show counts\n"
	       "  the SNAT entries (ports held, per backend, by live or recently closed flows).\n",
	       L4S_SNAT_PORT_MIN_DEFAULT, L4S_SNAT_PORT_MAX_DEFAULT);
	return 0;
}

static int node_open(struct l4s_state *st, int flags)
{
	if (state_open(st, state_pin_dir(opt_pin_dir), flags))
		return -1;
	if (state_require(st, STATE_HAS_SNAT)) {
		state_close(st);
		return -1;
	}
	return 0;
}

static int count_entry(const void *k, const void *v, void *ctx)
{
	const struct l4s_flow_key *key = k;
	const struct l4s_snat *s = v;
	long *c = ctx;

	c[key->family == L4S_AF_INET6]++;
	if (!(s->flags & L4S_FLOW_F_CLOSED))
		c[2]++;
	return 0;
}

static int node_show(void)
{
	struct l4s_state st;
	struct l4s_node n = {};
	long c[3] = { 0 };
	char a4[64] = "", a6[64] = "", devs[1024];
	int off;

	if (node_open(&st, 0))
		return cmd_fail(1);
	state_node_get(&st, &n);
	if (snat_devaddr_refresh(&st, devs, sizeof(devs)))
		l4s_note("Warning: %s\n", l4s_errmsg());
	off = !!(n.flags & L4S_NODE_F_OFF);
	state_snat_scan(&st, count_entry, c);
	if (n.flags & L4S_NODE_F_ADDR4) {
		struct l4s_addr a = { .addr = { n.addr4 } };

		fmt_addr(a4, &a, L4S_AF_INET);
	}
	if (n.flags & L4S_NODE_F_ADDR6)
		fmt_addr(a6, &n.addr6, L4S_AF_INET6);
	state_close(&st);
	if (l4s_json) {
		json_print(json_pack("{s:s?, s:s?, s:b, s:s, s:i, s:i, s:{s:I, s:I, s:I}}",
				     "snat_addr4", a4[0] ? a4 : NULL, "snat_addr6",
				     a6[0] ? a6 : NULL, "snat_on", !off, "snat_default_source",
				     devs, "snat_port_min",
				     n.port_min ? n.port_min : L4S_SNAT_PORT_MIN_DEFAULT,
				     "snat_port_max",
				     n.port_min ? n.port_max : L4S_SNAT_PORT_MAX_DEFAULT,
				     "snat_entries", "ipv4", (json_int_t)c[0], "ipv6", (json_int_t)c[1],
				     "open", (json_int_t)c[2]));
		return 0;
	}
	if (off)
		printf("snat address: %s%s%s (unset: new flows use nat, flows with a port keep it)\n",
		       a4[0] || a6[0] ? a4 : "none", a4[0] && a6[0] ? " " : "", a6);
	else
		printf("snat address: %s%s%s%s%s\n", a4, a4[0] && a6[0] ? " " : "", a6,
		       a4[0] || a6[0] ? "" : "the primary address of the egress device (default)",
		       (a4[0] || a6[0]) && !(a4[0] && a6[0]) ?
			       " (set; the other family: the egress device's primary address)" :
			       "");
	if (!off)
		printf("device addrs: %s\n", devs[0] ? devs : "none");
	printf("snat ports:   %u-%u\n", n.port_min ? n.port_min : L4S_SNAT_PORT_MIN_DEFAULT,
	       n.port_min ? n.port_max : L4S_SNAT_PORT_MAX_DEFAULT);
	printf("snat entries: %ld IPv4, %ld IPv6 (%ld not closed)\n", c[0], c[1], c[2]);
	return 0;
}

static int node_set(int argc, char **argv, int unset)
{
	struct l4s_node n = {};
	struct l4s_state st;
	int err;
	__u64 lo = 0, hi = 0;
	int have_addr = 0, have_ports = 0, addr_auto = 0;

	for (int i = 0; i < argc; i++) {
		if (is_help(argv[i]))
			return help_node();
		if (unset)
			return usage_error("node unset takes no arguments");
		if (!strcmp(argv[i], "--snat-addr")) {
			struct l4s_addr a;
			__u8 fam;

			if (++i >= argc)
				return usage_error("--snat-addr needs an address of this node");
			if (!strcmp(argv[i], "auto")) {
				addr_auto = 1;
				continue;
			}
			if (parse_addr(argv[i], &a, &fam) || addr_check(&a, fam))
				return cmd_fail(EXIT_USAGE);
			if (fam == L4S_AF_INET) {
				if (n.flags & L4S_NODE_F_ADDR4)
					return usage_error("--snat-addr: give one IPv4 address");
				n.addr4 = a.addr[0];
				n.flags |= L4S_NODE_F_ADDR4;
			} else {
				if (n.flags & L4S_NODE_F_ADDR6)
					return usage_error("--snat-addr: give one IPv6 address");
				n.addr6 = a;
				n.flags |= L4S_NODE_F_ADDR6;
			}
			have_addr = 1;
		} else if (!strcmp(argv[i], "--snat-ports")) {
			char *dash;

			if (++i >= argc || !(dash = strchr(argv[i], '-')))
				return usage_error("--snat-ports needs a range LO-HI, e.g. 32768-60999");
			*dash = 0;
			if (parse_u64("lowest SNAT port", argv[i], 1024, 65535, &lo) ||
			    parse_u64("highest SNAT port", dash + 1, 1024, 65535, &hi))
				return cmd_fail(EXIT_USAGE);
			if (hi < lo)
				return usage_error("--snat-ports %llu-%llu is wrong: LO is above HI",
						   (unsigned long long)lo, (unsigned long long)hi);
			have_ports = 1;
		} else {
			return usage_error("unknown argument \"%s\" for node set", argv[i]);
		}
	}
	if (addr_auto && have_addr)
		return usage_error("--snat-addr auto replaces the addresses: give no other");
	if (!unset && !have_addr && !have_ports && !addr_auto) {
		usage_help(help_node);
		return usage_error("node set needs --snat-addr or --snat-ports");
	}
	if (node_open(&st, STATE_CREATE | STATE_LOCK))
		return cmd_fail(1);
	if (unset) {
		/* New flows stop getting ports; flows that have one keep it (and the address
		 * their replies come back to). */
		state_node_get(&st, &n);
		n.flags |= L4S_NODE_F_OFF;
	} else {
		struct l4s_node cur = {};

		state_node_get(&st, &cur);
		if (addr_auto) {
			/* Back to the default: each flow's egress device's address. */
		} else if (!have_addr) { /* only the range changes */
			n.addr4 = cur.addr4;
			n.addr6 = cur.addr6;
			n.flags = cur.flags;
		} else if (!(cur.flags & L4S_NODE_F_OFF)) {
			/* One family given: the other family's address stays (after 'node
			 * unset' there is none to keep: set turns on only what it names). */
			if (!(n.flags & L4S_NODE_F_ADDR4) && (cur.flags & L4S_NODE_F_ADDR4)) {
				n.addr4 = cur.addr4;
				n.flags |= L4S_NODE_F_ADDR4;
			}
			if (!(n.flags & L4S_NODE_F_ADDR6) && (cur.flags & L4S_NODE_F_ADDR6)) {
				n.addr6 = cur.addr6;
				n.flags |= L4S_NODE_F_ADDR6;
			}
		}
		n.port_min = (__u16)(have_ports ? lo : cur.port_min ? cur.port_min :
					  L4S_SNAT_PORT_MIN_DEFAULT);
		n.port_max = (__u16)(have_ports ? hi : cur.port_max ? cur.port_max :
					  L4S_SNAT_PORT_MAX_DEFAULT);
	}
	if (!(n.flags & L4S_NODE_F_OFF)) { /* on: by default, or with an address */
		int ndev = 0;

		if (snat_prepare_attached(&st, &ndev))
			/* e.g. /proc/sys read-only in a container: the node must be set up so. */
			l4s_note("Warning: %s; SNAT needs them: set them on the attached devices "
				 "(net.ipv4.conf.DEV.accept_local=1, net.ipv4.conf.{all,DEV}.rp_filter=0)"
				 "\n", l4s_errmsg());
		else if (ndev)
			l4s_note("Note: set accept_local=1 and rp_filter=0 on the %d attached "
				 "device(s) (and rp_filter=0 on all): SNATed packets carry this "
				 "node's address\n", ndev);
	}
	/* One map update: a packet sees the old settings or the new ones. */
	if ((err = state_node_put(&st, &n))) {
		l4s_err(err, "cannot write l4s_node: %s", strerror(-err));
		state_close(&st);
		return cmd_fail(1);
	}
	state_close(&st);
	return node_show();
}

int do_node(int argc, char **argv)
{
	if (argc == 0 || !strcmp(argv[0], "show")) {
		if (argc > 1)
			return is_help(argv[1]) ? help_node() : usage_error("node show takes no arguments");
		return node_show();
	}
	if (is_help(argv[0]))
		return help_node();
	if (!strcmp(argv[0], "set"))
		return node_set(argc - 1, argv + 1, 0);
	if (!strcmp(argv[0], "unset"))
		return node_set(argc - 1, argv + 1, 1);
	usage_help(help_node);
	return usage_error("unknown node command \"%s\"", argv[0]);
}
