// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prometheus text exposition (version 0.0.4) of the datapath counters and the
 * agent's own, served by libmicrohttpd: /metrics and /healthz.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <microhttpd.h>
#include <bpf/libbpf.h>
#include "build-info.h"
#include "connect.h"
#include "lazylib.h"
#include "agent.h"
#include "err.h"
#include "model.h"
#include "parse.h"
#include "state.h"

struct metrics {
	struct MHD_Daemon *d;
	struct agent *a;
};

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 65536;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);

		if (!np)
			return;
		b->p = np;
		b->cap = cap;
	}
}

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}


/* Service metric families: name, help, index into l4s_service_stats. */
static const struct {
	const char *name, *help;
	int word;
} svc_counters[] = {
	{ "l4split_service_packets_total", "Packets to the service's frontends.", 0 },
	{ "l4split_service_bytes_total", "Bytes to the service's frontends.", 1 },
	{ "l4split_service_flows_total", "New flows of the service.", 2 },
	{ "l4split_service_dropped_no_backend_total",
	  "New flows dropped: no backend with weight above 0.", 3 },
};

/* Backend metric families: name, help, index into l4s_backend_stats. */
static const struct {
	const char *name, *help;
	int word;
} be_counters[] = {
	{ "l4split_backend_packets_total", "Packets forwarded to the backend.", 0 },
	{ "l4split_backend_bytes_total", "Bytes forwarded to the backend.", 1 },
	{ "l4split_backend_flows_total", "New flows assigned to the backend.", 2 },
	{ "l4split_backend_reply_packets_total", "Reply packets from the backend.", 3 },
	{ "l4split_backend_reply_bytes_total", "Reply bytes from the backend.", 4 },
	{ "l4split_backend_answered_flows_total",
	  "Flows the backend answered (SYN-ACK or first UDP reply).", 5 },
	{ "l4split_backend_resets_total", "TCP resets sent by the backend.", 6 },
	{ "l4split_backend_syn_retries_total", "Client SYNs repeated on unanswered flows.", 7 },
};

/* The socket path (struct l4s_sock_stats): sockets given a backend at connect/sendmsg. */
static const struct {
	const char *name, *help;
	int word;
} sock_counters[] = {
	{ "l4split_backend_socket_flows_total",
	  "Sockets of node-local clients given the backend (socket path).", 0 },
	{ "l4split_backend_socket_tcp_flows_total", "TCP connects given the backend (socket path).", 1 },
	{ "l4split_backend_socket_tcp_established_total",
	  "Socket-path TCP connects to the backend that completed the handshake.", 2 },
	{ "l4split_backend_socket_tcp_failed_total",
	  "Socket-path TCP connects to the backend closed before completing (refused, timed out).", 3 },
};

struct svc_snapshot {
	struct model m;
	struct l4s_service_stats sstats;
	struct l4s_backend_stats *bstats;
	struct l4s_sock_stats *sock;
	struct l4s_connect_hist *conn; /* NULL in a state from before the histogram */
};

/* Counter @word of a counters struct (they are arrays of __u64, as the tables above index). */
#define WORD(c, w) (((const __u64 *)&(c))[w])

/* @in as a label value: backslash, double quote and newline escaped (the text format). */
static const char *label_esc(char *out, size_t len, const char *in)
{
	size_t o = 0;

	for (; in && *in && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[o++] = '\\';
			out[o++] = *in == '\n' ? 'n' : *in;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = 0;
	return out;
}

/*
 * The labels of every series of one service: namespace, service (the Kubernetes
 * Service), port (its port's name, or number), family (ipv4, ipv6) and l4split_service
 * (the l4split name). A service made by hand has no Service: namespace "" and service
 * its l4split name. @names: the agent's l4split name -> {namespace, service, port}.
 */
static void svc_labels(char *out, size_t len, const struct model *m, json_t *names)
{
	json_t *k = json_object_get(names, m->svc.name);
	const char *ns = json_string_value(json_object_get(k, "namespace"));
	const char *svc = json_string_value(json_object_get(k, "service"));
	const char *port = json_string_value(json_object_get(k, "port"));
	char e[4][3 * L4S_NAME_LEN + 256];

	snprintf(out, len,
		 "namespace=\"%s\",service=\"%s\",port=\"%s\",family=\"%s\",l4split_service=\"%s\"",
		 label_esc(e[0], sizeof(e[0]), ns ? ns : ""),
		 label_esc(e[1], sizeof(e[1]), svc ? svc : m->svc.name),
		 label_esc(e[2], sizeof(e[2]), port ? port : ""),
		 m->svc.family == L4S_AF_INET6 ? "ipv6" : m->svc.family == L4S_AF_INET ? "ipv4" : "",
		 label_esc(e[3], sizeof(e[3]), m->svc.name));
}

/* Those of one backend: the service's, then track and backend (ADDR:PORT). */
static void be_labels(char *out, size_t len, const char *svc, const struct model_backend *mb)
{
	char addr[L4S_ADDRSTRLEN], t[3 * L4S_NAME_LEN];

	snprintf(out, len, "%s,track=\"%s\",backend=\"%s\"", svc,
		 label_esc(t, sizeof(t), mb->be.track),
		 fmt_addr_port(addr, &mb->be.addr, mb->be.family, ntohs(mb->be.port)));
}

void agent_names_set(struct agent *a, const char *l4name, const char *ns, const char *name,
		     const char *port)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "namespace", ns, "service", name, "port", port);

	if (!v)
		return;
	pthread_mutex_lock(&a->mu);
	if (!a->k8s_names)
		a->k8s_names = json_object();
	json_object_set_new(a->k8s_names, l4name, v);
	pthread_mutex_unlock(&a->mu);
}

void agent_names_keep(struct agent *a, const char (*names)[L4S_NAME_LEN], int n)
{
	json_t *keep = json_object(), *v;

	pthread_mutex_lock(&a->mu);
	for (int i = 0; keep && i < n; i++)
		if ((v = json_object_get(a->k8s_names, names[i])))
			json_object_set(keep, names[i], v);
	if (keep) {
		json_decref(a->k8s_names);
		a->k8s_names = keep;
	}
	pthread_mutex_unlock(&a->mu);
}

void agent_names_free(struct agent *a)
{
	pthread_mutex_lock(&a->mu);
	json_decref(a->k8s_names);
	a->k8s_names = NULL;
	pthread_mutex_unlock(&a->mu);
}

/* The connect-time histogram of every backend: cumulative le buckets, _sum (seconds) and
 * _count, with the labels of the other backend series. */
static void connect_metrics(struct buf *b, const struct svc_snapshot *s, int n,
			    const char (*lbl)[1024])
{
	char bl[1536];

	help(b, "l4split_backend_connect_seconds", "histogram",
	     "Time from a flow's first packet (SYN, first UDP datagram) to the backend's first "
	     "answer (SYN-ACK, first reply) through this node.");
	for (int i = 0; i < n; i++)
		for (int j = 0; s[i].conn && s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
			const struct l4s_connect_hist *h = &s[i].conn[j];
			__u64 cum = 0;

			be_labels(bl, sizeof(bl), lbl[i], &s[i].m.be[j]);
			for (int k = 0; k < L4S_CONNECT_BUCKETS; k++) {
				cum += h->count[k];
				if (k < L4S_CONNECT_BUCKETS - 1)
					bprintf(b, "l4split_backend_connect_seconds_bucket{%s,le=\"%g\"} %llu\n",
						bl, connect_bound_s(k), (unsigned long long)cum);
				else
					bprintf(b, "l4split_backend_connect_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
						bl, (unsigned long long)cum);
			}
			bprintf(b, "l4split_backend_connect_seconds_sum{%s} %.9f\n", bl,
				(double)h->sum_ns / 1e9);
			bprintf(b, "l4split_backend_connect_seconds_count{%s} %llu\n", bl,
				(unsigned long long)cum);
		}
}

static void datapath_metrics(struct buf *b, struct agent *a)
{
	const char *pin_dir = a->pin_dir;
	struct l4s_state st;
	json_t *names;
	char (*lbl)[1024] = NULL, bl[1536];
	struct svc_snapshot *s = NULL;
	__u32 *ids = NULL;
	int n = 0;

	if (state_open(&st, pin_dir, 0))
		return;
	if (svc_list(&st, &ids, &n) || !(s = calloc((size_t)n + 1, sizeof(*s))) ||
	    !(lbl = calloc((size_t)n + 1, sizeof(*lbl)))) {
		free(s);
		free(ids);
		state_close(&st);
		return;
	}
	pthread_mutex_lock(&a->mu);
	names = json_deep_copy(a->k8s_names);
	pthread_mutex_unlock(&a->mu);
	for (int i = 0; i < n; i++) {
		if (model_load(&st, ids[i], &s[i].m)) {
			s[i].m.nbe = -1;
			continue;
		}
		model_effective(&s[i].m);
		svc_labels(lbl[i], sizeof(lbl[i]), &s[i].m, names);
		model_count_flows(&st, &s[i].m);
		state_service_stats(&st, ids[i], &s[i].sstats);
		s[i].bstats = calloc((size_t)s[i].m.nbe + 1, sizeof(*s[i].bstats));
		for (int j = 0; s[i].bstats && j < s[i].m.nbe; j++)
			state_backend_stats(&st, s[i].m.be[j].id, &s[i].bstats[j]);
		s[i].sock = calloc((size_t)s[i].m.nbe + 1, sizeof(*s[i].sock));
		for (int j = 0; s[i].sock && j < s[i].m.nbe; j++)
			if (state_sock_stats(&st, s[i].m.be[j].id, &s[i].sock[j]) == -EOPNOTSUPP) {
				free(s[i].sock); /* a state from before the socket path */
				s[i].sock = NULL;
			}
		s[i].conn = calloc((size_t)s[i].m.nbe + 1, sizeof(*s[i].conn));
		for (int j = 0; s[i].conn && j < s[i].m.nbe; j++)
			if (state_connect_hist(&st, s[i].m.be[j].id, &s[i].conn[j]) == -EOPNOTSUPP) {
				free(s[i].conn); /* until attach adds l4s_bconnect */
				s[i].conn = NULL;
			}
	}
	for (size_t f = 0; f < sizeof(svc_counters) / sizeof(svc_counters[0]); f++) {
		help(b, svc_counters[f].name, "counter", svc_counters[f].help);
		for (int i = 0; i < n; i++)
			if (s[i].m.nbe >= 0)
				bprintf(b, "%s{%s} %llu\n", svc_counters[f].name, lbl[i],
					(unsigned long long)WORD(s[i].sstats, svc_counters[f].word));
	}
	help(b, "l4split_track_weight", "gauge", "Configured weight of a track.");
	for (int i = 0; i < n; i++)
		for (int t = 0; s[i].m.nbe >= 0 && t < s[i].m.ntr; t++)
			bprintf(b, "l4split_track_weight{%s,track=\"%s\"} %.6f\n", lbl[i],
				label_esc(bl, sizeof(bl), s[i].m.tr[t].name),
				(double)s[i].m.tr[t].weight / L4S_WEIGHT_ONE);
	for (size_t f = 0; f < sizeof(be_counters) / sizeof(be_counters[0]); f++) {
		help(b, be_counters[f].name, "counter", be_counters[f].help);
		for (int i = 0; i < n; i++)
			for (int j = 0; s[i].bstats && s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
				struct model_backend *mb = &s[i].m.be[j];

				be_labels(bl, sizeof(bl), lbl[i], mb);
				bprintf(b, "%s{%s} %llu\n", be_counters[f].name, bl,
					(unsigned long long)WORD(s[i].bstats[j], be_counters[f].word));
			}
	}
	for (size_t f = 0; f < sizeof(sock_counters) / sizeof(sock_counters[0]); f++) {
		help(b, sock_counters[f].name, "counter", sock_counters[f].help);
		for (int i = 0; i < n; i++)
			for (int j = 0; s[i].sock && s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
				struct model_backend *mb = &s[i].m.be[j];

				be_labels(bl, sizeof(bl), lbl[i], mb);
				bprintf(b, "%s{%s} %llu\n", sock_counters[f].name, bl,
					(unsigned long long)WORD(s[i].sock[j], sock_counters[f].word));
			}
	}
	connect_metrics(b, s, n, lbl);
	help(b, "l4split_backend_active_flows", "gauge", "Flow table entries pointing at the backend.");
	for (int i = 0; i < n; i++)
		for (int j = 0; s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
			struct model_backend *mb = &s[i].m.be[j];

			be_labels(bl, sizeof(bl), lbl[i], mb);
			bprintf(b, "l4split_backend_active_flows{%s} %llu\n", bl, (unsigned long long)mb->flows);
		}
	/* One family after the other: all samples of a family follow its HELP and TYPE
	 * (the text format; strict parsers make interleaved samples "unknown"). */
	help(b, "l4split_backend_weight", "gauge", "Configured weight of the backend inside its track.");
	for (int i = 0; i < n; i++)
		for (int j = 0; s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
			struct model_backend *mb = &s[i].m.be[j];

			be_labels(bl, sizeof(bl), lbl[i], mb);
			bprintf(b, "l4split_backend_weight{%s} %.6f\n", bl, (double)mb->weight / L4S_WEIGHT_ONE);
		}
	help(b, "l4split_backend_share_ratio", "gauge",
	     "Effective share of the service's new flows the weights give the backend (0 to 1).");
	for (int i = 0; i < n; i++) {
		unsigned __int128 total = 0;

		for (int j = 0; s[i].m.nbe >= 0 && j < s[i].m.nbe; j++)
			total += s[i].m.be[j].effective;
		for (int j = 0; s[i].m.nbe >= 0 && j < s[i].m.nbe; j++) {
			struct model_backend *mb = &s[i].m.be[j];

			be_labels(bl, sizeof(bl), lbl[i], mb);
			bprintf(b, "l4split_backend_share_ratio{%s} %.6f\n", bl, total ? (double)mb->effective / (double)total : 0.0);
		}
	}
	help(b, "l4split_datapath_verdicts_total", "counter",
	     "Packets by what the datapath did with them (drops by reason).");
	{
		__u64 v[L4S_R_MAX] = {};

		state_reasons(&st, v);
		for (__u32 r = 0; r < L4S_R_MAX; r++)
			bprintf(b, "l4split_datapath_verdicts_total{reason=\"%s\"} %llu\n",
				reason_name(r), (unsigned long long)v[r]);
	}
	for (int i = 0; i < n; i++) {
		free(s[i].bstats);
		free(s[i].sock);
		free(s[i].conn);
		if (s[i].m.nbe >= 0)
			model_free(&s[i].m);
	}
	free(s);
	free(lbl);
	json_decref(names);
	free(ids);
	state_close(&st);
}

/* What this agent is, as `l4split -V` says it: one sample, value 1 (labels carry it). */
static void build_info(struct buf *b)
{
	help(b, "l4split_build_info", "gauge",
	     "The agent's build: version, git commit, libbpf version, map layout version.");
	bprintf(b,
		"l4split_build_info{version=\"%s\",commit=\"%s\",libbpf=\"%u.%u\",layout=\"%d\"} 1\n",
		L4S_VERSION, L4S_COMMIT, libbpf_major_version(), libbpf_minor_version(),
		L4S_LAYOUT_VERSION);
}

static void agent_metrics(struct buf *b, struct agent *a)
{
	struct agent_stats s;
	unsigned long ev_posted, ev_errors, ev_limited;
	const char *const *res = agent_res_name;

	pthread_mutex_lock(&a->mu);
	s = a->st;
	ev_posted = a->ev.posted;
	ev_errors = a->ev.errors;
	ev_limited = a->ev.limited;
	pthread_mutex_unlock(&a->mu);
	help(b, "l4split_agent_reconciles_total", "counter", "Reconcile passes.");
	bprintf(b, "l4split_agent_reconciles_total %lu\n", s.reconciles);
	help(b, "l4split_agent_reconcile_errors_total", "counter",
	     "Services that could not be reconciled (bad annotations, conflicts, map errors).");
	bprintf(b, "l4split_agent_reconcile_errors_total %lu\n", s.reconcile_errors);
	help(b, "l4split_agent_commits_total", "counter", "Changes written to the maps.");
	bprintf(b, "l4split_agent_commits_total %lu\n", s.commits);
	help(b, "l4split_agent_reconcile_duration_seconds", "summary", "Time of a reconcile pass.");
	bprintf(b, "l4split_agent_reconcile_duration_seconds_sum %.6f\n", s.reconcile_seconds_sum);
	bprintf(b, "l4split_agent_reconcile_duration_seconds_count %lu\n", s.reconciles);
	help(b, "l4split_agent_last_reconcile_timestamp_seconds", "gauge",
	     "When the last reconcile pass ended (Unix time).");
	bprintf(b, "l4split_agent_last_reconcile_timestamp_seconds %.0f\n", s.last_reconcile_at);
	help(b, "l4split_agent_managed_services", "gauge", "l4split services kept from Services.");
	bprintf(b, "l4split_agent_managed_services %d\n", s.managed);
	help(b, "l4split_agent_leader", "gauge",
	     "1 while this agent holds the cluster's Lease (it writes cluster-wide status).");
	bprintf(b, "l4split_agent_leader %d\n", agent_leading(a));
	help(b, "l4split_agent_events_posted_total", "counter",
	     "Kubernetes Events about Services written (created, or count bumped).");
	bprintf(b, "l4split_agent_events_posted_total %lu\n", ev_posted);
	help(b, "l4split_agent_event_errors_total", "counter",
	     "Kubernetes Event writes that failed (refused: RBAC, quota; or unreachable).");
	bprintf(b, "l4split_agent_event_errors_total %lu\n", ev_errors);
	help(b, "l4split_agent_events_limited_total", "counter",
	     "Kubernetes Events not posted: the Service's token bucket was empty.");
	bprintf(b, "l4split_agent_events_limited_total %lu\n", ev_limited);
	help(b, "l4split_agent_watch_events_total", "counter", "Watch events received.");
	for (int r = 0; r < RES_MAX; r++)
		bprintf(b, "l4split_agent_watch_events_total{resource=\"%s\"} %lu\n", res[r],
			s.events[r]);
	help(b, "l4split_agent_relists_total", "counter", "Full lists (start, 410 Gone).");
	for (int r = 0; r < RES_MAX; r++)
		bprintf(b, "l4split_agent_relists_total{resource=\"%s\"} %lu\n", res[r], s.relists[r]);
	help(b, "l4split_agent_watch_restarts_total", "counter", "Watch streams that ended.");
	for (int r = 0; r < RES_MAX; r++)
		bprintf(b, "l4split_agent_watch_restarts_total{resource=\"%s\"} %lu\n", res[r],
			s.watch_restarts[r]);
	help(b, "l4split_agent_api_bytes_total", "counter",
	     "Bytes received from the API server (lists and watches), by resource.");
	for (int r = 0; r < RES_MAX; r++)
		bprintf(b, "l4split_agent_api_bytes_total{resource=\"%s\"} %llu\n", res[r],
			__atomic_load_n(&a->st.api_bytes[r], __ATOMIC_RELAXED));
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
								 MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_len, void **ctx)
{
	struct metrics *m = cls;
	struct buf b = {};

	(void)version, (void)upload, (void)upload_len, (void)ctx;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"), 9);
	if (!strcmp(url, "/metrics")) {
		build_info(&b);
		datapath_metrics(&b, m->a);
		agent_metrics(&b, m->a);
		if (!b.p)
			return reply(c, 500, "text/plain", strdup("out of memory\n"), 14);
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	}
	if (!strcmp(url, "/healthz")) {
		int ok;

		pthread_mutex_lock(&m->a->mu);
		ok = m->a->inf[RES_SERVICES].synced && m->a->inf[RES_SLICES].synced &&
		     m->a->st.reconciles;
		pthread_mutex_unlock(&m->a->mu);
		if (ok)
			return reply(c, MHD_HTTP_OK, "text/plain", strdup("ok\n"), 3);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
			     strdup("not synced with the API server yet\n"), 35);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("try /metrics or /healthz\n"), 25);
}

/* @addr as a socket address; *v6only: 1 an IPv6 address, 0 an IPv4 one, -1 any
 * address of both families. 0, or -EINVAL with a message. */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, int *v6only)
{
	const char *colon = strrchr(addr, ':');
	char host[128];
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!colon || colon - addr >= (long)sizeof(host))
		goto bad;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port == 0 || port > 65535)
		goto bad;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	if (!host[0] || !strcmp(host, "::")) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6; /* any address, IPv4 too (dual stack) */
		s6->sin6_port = htons((unsigned short)port);
		s6->sin6_addr = in6addr_any;
		*v6only = -1;
	} else if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		*v6only = 1;
	} else {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		*v6only = 0;
	}
	return 0;
bad:
	return l4s_err(EINVAL, "--metrics-addr \"%s\" is wrong: expected [HOST]:PORT such as "
		       ":9477, 127.0.0.1:9477 or [::1]:9477, or off", addr);
}

int metrics_addr_check(const char *addr)
{
	struct sockaddr_storage ss;
	int v6only;

	return parse_listen(addr, &ss, &v6only);
}

/*
 * libmicrohttpd's own messages, as agent log lines. A flood of connections makes it
 * say the same thing per connection: at most LOG_BURST lines a minute, then a count.
 */
#define LOG_BURST 10

static void __attribute__((format(printf, 2, 0))) mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static unsigned long lines, dropped;
	time_t now = time(NULL);
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		msg[--n] = 0;
	for (char *p = msg; *p; p++) /* one log line each, whatever it says */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	pthread_mutex_lock(&mu);
	if (now - window >= 60) {
		if (dropped)
			agent_log("metrics server: %lu more messages in the last minute not shown",
				  dropped);
		window = now;
		lines = dropped = 0;
	}
	if (lines++ < LOG_BURST)
		agent_log("metrics server: %s", msg);
	else
		dropped++;
	pthread_mutex_unlock(&mu);
}

/*
 * Connections: libmicrohttpd with epoll (no FD_SETSIZE ceiling; MHD_USE_AUTO picks
 * epoll on Linux, poll elsewhere), at most METRICS_PER_IP from one client address and
 * METRICS_MAX_CONNS in all (fewer when the file limit is low: room stays for the
 * agent's own files), each closed after METRICS_IDLE_S seconds without a byte. A
 * slow-loris client gets its few connections, and the kubelet's probe still gets
 * an answer.
 */
#define METRICS_MAX_CONNS 4096u
#define METRICS_PER_IP    64u
#define METRICS_IDLE_S    10u
#define METRICS_FD_RESERVE 256u

static unsigned int conn_limit(void)
{
	struct rlimit r;
	rlim_t fds;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return 512;
	fds = r.rlim_cur == RLIM_INFINITY ? METRICS_MAX_CONNS + METRICS_FD_RESERVE : r.rlim_cur;
	if (fds < 2 * METRICS_FD_RESERVE)
		return (unsigned int)(fds / 2);
	fds -= METRICS_FD_RESERVE;
	return fds < METRICS_MAX_CONNS ? (unsigned int)fds : METRICS_MAX_CONNS;
}

struct metrics *metrics_start(struct agent *a, const char *addr)
{
	struct metrics *m;
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	int v6only;

	if (parse_listen(addr, &ss, &v6only) || lazy_mhd())
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		l4s_err(ENOMEM, "out of memory");
		return NULL;
	}
	m->a = a;
	if (v6only < 0)
		flags |= MHD_USE_DUAL_STACK;
	else if (v6only)
		flags |= MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL,
				handler, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_CONNECTION_LIMIT, conn_limit(),
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, METRICS_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, METRICS_IDLE_S, MHD_OPTION_END);
	if (!m->d) {
		l4s_err(EADDRINUSE, "cannot serve metrics on %s (address in use, or not an address "
			"of this host)", addr);
		l4s_hint("choose another --metrics-addr, or --metrics-addr off");
		free(m);
		return NULL;
	}
	return m;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
