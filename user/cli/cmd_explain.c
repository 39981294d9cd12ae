// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * l4split explain NAME CLIENT_ADDR:PORT [--proto tcp|udp] [--frontend VIP:PORT[/PROTO]]:
 * which backend a flow gets and why (core/explain.c), gathered once as JSON and
 * printed as JSON or as text from it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include "cmd.h"
#include "err.h"
#include "explain.h"
#include "model.h"
#include "parse.h"
#include "state.h"

int help_explain(void)
{
	printf("Usage: l4split explain NAME CLIENT_ADDR:PORT [--proto tcp|udp]\n"
	       "                       [--frontend VIP:PORT[/PROTO]]\n"
	       "  Which backend a flow from CLIENT_ADDR:PORT to the service gets, and why: the\n"
	       "  slot its hash falls in (the datapath's own hash), the backend the slot holds,\n"
	       "  or the one a live flow entry holds, the track and their configured shares,\n"
	       "  and how it is reached (nat, snat, dsr: local or remote backend).\n"
	       "  --proto     the frontend's protocol (default: the first frontend's)\n"
	       "  --frontend  which of the service's frontends (default: the first of the\n"
	       "              client's address family and of --proto)\n");
	return 0;
}

static const char *path_name(enum explain_path p)
{
	switch (p) {
	case EXPLAIN_PATH_NAT: return "nat";
	case EXPLAIN_PATH_SNAT: return "snat";
	case EXPLAIN_PATH_DSR: return "dsr";
	case EXPLAIN_PATH_LOCAL_NAT_REMOTE_SNAT: return "nat if local, snat if remote";
	case EXPLAIN_PATH_LOCAL_NAT_REMOTE_DSR: return "nat if local, dsr if remote";
	case EXPLAIN_PATH_DROP_NO_ADDR: return "drop";
	}
	return "?";
}

/* The node's SNAT address for the flow's family, as text ("" when none). */
static const char *node_addr_text(char *buf, const struct explain_result *r)
{
	struct l4s_addr a = {};

	buf[0] = 0;
	if (r->key.family == L4S_AF_INET && (r->node.flags & L4S_NODE_F_ADDR4)) {
		a.addr[0] = r->node.addr4;
		fmt_addr(buf, &a, L4S_AF_INET);
	} else if (r->key.family == L4S_AF_INET6 && (r->node.flags & L4S_NODE_F_ADDR6)) {
		fmt_addr(buf, &r->node.addr6, L4S_AF_INET6);
	}
	return buf;
}

#define FIB_CHECK                                                                           \
	"local or remote is decided at the flow's first packet by the datapath: a FIB lookup " \
	"from the client to the backend on the device the packet came in on; remote when "    \
	"the next hop is a gateway or the way out is that same device"

/* Why the flow goes the way it does: what the state says, and what only the packet can. */
static void why_text(char *buf, size_t n, const struct explain_result *r)
{
	const char *fam = r->key.family == L4S_AF_INET ? "IPv4" : "IPv6";
	char na[L4S_ADDRSTRLEN], port[16] = "";

	node_addr_text(na, r);
	if (!na[0]) /* no 'node set' for the family: MASQUERADE's choice */
		snprintf(na, sizeof(na), "of the egress device");
	if (r->source == EXPLAIN_FLOW) {
		if (r->flow.flags & L4S_FLOW_F_SNAT)
			snprintf(port, sizeof(port), " port %u", ntohs(r->flow.snat_port));
		snprintf(buf, n, "fixed when the flow started (its entry says %s%s%s)",
			 path_name(r->path), port[0] ? ": node" : "", port);
		return;
	}
	switch (r->path) {
	case EXPLAIN_PATH_NAT:
		if (r->svc.mode == L4S_MODE_AUTO)
			snprintf(buf, n, "mode auto without a node SNAT address for %s%s: nat for "
				 "every backend, local or remote", fam,
				 r->node.flags & L4S_NODE_F_OFF ? " (node unset)" : "");
		else
			snprintf(buf, n, "mode nat: the destination is rewritten, the client "
				 "address kept, for every backend");
		break;
	case EXPLAIN_PATH_SNAT:
		snprintf(buf, n, "mode snat: source rewritten to the node address %s and a port "
			 "of %u-%u, for every backend, local or remote", na,
			 r->node.port_min ? r->node.port_min : L4S_SNAT_PORT_MIN_DEFAULT,
			 r->node.port_min ? r->node.port_max : L4S_SNAT_PORT_MAX_DEFAULT);
		break;
	case EXPLAIN_PATH_LOCAL_NAT_REMOTE_SNAT:
		snprintf(buf, n, "mode auto with node SNAT address %s: %s", na, FIB_CHECK);
		break;
	case EXPLAIN_PATH_LOCAL_NAT_REMOTE_DSR:
		snprintf(buf, n, "mode dsr: a remote backend replies to the client directly; %s",
			 FIB_CHECK);
		break;
	case EXPLAIN_PATH_DROP_NO_ADDR:
		snprintf(buf, n, "mode snat without a node SNAT address for %s%s: new flows are "
			 "dropped", fam, r->node.flags & L4S_NODE_F_OFF ? " (node unset)" : "");
		break;
	case EXPLAIN_PATH_DSR:
		break;
	}
}

static json_t *be_json(const struct l4s_backend *be)
{
	char buf[L4S_ADDRSTRLEN];

	return json_string(fmt_addr_port(buf, &be->addr, be->family, ntohs(be->port)));
}

static json_t *weight_json(__u64 w)
{
	if (w % L4S_WEIGHT_ONE == 0)
		return json_integer((json_int_t)(w / L4S_WEIGHT_ONE));
	return json_real((double)w / L4S_WEIGHT_ONE);
}

static json_t *flow_json(const struct explain_result *r)
{
	static const struct { __u32 f; const char *n; } names[] = {
		{ L4S_FLOW_F_CLOSED, "closed" }, { L4S_FLOW_F_ANSWERED, "answered" },
		{ L4S_FLOW_F_SNAT, "snat" },     { L4S_FLOW_F_DSR, "dsr" },
	};
	json_t *j, *flags;

	if (!r->flow_found)
		return json_null();
	j = json_object();
	flags = json_array();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (r->flow.flags & names[i].f)
			json_array_append_new(flags, json_string(names[i].n));
	json_object_set_new(j, "live", json_boolean(r->flow_live));
	json_object_set_new(j, "backend", r->flow_live ? be_json(&r->flow_be) : json_null());
	json_object_set_new(j, "backend_id", json_integer(r->flow.backend_id));
	json_object_set_new(j, "flags", flags);
	if (r->flow.flags & L4S_FLOW_F_SNAT)
		json_object_set_new(j, "snat_port", json_integer(ntohs(r->flow.snat_port)));
	if (r->flow_stale)
		json_object_set_new(j, "stale", json_string(r->flow_stale));
	return j;
}

static json_t *explain_json(const char *name, const struct explain_query *q,
			    const struct explain_result *r)
{
	static const char *const src[] = { "none", "table", "flow-entry" };
	char buf[L4S_ADDRSTRLEN + 16], why[512];
	json_t *j = json_object();

	json_object_set_new(j, "service", json_string(name));
	json_object_set_new(j, "client", json_string(fmt_addr_port(buf, &q->client, q->family,
								    q->cport)));
	json_object_set_new(j, "frontend", json_string(fmt_frontend(buf, &q->fe)));
	json_object_set_new(j, "hash_over", json_string(r->affinity ? "client-ip" : "5-tuple"));
	if (r->affinity_timeout)
		json_object_set_new(j, "affinity_timeout", json_integer(r->affinity_timeout));
	json_object_set_new(j, "hash", json_integer(r->hash));
	json_object_set_new(j, "table_size", json_integer(r->svc.table_size));
	json_object_set_new(j, "slot", r->has_table ? json_integer(r->slot) : json_null());
	json_object_set_new(j, "slot_backend", r->slot_ok ? be_json(&r->slot_be) : json_null());
	json_object_set_new(j, "flow_entry", flow_json(r));
	json_object_set_new(j, "source", json_string(src[r->source]));
	json_object_set_new(j, "verdict", json_string(r->source == EXPLAIN_NONE ||
						      r->path == EXPLAIN_PATH_DROP_NO_ADDR ?
						      "drop" : "forward"));
	if (r->source == EXPLAIN_NONE) {
		json_object_set_new(j, "backend", json_null());
		json_object_set_new(j, "why", json_string(
			!r->has_table ? "the service has no lookup table yet" :
			r->slot_id == L4S_NO_BACKEND ? "no backend has weight: the slot is empty" :
			"the slot's backend is gone"));
		/* What the datapath answers a new flow with when no backend has weight
		 * (bpf/reject.h); a packet of a flow past its start is dropped. */
		if (r->has_table && r->slot_id == L4S_NO_BACKEND)
			json_object_set_new(j, "reply", json_string(
				q->fe.proto == IPPROTO_TCP ? "tcp-rst" : "icmp-port-unreachable"));
		return j;
	}
	json_object_set_new(j, "backend", be_json(&r->be));
	json_object_set_new(j, "backend_id", json_integer(r->backend_id));
	json_object_set_new(j, "track", json_string(r->be.track));
	json_object_set_new(j, "track_weight", weight_json(r->track_weight));
	json_object_set_new(j, "track_share", json_real(r->track_share));
	json_object_set_new(j, "backend_weight", weight_json(r->be_weight));
	json_object_set_new(j, "backend_share", json_real(r->be_share));
	json_object_set_new(j, "mode", json_string(mode_name(r->svc.mode)));
	json_object_set_new(j, "path", json_string(path_name(r->path)));
	why_text(why, sizeof(why), r);
	json_object_set_new(j, "why", json_string(why));
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k)) ?: "-";
}

static double jnum(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* @text under the field names, in lines of at most 90 columns. */
static void print_wrapped(const char *text)
{
	const char *p = text;

	while (*p) {
		size_t n = strlen(p), cut = n;

		if (n > 79) {
			for (cut = 79; cut > 0 && p[cut] != ' '; cut--)
				;
			if (!cut)
				cut = 79;
		}
		printf("           %.*s\n", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void print_explain(json_t *j)
{
	json_t *fe = json_object_get(j, "flow_entry"), *slot = json_object_get(j, "slot");
	const char *src = jstr(j, "source");
	char wb[32], wb2[32];

	printf("flow %s -> %s, service %s\n", jstr(j, "client"), jstr(j, "frontend"),
	       jstr(j, "service"));
	if (json_object_get(j, "affinity_timeout"))
		printf("  affinity a new flow goes to the backend this client got within the last "
		       "%lld s, if it still takes flows; else by the slot\n",
		       (long long)jnum(j, "affinity_timeout"));
	printf("  hash     0x%08llx over the %s", (unsigned long long)jnum(j, "hash"),
	       jstr(j, "hash_over"));
	if (json_is_integer(slot))
		printf(": slot %lld of %lld, holding %s\n", (long long)json_integer_value(slot),
		       (long long)jnum(j, "table_size"),
		       json_is_string(json_object_get(j, "slot_backend")) ?
			       jstr(j, "slot_backend") : "no backend");
	else
		printf(": no lookup table\n");
	if (json_is_null(fe)) {
		printf("  entry    none: a new flow, chosen by the slot\n");
	} else {
		json_t *f;
		size_t i;

		printf("  entry    %s", json_is_true(json_object_get(fe, "live")) ? "live" : "stale");
		if (json_is_string(json_object_get(fe, "backend")))
			printf(", backend %s", jstr(fe, "backend"));
		printf(", flags");
		json_array_foreach(json_object_get(fe, "flags"), i, f)
			printf(" %s", json_string_value(f));
		if (!json_array_size(json_object_get(fe, "flags")))
			printf(" none");
		if (json_object_get(fe, "snat_port"))
			printf(", snat port %lld", (long long)jnum(fe, "snat_port"));
		printf("\n");
		if (json_object_get(fe, "stale"))
			printf("           %s\n", jstr(fe, "stale"));
		else if (!strcmp(src, "table"))
			printf("           closed: its last packets still go to it, a new "
			       "connection chooses again by the slot\n");
		else if (json_is_string(json_object_get(j, "slot_backend")) &&
			 strcmp(jstr(j, "slot_backend"), jstr(fe, "backend")))
			printf("           the slot moved since: a new connection from this "
			       "port (another SYN) gets %s\n", jstr(j, "slot_backend"));
	}
	if (!strcmp(src, "none")) {
		printf("  backend  none: dropped (%s)\n", jstr(j, "why"));
		if (json_is_string(json_object_get(j, "reply")))
			printf("  reply    a new flow is answered: %s\n",
			       !strcmp(jstr(j, "reply"), "tcp-rst") ?
			       "TCP RST (the client's connect fails at once)" :
			       "ICMP port unreachable (the client's socket gets ECONNREFUSED)");
		return;
	}
	printf("  backend  %s (id %lld), track %s, from the %s\n", jstr(j, "backend"),
	       (long long)jnum(j, "backend_id"), jstr(j, "track"),
	       !strcmp(src, "table") ? "lookup table" : "flow entry");
	printf("  share    track %s %.2f%% (weight %s), backend %.2f%% (weight %s in the track)"
	       " of new flows\n",
	       jstr(j, "track"), jnum(j, "track_share"),
	       fmt_weight(wb, (__u64)(jnum(j, "track_weight") * L4S_WEIGHT_ONE + 0.5)),
	       jnum(j, "backend_share"),
	       fmt_weight(wb2, (__u64)(jnum(j, "backend_weight") * L4S_WEIGHT_ONE + 0.5)));
	printf("  mode     %s (service mode %s)\n", jstr(j, "path"), jstr(j, "mode"));
	print_wrapped(jstr(j, "why"));
}

/* The frontend the flow is sent to: --frontend among the service's, or the first of the
 * client's family (and --proto). 0, or an exit code (printed). */
static int pick_frontend(struct l4s_state *st, const char *name, __u32 id, const char *fe_arg,
			 __u8 proto, struct explain_query *q)
{
	const struct state_svc_index *x = state_index(st, id);
	struct l4s_frontend_key want = {};
	char buf[L4S_ADDRSTRLEN + 16];

	if (!x)
		return cmd_fail(1);
	if (fe_arg) {
		__u16 port;

		if (strchr(fe_arg, '/') ? parse_frontend(fe_arg, &want) :
					  parse_addr_port(fe_arg, &want.vip, &want.family, &port))
			return cmd_fail(EXIT_USAGE);
		if (!strchr(fe_arg, '/'))
			want.port = htons(port);
		if (want.proto && proto && want.proto != proto)
			return usage_error("--frontend %s and --proto %s disagree", fe_arg,
					   proto_name(proto));
		if (want.family != q->family)
			return usage_error("client %s and frontend %s are not of the same address "
					   "family", fmt_addr(buf, &q->client, q->family), fe_arg);
	}
	if (!want.proto)
		want.proto = proto;
	for (int i = 0; i < x->nfe; i++) {
		const struct l4s_frontend_key *k = &x->fe[i];

		if (k->family != q->family || (want.proto && k->proto != want.proto))
			continue;
		if (fe_arg && (k->port != want.port || memcmp(&k->vip, &want.vip, sizeof(k->vip))))
			continue;
		q->fe = *k;
		return 0;
	}
	if (fe_arg)
		l4s_err(ENOENT, "service \"%s\" has no frontend %s%s%s", name, fe_arg,
			want.proto && !strchr(fe_arg, '/') ? "/" : "",
			want.proto && !strchr(fe_arg, '/') ? proto_name(want.proto) : "");
	else
		l4s_err(ENOENT, "service \"%s\" has no %s%s%s frontend", name,
			q->family == L4S_AF_INET ? "IPv4" : "IPv6", proto ? " " : "",
			proto ? proto_name(proto) : "");
	l4s_hint("'l4split status %s' lists its frontends", name);
	return cmd_fail(1);
}

int do_explain(int argc, char **argv)
{
	const char *name = NULL, *client = NULL, *fe_arg = NULL;
	struct explain_query q = {};
	struct explain_result r;
	struct l4s_state st;
	__u8 proto = 0;
	__u32 id;
	int rc;

	if (argc >= 1 && is_help(argv[0]))
		return help_explain();
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--proto") || !strcmp(argv[i], "--frontend")) {
			if (i + 1 >= argc) {
				usage_help(help_explain);
				return usage_error("%s needs a value", argv[i]);
			}
			if (!strcmp(argv[i], "--frontend")) {
				fe_arg = argv[++i];
				continue;
			}
			i++;
			if (!strcasecmp(argv[i], "tcp"))
				proto = IPPROTO_TCP;
			else if (!strcasecmp(argv[i], "udp"))
				proto = IPPROTO_UDP;
			else
				return usage_error("--proto \"%s\" is wrong: tcp or udp", argv[i]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage_help(help_explain);
			return usage_error("unknown option \"%s\"", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else if (!client) {
			client = argv[i];
		} else {
			usage_help(help_explain);
			return usage_error("unexpected argument \"%s\"", argv[i]);
		}
	}
	if (!client) {
		usage_help(help_explain);
		return usage_error("explain needs a service NAME and a CLIENT_ADDR:PORT");
	}
	if (parse_name("service", name) ||
	    parse_addr_port(client, &q.client, &q.family, &q.cport))
		return cmd_fail(EXIT_USAGE);
	if (state_open(&st, state_pin_dir(opt_pin_dir), 0))
		return cmd_fail(1);
	if (svc_find(&st, name, &id)) {
		state_close(&st);
		return cmd_fail(1);
	}
	rc = pick_frontend(&st, name, id, fe_arg, proto, &q);
	if (!rc && explain_flow(&st, id, &q, &r))
		rc = cmd_fail(1);
	state_close(&st);
	if (rc)
		return rc;
	{
		json_t *doc = explain_json(name, &q, &r);

		if (l4s_json)
			json_print(doc);
		else {
			print_explain(doc);
			json_decref(doc);
		}
	}
	return 0;
}
