// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split status / stats: gathered once as JSON, printed as JSON or as tables. */
#include <arpa/inet.h>
#include <math.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attach.h"
#include "attach_cgroup.h"
#include "cmd.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"


int help_status(void)
{
	printf("Usage: l4split status [NAME [--table]]\n");
	help_status_cluster(0);
	printf("  Services with their frontends, tracks (weight, share of new flows), backends\n"
	       "  (weight, share, lookup table slots, live flows), and where l4split is attached\n"
	       "  (devices, and cgroups with the socket hooks).\n"
	       "  --table  (with --json) the lookup table itself, slot by slot\n");
	help_status_cluster(1);
	return 0;
}

int help_stats(void)
{
	printf("Usage: l4split stats [NAME]\n"
	       "       l4split stats NAME --watch SECONDS [--count N]\n"
	       "  Counters since the backend or service was created: packets, bytes, new flows,\n"
	       "  replies, answered flows, resets per backend, and the socket path's sockets\n"
	       "  (SOCKETS; SKFAIL: TCP connects that never completed); verdicts by reason.\n"
	       "  --watch  every SECONDS (or 500ms, 2s...), per track and backend: configured\n"
	       "           share, share of new flows seen, flows/s, failed flows (reset or never\n"
	       "           answered); redrawn in place on a terminal; --count N frames, then exit\n");
	return 0;
}

static json_t *json_weight(__u64 w)
{
	if (w % L4S_WEIGHT_ONE == 0)
		return json_integer((json_int_t)(w / L4S_WEIGHT_ONE));
	return json_real((double)w / L4S_WEIGHT_ONE);
}

/* The socket path's counters of one backend (zeros before the state has them). */
static json_t *sock_stats_json(struct l4s_state *st, __u32 id)
{
	struct l4s_sock_stats c;

	state_sock_stats(st, id, &c); /* zeros before the state has the socket path */
	return json_pack("{s:I, s:I, s:I, s:I}", "flows", (json_int_t)c.flows, "tcp_flows",
			 (json_int_t)c.tcp_flows, "tcp_established", (json_int_t)c.tcp_established,
			 "tcp_failed", (json_int_t)c.tcp_failed);
}

static json_t *svc_json(struct l4s_state *st, __u32 id, int with_stats, int with_table)
{
	struct model m;
	json_t *s, *fes, *tracks, *shares, *bes;
	unsigned __int128 total = 0;
	char buf[96];

	if (model_load(st, id, &m))
		return NULL;
	model_count_slots(st, &m);
	if (!with_stats)
		model_count_flows(st, &m);
	for (int i = 0; i < m.nbe; i++)
		total += m.be[i].effective;

	s = json_object();
	fes = json_array();
	json_object_set_new(s, "name", json_string(m.svc.name));
	for (int i = 0; i < m.nfe; i++)
		json_array_append_new(fes, json_string(fmt_frontend(buf, &m.fe[i])));
	json_object_set_new(s, "vip", json_string(m.nfe ? fmt_frontend(buf, &m.fe[0]) : ""));
	json_object_set_new(s, "frontends", fes);
	if (with_stats) {
		struct l4s_service_stats c = {};

		state_service_stats(st, id, &c);
		json_object_set_new(s, "packets", json_integer((json_int_t)c.packets));
		json_object_set_new(s, "bytes", json_integer((json_int_t)c.bytes));
		json_object_set_new(s, "flows", json_integer((json_int_t)c.flows));
		json_object_set_new(s, "no_backend", json_integer((json_int_t)c.no_backend));
	} else {
		json_object_set_new(s, "affinity",
				    json_string(m.svc.flags & L4S_SVC_F_AFFINITY_CLIENT_IP ?
							"client-ip" : "none"));
		/* Only when set: a document without it is one of hash-only affinity. */
		if (m.aff_timeout)
			json_object_set_new(s, "affinity_timeout", json_integer(m.aff_timeout));
		json_object_set_new(s, "table_size", json_integer(m.svc.table_size));
		json_object_set_new(s, "mode", json_string(mode_name(m.svc.mode)));
		/* Who keeps it: apply reads this back, so a restore keeps the agent's. */
		json_object_set_new(s, "owner", json_string(m.svc.flags & L4S_SVC_F_AGENT ?
								    "agent" : "cli"));
		tracks = json_object();
		shares = json_object();
		for (int t = 0; t < m.ntr; t++) {
			unsigned __int128 sum = 0;

			for (int i = 0; i < m.nbe; i++)
				if (!strcmp(m.be[i].be.track, m.tr[t].name))
					sum += m.be[i].effective;
			json_object_set_new(tracks, m.tr[t].name, json_weight(m.tr[t].weight));
			json_object_set_new(shares, m.tr[t].name,
					    json_real(total ? (double)sum * 100.0 / (double)total : 0));
		}
		json_object_set_new(s, "tracks", tracks);
		json_object_set_new(s, "track_shares", shares);
	}
	bes = json_array();
	for (int i = 0; i < m.nbe; i++) {
		struct model_backend *b = &m.be[i];
		json_t *j = json_object();

		json_object_set_new(j, "addr", json_string(fmt_addr_port(buf, &b->be.addr,
									  b->be.family,
									  ntohs(b->be.port))));
		json_object_set_new(j, "track", json_string(b->be.track));
		if (with_stats) {
			struct l4s_backend_stats c = {};

			state_backend_stats(st, b->id, &c);
			json_object_set_new(j, "packets", json_integer((json_int_t)c.packets));
			json_object_set_new(j, "bytes", json_integer((json_int_t)c.bytes));
			json_object_set_new(j, "flows", json_integer((json_int_t)c.flows));
			json_object_set_new(j, "reply_packets", json_integer((json_int_t)c.rx_packets));
			json_object_set_new(j, "reply_bytes", json_integer((json_int_t)c.rx_bytes));
			json_object_set_new(j, "answered", json_integer((json_int_t)c.answered));
			json_object_set_new(j, "resets", json_integer((json_int_t)c.resets));
			json_object_set_new(j, "syn_retries", json_integer((json_int_t)c.syn_retries));
			json_object_set_new(j, "socket", sock_stats_json(st, b->id));
		} else {
			json_object_set_new(j, "weight", json_weight(b->weight));
			json_object_set_new(j, "share",
					    json_real(total ? (double)b->effective * 100.0 /
								      (double)total : 0));
			json_object_set_new(j, "slots", json_integer(b->slots));
			json_object_set_new(j, "flows", json_integer((json_int_t)b->flows));
			json_object_set_new(j, "id", json_integer(b->id));
		}
		json_array_append_new(bes, j);
	}
	json_object_set_new(s, "backends", bes);
	if (with_table) {
		/* Slot -> backend address: what every node must agree on. */
		json_t *tab = json_array();
		__u32 *t = NULL;

		model_read_table(st, &m, &t);
		for (__u32 k = 0; t && k < m.svc.table_size; k++) {
			const char *a = "-";

			for (int i = 0; i < m.nbe; i++)
				if (m.be[i].id == t[k])
					a = fmt_addr_port(buf, &m.be[i].be.addr, m.be[i].be.family,
							  ntohs(m.be[i].be.port));
			json_array_append_new(tab, json_string(a));
		}
		free(t);
		json_object_set_new(s, "table", tab);
	}
	model_free(&m);
	return s;
}

static int attach_collect(const void *k, const void *v, void *ctx)
{
	const struct l4s_attach_key *key = k;
	const struct l4s_attach *a = v;
	json_t *arr = ctx, *j = json_object();
	char ns[64];
	const char *fwd = a->flags & L4S_ATTACH_TC_IN	  ? "tc-ingress" :
			  a->flags & L4S_ATTACH_XDP_SKB ? "xdp-generic" :
			  a->flags & L4S_ATTACH_XDP	  ? "xdp-native" :
							    "none";

	json_object_set_new(j, "dev", json_string(a->ifname));
	json_object_set_new(j, "ifindex", json_integer(key->ifindex));
	json_object_set_new(j, "netns", json_integer((json_int_t)key->netns_ino));
	json_object_set_new(j, "this_netns", json_boolean(key->netns_ino == netns_ino()));
	json_object_set_new(j, "netns_name", netns_find(key->netns_ino, ns, sizeof(ns)) ?
						     json_string(ns) : json_null());
	json_object_set_new(j, "forward", json_string(fwd));
	json_object_set_new(j, "reply", json_string(a->flags & L4S_ATTACH_TC_OUT ? "tc-egress" :
										 "none"));
	json_array_append_new(arr, j);
	return 0;
}

static double jnum(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* A weight as the user wrote it: plain decimals (1000000, 0.000001), never 1e+06. */
static const char *weight_text(char *buf, json_t *v)
{
	double d = json_number_value(v);

	if (json_is_integer(v))
		return fmt_weight(buf, (__u64)json_integer_value(v) * L4S_WEIGHT_ONE);
	return fmt_weight(buf, (__u64)llround(d * L4S_WEIGHT_ONE));
}

static void print_status(json_t *doc)
{
	json_t *svcs = json_object_get(doc, "services"), *s, *att;
	size_t i, j;

	json_array_foreach(svcs, i, s) {
		json_t *fes = json_object_get(s, "frontends"), *fe, *bes, *b;
		const char *tn;
		json_t *tw;
		char wb[32];

		printf("service %s", json_string_value(json_object_get(s, "name")));
		json_array_foreach(fes, j, fe)
			printf(" %s", json_string_value(fe));
		printf("\n  affinity %s", json_string_value(json_object_get(s, "affinity")));
		if (json_object_get(s, "affinity_timeout"))
			printf(" (a client keeps its backend %d s after its last new flow)",
			       (int)jnum(s, "affinity_timeout"));
		printf(", table %d slots, mode %s, owner %s\n",
		       (int)jnum(s, "table_size"), json_string_value(json_object_get(s, "mode")),
		       json_string_value(json_object_get(s, "owner")));
		printf("  %-16s %10s %8s\n", "TRACK", "WEIGHT", "SHARE");
		json_object_foreach(json_object_get(s, "tracks"), tn, tw) {
			printf("  %-16s %10s %7.2f%%\n", tn, weight_text(wb, tw),
			       jnum(json_object_get(s, "track_shares"), tn));
		}
		bes = json_object_get(s, "backends");
		printf("  %-28s %-12s %8s %8s %7s %8s\n", "BACKEND", "TRACK", "WEIGHT", "SHARE",
		       "SLOTS", "FLOWS");
		json_array_foreach(bes, j, b) {
			printf("  %-28s %-12s %8s %7.2f%% %7d %8lld\n",
			       json_string_value(json_object_get(b, "addr")),
			       json_string_value(json_object_get(b, "track")),
			       weight_text(wb, json_object_get(b, "weight")),
			       jnum(b, "share"), (int)jnum(b, "slots"),
			       (long long)json_integer_value(json_object_get(b, "flows")));
		}
		if (!json_array_size(bes))
			printf("  (no backends: new flows are dropped)\n");
		if (json_object_get(s, "table")) { /* status NAME --table */
			json_t *slot;

			printf("  %-6s %s\n", "SLOT", "BACKEND");
			json_array_foreach(json_object_get(s, "table"), j, slot)
				printf("  %-6zu %s\n", j, json_string_value(slot));
		}
	}
	if (!json_array_size(svcs))
		printf("no services\n");
	att = json_object_get(doc, "attached");
	if (att) {
		json_t *a;

		printf("attached:");
		json_array_foreach(att, i, a) {
			printf(" %s (%s + %s%s%s)", json_string_value(json_object_get(a, "dev")),
			       json_string_value(json_object_get(a, "forward")),
			       json_string_value(json_object_get(a, "reply")),
			       json_is_true(json_object_get(a, "this_netns")) ? "" : ", other netns ",
			       json_is_true(json_object_get(a, "this_netns")) ? "" :
			       json_string_value(json_object_get(a, "netns_name")) ?:
			       "(gone: 'detach --all' removes it)");
		}
		printf("%s\n", json_array_size(att) ? "" : " nowhere");
	}
	att = json_object_get(doc, "cgroups");
	json_array_foreach(att, i, s) {
		json_t *h;

		printf("socket hooks on cgroup %s%s:", json_string_value(json_object_get(s, "path")),
		       json_is_true(json_object_get(s, "live")) ? "" : " (gone: detach it)");
		json_array_foreach(json_object_get(s, "hooks"), j, h)
			printf(" %s", json_string_value(h));
		printf("\n");
	}
}

static void print_stats(json_t *doc)
{
	json_t *svcs = json_object_get(doc, "services"), *s, *b;
	size_t i, j;
	const char *rk;
	json_t *rv;

	json_array_foreach(svcs, i, s) {
		printf("service %s: %lld packets, %lld bytes, %lld flows, %lld dropped (no "
		       "backend)\n",
		       json_string_value(json_object_get(s, "name")),
		       (long long)jnum(s, "packets"), (long long)jnum(s, "bytes"),
		       (long long)jnum(s, "flows"), (long long)jnum(s, "no_backend"));
		printf("  %-24s %-8s %9s %11s %7s %9s %8s %6s %6s %7s %7s\n", "BACKEND", "TRACK",
		       "PACKETS", "BYTES", "FLOWS", "REPLIES", "ANSWERED", "RESETS", "SYNRTX",
		       "SOCKETS", "SKFAIL");
		json_array_foreach(json_object_get(s, "backends"), j, b) {
			json_t *sk = json_object_get(b, "socket");

			printf("  %-24s %-8s %9lld %11lld %7lld %9lld %8lld %6lld %6lld %7lld %7lld\n",
			       json_string_value(json_object_get(b, "addr")),
			       json_string_value(json_object_get(b, "track")),
			       (long long)jnum(b, "packets"), (long long)jnum(b, "bytes"),
			       (long long)jnum(b, "flows"), (long long)jnum(b, "reply_packets"),
			       (long long)jnum(b, "answered"), (long long)jnum(b, "resets"),
			       (long long)jnum(b, "syn_retries"), (long long)jnum(sk, "flows"),
			       (long long)jnum(sk, "tcp_failed"));
		}
	}
	printf("verdicts:");
	json_object_foreach(json_object_get(doc, "reasons"), rk, rv) {
		if (json_integer_value(rv))
			printf(" %s=%lld", rk, (long long)json_integer_value(rv));
	}
	printf("\n");
}

static int status_or_stats(int argc, char **argv, int stats)
{
	struct l4s_state st;
	json_t *doc, *arr;
	__u32 *ids = NULL, one;
	int n = 0, table = 0;

	if (argc >= 1 && is_help(argv[0]))
		return stats ? help_stats() : help_status();
	if (!stats && argc >= 1 && !strcmp(argv[argc - 1], "--table")) {
		table = 1;
		argc--;
		if (argc != 1)
			return usage_error("--table goes with one service NAME");
	}
	if (argc > 1)
		return usage_error("%s takes at most one service NAME", stats ? "stats" : "status");
	if (argc == 1 && parse_name("service", argv[0]))
		return cmd_fail(EXIT_USAGE);
	if (state_open(&st, state_pin_dir(opt_pin_dir), 0))
		return cmd_fail(1);
	if (argc == 1) {
		if (svc_find(&st, argv[0], &one)) {
			state_close(&st);
			return cmd_fail(1);
		}
		ids = &one;
		n = 1;
	} else if (svc_list(&st, &ids, &n)) {
		state_close(&st);
		return cmd_fail(1);
	}
	doc = json_object();
	arr = json_array();
	for (int i = 0; i < n; i++) {
		json_t *s = svc_json(&st, ids[i], stats, table);

		if (!s) {
			json_decref(doc);
			json_decref(arr);
			state_close(&st);
			return cmd_fail(1);
		}
		json_array_append_new(arr, s);
	}
	json_object_set_new(doc, "services", arr);
	if (stats) {
		json_t *r = json_object();
		__u64 v[L4S_R_MAX] = {};

		state_reasons(&st, v);
		for (__u32 k = 0; k < L4S_R_MAX; k++)
			json_object_set_new(r, reason_name(k), json_integer((json_int_t)v[k]));
		json_object_set_new(doc, "reasons", r);
	} else if (argc == 0) {
		json_t *att = json_array();

		state_attach_scan(&st, attach_collect, att);
		json_object_set_new(doc, "attached", att);
		json_object_set_new(doc, "cgroups", cgroup_status(&st));
		json_object_set_new(doc, "flow_table_size", json_integer((json_int_t)st.flow_max));
		json_object_set_new(doc, "backend_capacity", json_integer((json_int_t)st.be_max));
	}
	if (ids != &one)
		free(ids);
	state_close(&st);
	if (l4s_json)
		json_print(doc);
	else {
		if (stats)
			print_stats(doc);
		else
			print_status(doc);
		json_decref(doc);
	}
	return 0;
}

int do_status(int argc, char **argv)
{
	if (argc >= 1 && !is_help(argv[0]) && cluster_mode(argc, argv))
		return do_status_cluster(argc, argv);
	return status_or_stats(argc, argv, 0);
}

int do_stats(int argc, char **argv)
{
	const char *name = NULL;
	__u64 interval = 0, count = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--watch") && strcmp(argv[i], "--count")) {
			if (argv[i][0] == '-' || name)
				return interval ? usage_error("stats --watch takes one service NAME, "
							      "--watch SECONDS and --count N") :
						  status_or_stats(argc, argv, 1);
			name = argv[i];
			continue;
		}
		if (i + 1 >= argc)
			return usage_error("%s needs a value", argv[i]);
		if (!strcmp(argv[i], "--watch") &&
		    parse_duration_ms("watch interval", argv[++i], &interval))
			return cmd_fail(EXIT_USAGE);
		if (!strcmp(argv[i], "--count") &&
		    parse_u64("count", argv[++i], 1, 1000000000, &count))
			return cmd_fail(EXIT_USAGE);
	}
	if (!interval) {
		if (count)
			return usage_error("--count goes with --watch SECONDS");
		return status_or_stats(argc, argv, 1);
	}
	if (!name)
		return usage_error("stats --watch needs a service NAME");
	if (parse_name("service", name))
		return cmd_fail(EXIT_USAGE);
	return stats_watch(name, interval, count);
}
