// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode of `weight` and `status`: NS/NAME (or --kubeconfig) names a Kubernetes
 * Service; its weights are written to the Service (l4split.io/weights) and read back
 * from every agent's /metrics. Node-local NAMEs never hold a '/', so the two never meet.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "cluster.h"
#include "cmd.h"
#include "err.h"
#include "lazylib.h"
#include "parse.h"
#include "rollout_ctl.h"

struct cluster_opts {
	const char *kubeconfig;
	const char *agent_ns, *agent_sel;
	int agent_port;
	int no_wait;
	__u64 timeout_ms; /* weight: the wait; status: each scrape */
	__u64 window_ms;  /* status: 0 counter totals, else flows between two scrapes */
	char ns[254], name[254];
	struct kube k;
};

int cluster_mode(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--kubeconfig") || !strncmp(argv[i], "--kubeconfig=", 13))
			return 1;
	return argc >= 1 && strchr(argv[0], '/') != NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A Kubernetes object name (RFC 1123 subdomain: what Services and namespaces take). */
static int k8s_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

/*
 * The options after NS/NAME; the other words (TRACK=W) are moved to the front of @argv
 * and counted in *nrest. Usage errors are printed here (the exit code is returned).
 */
static int cluster_parse(int argc, char **argv, int weight, struct cluster_opts *o, int *nrest)
{
	__u64 v;

	memset(o, 0, sizeof(*o));
	o->agent_ns = CLUSTER_AGENT_NS;
	o->agent_sel = CLUSTER_AGENT_SELECTOR;
	o->agent_port = CLUSTER_AGENT_PORT;
	o->timeout_ms = weight ? 30000 : 2000;
	*nrest = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq = strchr(a, '=');
		char opt[32];

		if (strncmp(a, "--", 2)) {
			argv[1 + (*nrest)++] = argv[i];
			continue;
		}
		snprintf(opt, sizeof(opt), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		if (!strcmp(opt, "--no-wait") && weight) {
			o->no_wait = 1;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (!strcmp(opt, "--kubeconfig") || !strcmp(opt, "--agent-namespace") ||
		    !strcmp(opt, "--agent-selector") || !strcmp(opt, "--agent-port") ||
		    !strcmp(opt, "--timeout") || (!weight && !strcmp(opt, "--window"))) {
			if (!val || !*val)
				return usage_error("%s needs a value", opt);
		} else {
			return usage_error("unknown %s option \"%s\" on a cluster", weight ? "weight" :
					   "status", a);
		}
		if (!strcmp(opt, "--kubeconfig"))
			o->kubeconfig = val;
		else if (!strcmp(opt, "--agent-namespace")) {
			if (!k8s_name_ok(val))
				return usage_error("--agent-namespace \"%s\" is not a namespace name", val);
			o->agent_ns = val;
		} else if (!strcmp(opt, "--agent-selector"))
			o->agent_sel = val;
		else if (!strcmp(opt, "--agent-port")) {
			if (parse_u64("agent port", val, 1, 65535, &v))
				return cmd_fail(EXIT_USAGE);
			o->agent_port = (int)v;
		} else if (!strcmp(opt, "--timeout")) {
			if (parse_duration_ms("timeout", val, &o->timeout_ms))
				return cmd_fail(EXIT_USAGE);
		} else if (parse_duration_ms("window", val, &o->window_ms)) {
			return cmd_fail(EXIT_USAGE);
		}
	}
	return 0;
}

/* The API server and the Service's namespace: NS from NS/NAME, else the context's. */
static int cluster_connect(struct cluster_opts *o, const char *arg)
{
	const char *kc = o->kubeconfig, *slash = strchr(arg, '/');
	char home[512];
	int err;

	if (lazy_curl())
		return cmd_fail(1);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return l4s_err(EIO, "cannot initialise libcurl"), cmd_fail(1);
	if (!kc)
		kc = getenv("KUBECONFIG");
	if ((!kc || !*kc) && !getenv("KUBERNETES_SERVICE_HOST") && getenv("HOME")) {
		snprintf(home, sizeof(home), "%s/.kube/config", getenv("HOME"));
		if (!access(home, R_OK))
			kc = home;
	}
	err = kc && *kc ? kube_config_file(&o->k, kc) : kube_config_incluster(&o->k);
	if (err) {
		l4s_hint("give --kubeconfig FILE (or $KUBECONFIG), or run in a pod with a service "
			 "account");
		return cmd_fail(1);
	}
	if (!slash)
		snprintf(o->ns, sizeof(o->ns), "%s", o->k.namespace ? o->k.namespace : "default");
	return 0;
}

/* NS/NAME (or NAME with --kubeconfig) into o->ns, o->name; a usage error otherwise. */
static int service_arg(struct cluster_opts *o, const char *arg)
{
	const char *slash = strchr(arg, '/');

	if (slash) {
		snprintf(o->ns, sizeof(o->ns), "%.*s", (int)(slash - arg), arg);
		snprintf(o->name, sizeof(o->name), "%s", slash + 1);
		if (!k8s_name_ok(o->ns) || !k8s_name_ok(o->name))
			return usage_error("service \"%s\" is wrong: expected NAMESPACE/NAME of a "
					   "Kubernetes Service (lower case letters, digits, '-', '.')",
					   arg);
	} else {
		snprintf(o->name, sizeof(o->name), "%s", arg);
		if (!k8s_name_ok(o->name))
			return usage_error("service \"%s\" is wrong: expected the name of a "
					   "Kubernetes Service (lower case letters, digits, '-', '.')",
					   arg);
	}
	return 0;
}

static void cluster_close(struct cluster_opts *o)
{
	kube_free(&o->k);
	curl_global_cleanup();
}

struct weight_make {
	int nargs;
	char **args;
	struct svc_config want; /* the weights of the last value made */
};

/*
 * At each read of the Service: the value from the annotation as it is now (tracks not
 * named keep their weight), and the Service's other annotations must be ones the agent
 * takes, or the new weights would never be in force (it keeps the last good configuration).
 */
static int make_weights(json_t *ann, void *ctx, char *value, size_t len)
{
	struct weight_make *w = ctx;
	json_t *copy;
	struct svc_config c;
	int err;

	svc_config_free(&w->want);
	if (cluster_weights_merge(w->nargs, w->args,
				  json_string_value(json_object_get(ann, ANN_WEIGHTS)), value, len,
				  &w->want))
		return l4s_err_prefix("the weights");
	copy = json_deep_copy(ann);
	json_object_set_new(copy, ANN_WEIGHTS, json_string(value));
	err = svc_config_parse(copy, &c);
	svc_config_free(&c);
	json_decref(copy);
	if (err) {
		l4s_err_prefix("the Service's annotations would not be applied");
		l4s_hint("fix the annotation first (kubectl annotate --overwrite service ...); "
			 "nothing was written");
	}
	return err;
}

static json_t *weights_json(const struct svc_config *c)
{
	json_t *o = json_object();

	for (int i = 0; i < c->nw; i++) {
		__u64 w = c->w[i].weight;

		json_object_set_new(o, c->w[i].track,
				    w % L4S_WEIGHT_ONE ? json_real((double)w / L4S_WEIGHT_ONE) :
							 json_integer((json_int_t)(w / L4S_WEIGHT_ONE)));
	}
	return o;
}

void help_weight_cluster(int text)
{
	if (!text) {
		printf("       l4split weight NAMESPACE/SERVICE TRACK=W ... [--kubeconfig FILE]\n"
		       "                      [--no-wait] [--timeout DUR] [--agent-namespace NS]\n"
		       "                      [--agent-selector SEL] [--agent-port PORT]\n");
		return;
	}
	printf("  On a cluster (NAMESPACE/SERVICE, or --kubeconfig): write the weights into the\n"
	       "  Service's l4split.io/weights annotation (tracks not named keep their weight in\n"
	       "  it), checked as the agent checks it, by an update that fails on a concurrent\n"
	       "  change (409) and is then read and retried. Then wait until every agent (pods\n"
	       "  of --agent-namespace, default " CLUSTER_AGENT_NS ", matching --agent-selector,\n"
	       "  default " CLUSTER_AGENT_SELECTOR ") shows the weights in force on its\n"
	       "  /metrics (podIP:--agent-port, default 9477); exit 1 naming the nodes that do\n"
	       "  not, or cannot be reached, within --timeout (default 30s). --no-wait: write\n"
	       "  only. The API server: --kubeconfig, $KUBECONFIG, the pod's service account,\n"
	       "  or ~/.kube/config.\n");
}

void help_status_cluster(int text)
{
	if (!text) {
		printf("       l4split status NAMESPACE/SERVICE [--kubeconfig FILE] [--window DUR]\n"
		       "                      [--timeout DUR] [--agent-namespace NS]\n"
		       "                      [--agent-selector SEL] [--agent-port PORT]\n");
		return;
	}
	printf("  On a cluster (NAMESPACE/SERVICE, or --kubeconfig): per node (the agents'\n"
	       "  pods, found as weight finds them), the weights in force, the share they give\n"
	       "  each track, and the new flows each track was given: counter totals since the\n"
	       "  backends were added, or with --window DUR those between two reads DUR apart;\n"
	       "  nodes whose agent cannot be read within --timeout (default 2s) are named as\n"
	       "  unreachable.\n");
}

int do_weight_cluster(int argc, char **argv)
{
	struct cluster_opts o;
	struct svc_config want;
	struct weight_make wm = { 0 };
	struct cluster_agent *ag = NULL;
	char value[4096], rv[64] = "", have[512];
	double t0, deadline;
	int rc, nrest, tries = 0, nag = 0, err;
	int *done = NULL;
	double *when = NULL;
	json_t *doc;

	if ((rc = cluster_parse(argc, argv, 1, &o, &nrest)))
		return rc;
	if ((rc = service_arg(&o, argv[0])))
		return rc;
	if (nrest < 1) {
		usage_help(help_weight);
		return usage_error("weight needs NAMESPACE/SERVICE and at least one TRACK=W");
	}
	/* The weights alone first, checked as the agent will: nothing is asked or written
	 * before they pass. */
	if (cluster_weights_merge(nrest, argv + 1, NULL, value, sizeof(value), &want))
		return cmd_fail(EXIT_USAGE);
	svc_config_free(&want);
	if ((rc = cluster_connect(&o, argv[0])))
		return rc;
	wm.nargs = nrest;
	wm.args = argv + 1;
	err = cluster_put_service(&o.k, o.ns, o.name, make_weights, &wm, value, sizeof(value), rv,
				  sizeof(rv), &tries);
	if (err) {
		if (err == -ENOENT)
			l4s_hint("'kubectl get services -n %s' lists the Services", o.ns);
		svc_config_free(&wm.want);
		cluster_close(&o);
		return cmd_fail(1);
	}
	want = wm.want;
	if (!l4s_json) {
		printf("%s/%s: l4split.io/weights \"%s\" %s (resourceVersion %s%s)\n", o.ns, o.name,
		       value, tries ? "written" : "already in place", rv,
		       tries > 1 ? ", after a conflicting change was re-read" : "");
		fflush(stdout);
	}
	doc = json_pack("{s:o, s:s, s:o, s:s, s:b, s:i}", "service",
			json_sprintf("%s/%s", o.ns, o.name), "annotation", value, "weights",
			weights_json(&want), "resource_version", rv, "written", tries > 0, "writes",
			tries);
	if (o.no_wait) {
		svc_config_free(&want);
		cluster_close(&o);
		if (l4s_json)
			json_print(doc);
		else
			json_decref(doc);
		return 0;
	}
	t0 = now_s();
	deadline = t0 + (double)o.timeout_ms / 1000;
	if (cluster_agents(&o.k, o.agent_ns, o.agent_sel, &ag, &nag) || !nag) {
		if (!nag && ag)
			l4s_err(ENOENT, "no l4split agent found: no pod in namespace %s matches %s",
				o.agent_ns, o.agent_sel);
		l4s_err_prefix("%s/%s: the weights are written; whether they are in force is "
			       "unknown", o.ns, o.name);
		l4s_hint("--agent-namespace and --agent-selector name the DaemonSet's pods "
			 "(deploy/base/daemonset.yaml: %s, %s)", CLUSTER_AGENT_NS,
			 CLUSTER_AGENT_SELECTOR);
		goto fail;
	}
	done = calloc((size_t)nag, sizeof(*done));
	when = calloc((size_t)nag, sizeof(*when));
	if (!done || !when) {
		l4s_err(ENOMEM, "out of memory");
		goto fail;
	}
	if (!l4s_json)
		printf("waiting for %d agent%s (up to %.0f s)\n", nag, nag == 1 ? "" : "s",
		       (double)o.timeout_ms / 1000);
	for (;;) {
		int left = 0, want_scrape[nag];
		double remain = deadline - now_s();

		for (int i = 0; i < nag; i++)
			want_scrape[i] = !done[i];
		if (cluster_scrape(ag, nag, want_scrape, o.agent_port,
				   remain < 0.2 ? 0.2 : remain > 2 ? 2 : remain))
			goto fail;
		for (int i = 0; i < nag; i++) {
			if (done[i])
				continue;
			if (ag[i].text &&
			    cluster_weights_in_force(ag[i].text, o.ns, o.name, &want, have, sizeof(have))) {
				done[i] = 1;
				when[i] = now_s() - t0;
				if (!l4s_json)
					printf("  %s: in force after %.1f s\n", ag[i].node, when[i]);
				fflush(stdout);
			} else {
				left++;
			}
		}
		if (!left)
			break;
		if (now_s() >= deadline) {
			char msg[3000];
			size_t off = 0;

			for (int i = 0; i < nag && off < sizeof(msg); i++) {
				int m = 0;

				if (done[i])
					continue;
				if (ag[i].text) {
					cluster_weights_in_force(ag[i].text, o.ns, o.name, &want, have,
								 sizeof(have));
					m = snprintf(msg + off, sizeof(msg) - off, "%s%s has %s", off ? "; " : "",
						     ag[i].node, have);
				} else {
					m = snprintf(msg + off, sizeof(msg) - off, "%s%s unreachable (%s)",
						     off ? "; " : "", ag[i].node, ag[i].err);
				}
				if (m > 0)
					off += (size_t)m;
			}
			l4s_err(ETIMEDOUT, "%s/%s: the weights are written but not in force on %d of "
				"%d nodes after %.0f s: %s", o.ns, o.name, left, nag,
				(double)o.timeout_ms / 1000, msg);
			l4s_hint("'l4split status %s/%s' shows each node; an unreachable agent: "
				 "'kubectl -n %s get pods -o wide -l %s'", o.ns, o.name, o.agent_ns,
				 o.agent_sel);
			goto fail;
		}
		usleep(200000);
	}
	{
		json_t *nodes = json_array();

		for (int i = 0; i < nag; i++)
			json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:s, s:f}", "node",
							       ag[i].node, "pod", ag[i].pod, "address",
							       ag[i].addr, "state", "in-force",
							       "seconds", when[i]));
		json_object_set_new(doc, "nodes", nodes);
	}
	if (l4s_json)
		json_print(doc);
	else {
		printf("%s/%s: in force on all %d node%s after %.1f s\n", o.ns, o.name, nag,
		       nag == 1 ? "" : "s", now_s() - t0);
		json_decref(doc);
	}
	free(done);
	free(when);
	cluster_agents_free(ag, nag);
	svc_config_free(&want);
	cluster_close(&o);
	return 0;
fail:
	json_decref(doc);
	free(done);
	free(when);
	cluster_agents_free(ag, nag);
	svc_config_free(&want);
	cluster_close(&o);
	return cmd_fail(1);
}

/* Per node: {l4split service -> {port, tracks: {T: {weight, share, flows}}}}. */
static json_t *node_services(const char *text, const char *ns, const char *name)
{
	static const char *metrics[] = { "l4split_track_weight", "l4split_backend_share_ratio",
					 "l4split_backend_flows_total" };
	static const char *field[] = { "weight", "share", "flows" };
	json_t *svcs = json_object();

	for (int m = 0; m < 3; m++) {
		json_t *arr = prom_text_select(text, metrics[m], ns, name), *s;
		size_t i;

		json_array_foreach(arr, i, s) {
			json_t *l = json_object_get(s, "labels");
			const char *sn = json_string_value(json_object_get(l, "l4split_service"));
			const char *tr = json_string_value(json_object_get(l, "track"));
			double v = json_real_value(json_object_get(s, "value"));
			json_t *svc, *tracks, *t;

			if (!sn || !tr)
				continue;
			if (!(svc = json_object_get(svcs, sn))) {
				const char *port = json_string_value(json_object_get(l, "port"));

				svc = json_pack("{s:s, s:{}}", "port", port ? port : "", "tracks");
				json_object_set_new(svcs, sn, svc);
			}
			tracks = json_object_get(svc, "tracks");
			if (!(t = json_object_get(tracks, tr))) {
				t = json_pack("{s:f, s:f, s:f}", "weight", 0.0, "share", 0.0, "flows", 0.0);
				json_object_set_new(tracks, tr, t);
			}
			if (m == 1)
				v *= 100; /* percent, as the node's status prints it */
			json_object_set_new(t, field[m],
					    json_real(json_real_value(json_object_get(t, field[m])) + v));
		}
		json_decref(arr);
	}
	return svcs;
}

int do_status_cluster(int argc, char **argv)
{
	struct cluster_opts o;
	struct cluster_agent *ag = NULL;
	json_t *doc, *nodes, *before = NULL, *svc = NULL;
	int rc, nrest, nag = 0, unreachable = 0;
	const char *annot;
	char path[600];
	long status;
	int err;

	if ((rc = cluster_parse(argc, argv, 0, &o, &nrest)))
		return rc;
	if ((rc = service_arg(&o, argv[0])))
		return rc;
	if (nrest)
		return usage_error("status on a cluster takes one NAMESPACE/SERVICE and options, not "
				   "\"%s\"", argv[1]);
	if ((rc = cluster_connect(&o, argv[0])))
		return rc;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", o.ns, o.name);
	err = kube_get(&o.k, path, &svc, &status);
	if (err == -ENOENT)
		l4s_err(ENOENT, "Service %s/%s not found", o.ns, o.name);
	if (err || cluster_agents(&o.k, o.agent_ns, o.agent_sel, &ag, &nag)) {
		json_decref(svc);
		cluster_close(&o);
		return cmd_fail(1);
	}
	annot = json_string_value(json_object_get(
		json_object_get(json_object_get(svc, "metadata"), "annotations"), ANN_WEIGHTS));
	if (o.window_ms) {
		if (cluster_scrape(ag, nag, NULL, o.agent_port, (double)o.timeout_ms / 1000))
			goto fail;
		before = json_array();
		for (int i = 0; i < nag; i++)
			json_array_append_new(before, ag[i].text ? node_services(ag[i].text, o.ns, o.name) :
								   json_null());
		usleep((useconds_t)(o.window_ms * 1000));
	}
	if (cluster_scrape(ag, nag, NULL, o.agent_port, (double)o.timeout_ms / 1000))
		goto fail;
	nodes = json_array();
	for (int i = 0; i < nag; i++) {
		json_t *n = json_pack("{s:s, s:s, s:s, s:b}", "node", ag[i].node, "pod", ag[i].pod,
				      "address", ag[i].addr, "reachable", ag[i].text != NULL);
		json_t *svcs, *s0, *s, *b;
		const char *sn;

		json_array_append_new(nodes, n);
		if (!ag[i].text || (before && json_is_null(json_array_get(before, (size_t)i)))) {
			json_object_set_new(n, "reachable", json_false());
			json_object_set_new(n, "error", json_string(ag[i].err[0] ? ag[i].err :
								    "unreachable at the first read"));
			unreachable++;
			continue;
		}
		svcs = node_services(ag[i].text, o.ns, o.name);
		s0 = before ? json_array_get(before, (size_t)i) : NULL;
		json_object_foreach(svcs, sn, s) {
			json_t *tracks = json_object_get(s, "tracks"), *t;
			const char *tn;
			double total = 0;

			json_object_foreach(tracks, tn, t) {
				b = json_object_get(json_object_get(json_object_get(json_object_get(s0, sn),
						    "tracks"), tn), "flows");
				double f = json_real_value(json_object_get(t, "flows")) -
					   (b ? json_real_value(b) : 0);

				json_object_set_new(t, "flows", json_integer((json_int_t)llround(f)));
				total += f;
			}
			json_object_foreach(tracks, tn, t)
				json_object_set_new(t, "seen", json_real(total > 0 ?
					100.0 * (double)json_integer_value(json_object_get(t, "flows")) / total : 0));
		}
		json_object_set_new(n, "services", svcs);
	}
	doc = json_pack("{s:o, s:s?, s:s, s:f, s:o}", "service", json_sprintf("%s/%s", o.ns, o.name),
			"annotation", annot, "flows", o.window_ms ? "window" : "totals",
			"window_seconds", (double)o.window_ms / 1000, "nodes", nodes);
	if (l4s_json) {
		json_print(doc);
	} else {
		size_t i;
		json_t *n;

		printf("service %s/%s: l4split.io/weights %s%s%s; %d agent%s", o.ns, o.name,
		       annot ? "\"" : "", annot ? annot : "(none)", annot ? "\"" : "", nag,
		       nag == 1 ? "" : "s");
		if (unreachable)
			printf(", %d unreachable", unreachable);
		printf("\n");
		if (o.window_ms)
			printf("  FLOWS: new flows in the %.1f s between two reads\n",
			       (double)o.window_ms / 1000);
		else
			printf("  FLOWS: new flows since the backends were added (counter totals)\n");
		json_array_foreach(nodes, i, n) {
			json_t *svcs = json_object_get(n, "services"), *s, *t;
			const char *sn, *tn;

			printf("node %s (pod %s, %s)", json_string_value(json_object_get(n, "node")),
			       json_string_value(json_object_get(n, "pod")),
			       *json_string_value(json_object_get(n, "address")) ?
				       json_string_value(json_object_get(n, "address")) : "no IP");
			if (!json_is_true(json_object_get(n, "reachable"))) {
				printf(": unreachable: %s\n",
				       json_string_value(json_object_get(n, "error")));
				continue;
			}
			if (!json_object_size(svcs)) {
				printf(": no l4split service for %s/%s\n", o.ns, o.name);
				continue;
			}
			printf("\n");
			json_object_foreach(svcs, sn, s) {
				char w[32];

				printf("  %s (port %s)\n", sn,
				       json_string_value(json_object_get(s, "port")));
				printf("    %-20s %8s %8s %10s %8s\n", "TRACK", "WEIGHT", "SHARE",
				       "FLOWS", "SEEN");
				json_object_foreach(json_object_get(s, "tracks"), tn, t)
					printf("    %-20s %8s %7.2f%% %10lld %7.2f%%\n", tn,
					       fmt_weight(w, (__u64)llround(json_real_value(json_object_get(t,
						       "weight")) * L4S_WEIGHT_ONE)),
					       json_real_value(json_object_get(t, "share")),
					       (long long)json_integer_value(json_object_get(t, "flows")),
					       json_real_value(json_object_get(t, "seen")));
			}
		}
		json_decref(doc);
	}
	json_decref(before);
	json_decref(svc);
	cluster_agents_free(ag, nag);
	cluster_close(&o);
	return 0;
fail:
	json_decref(before);
	json_decref(svc);
	cluster_agents_free(ag, nag);
	cluster_close(&o);
	return cmd_fail(1);
}

/* ---- rollout NS/NAME: the declarative rollout (rollout_ctl.h) ----------------------- */

void help_rollout_cluster(int text)
{
	if (!text) {
		printf("       l4split rollout NAMESPACE/SERVICE --to TRACK [--steps P1,P2,...]\n"
		       "                       [--interval DUR] [--max-failure-ratio R] [--min-flows N]\n"
		       "                       [--answer-timeout DUR] [--watch] [--timeout DUR]\n"
		       "                       [--kubeconfig FILE]\n"
		       "       l4split rollout NAMESPACE/SERVICE --status|--watch|--abort|--pause|--resume\n"
		       "                       [--timeout DUR] [--kubeconfig FILE]\n");
		return;
	}
	printf("  On a cluster (NAMESPACE/SERVICE, or --kubeconfig): --to writes the rollout into\n"
	       "  the Service's " ANN_ROLLOUT " annotation (to=TRACK; steps=...; interval=...;\n"
	       "  max-failure-ratio=...; min-flows=...; answer-timeout=...; id=...), the same\n"
	       "  knobs and defaults as on a node; the leading agent drives it, judging each\n"
	       "  step on the health of every node, and records its progress in\n"
	       "  " ANN_ROLLOUT_STATUS " (phase Progressing, Paused, Succeeded, RolledBack or\n"
	       "  Aborted). --status shows it; --watch follows it until it ends (exit 0\n"
	       "  succeeded, 3 rolled back, 1 aborted, or after --timeout); --abort restores the\n"
	       "  starting weights; --pause keeps the weights and stops judging; --resume goes on\n"
	       "  (the step's interval starts again).\n");
}

static const char *ann_get(json_t *svc, const char *key)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(svc, "metadata"), "annotations"), key));
}

struct ro_write {
	const char *value; /* the new rollout annotation, or NULL: */
	const char *state; /* the state= of the one there */
};

/* The rollout annotation with its state= set (or the new one): nothing else changes. */
static int make_rollout(json_t *ann, void *ctx, char *value, size_t len)
{
	struct ro_write *w = ctx;
	const char *cur = json_string_value(json_object_get(ann, ANN_ROLLOUT));
	char out[1024] = "";
	size_t off = 0;

	(void)len;
	value[0] = 0; /* the weights are the leader's */
	if (w->value) {
		json_object_set_new(ann, ANN_ROLLOUT, json_string(w->value));
		return 0;
	}
	if (!cur)
		return l4s_err(ENOENT, "no rollout is declared on it (no " ANN_ROLLOUT ")");
	for (const char *p = cur; *p;) {
		size_t l = strcspn(p, ";");
		const char *k = p;

		while (k < p + l && *k == ' ')
			k++;
		if (strncmp(k, "state", 5) && l && off < sizeof(out))
			off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%.*s", off ? ";" : "",
						(int)l, p);
		p += l;
		if (*p == ';')
			p++;
	}
	if (off < sizeof(out))
		snprintf(out + off, sizeof(out) - off, "%sstate=%s", off ? ";" : "", w->state);
	json_object_set_new(ann, ANN_ROLLOUT, json_string(out));
	return 0;
}

static json_t *rollout_doc(struct cluster_opts *o, json_t *svc)
{
	const char *r = ann_get(svc, ANN_ROLLOUT), *s = ann_get(svc, ANN_ROLLOUT_STATUS);
	json_t *st = s ? json_loads(s, 0, NULL) : NULL;

	return json_pack("{s:o, s:o, s:o, s:o}", "service", json_sprintf("%s/%s", o->ns, o->name),
			 "rollout", r ? json_string(r) : json_null(), "weights",
			 ann_get(svc, ANN_WEIGHTS) ? json_string(ann_get(svc, ANN_WEIGHTS)) :
						     json_null(),
			 "status", st ? st : json_null());
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k)) ?: "";
}

static void rollout_print(json_t *doc, int brief)
{
	json_t *st = json_object_get(doc, "status"), *h, *e;
	size_t i;

	if (!json_is_object(st)) {
		printf("%s: %s\n", jstr(doc, "service"), json_is_string(json_object_get(doc, "rollout")) ?
		       "rollout declared, not started yet (is an agent leading?)" : "no rollout");
		return;
	}
	printf("%s: %s, step %lld of %lld (%s %g%%), weights %s\n", jstr(doc, "service"),
	       jstr(st, "phase"), json_integer_value(json_object_get(st, "step")),
	       json_integer_value(json_object_get(st, "of")),
	       jstr(json_object_get(st, "track"), "name")[0] ? jstr(json_object_get(st, "track"), "name") :
							      "target",
	       json_number_value(json_object_get(st, "weight")), jstr(doc, "weights"));
	if (jstr(st, "reason")[0])
		printf("  %s\n", jstr(st, "reason"));
	if (brief)
		return;
	printf("  rollout: %s\n", jstr(doc, "rollout"));
	printf("  leader %s, health from %s, starting weights %s\n", jstr(st, "leader"),
	       jstr(st, "source"), jstr(st, "startWeights"));
	if (json_is_object(json_object_get(st, "track")))
		printf("  this step: %s %lld flows, failed %.2f%%; the others %lld flows, failed "
		       "%.2f%%; share %.1f%%\n", jstr(json_object_get(st, "track"), "name"),
		       json_integer_value(json_object_get(json_object_get(st, "track"), "flows")),
		       100 * json_number_value(json_object_get(json_object_get(st, "track"),
							       "failureRatio")),
		       json_integer_value(json_object_get(json_object_get(st, "others"), "flows")),
		       100 * json_number_value(json_object_get(json_object_get(st, "others"),
							       "failureRatio")),
		       json_number_value(json_object_get(st, "share")));
	h = json_object_get(st, "history");
	json_array_foreach(h, i, e)
		printf("  step %lld (%g%%) %s: %lld flows, failed %.2f%% (others %.2f%%), judged by %s\n",
		       json_integer_value(json_object_get(e, "step")),
		       json_number_value(json_object_get(e, "weight")), jstr(e, "result"),
		       json_integer_value(json_object_get(e, "flows")),
		       100 * json_number_value(json_object_get(e, "failureRatio")),
		       100 * json_number_value(json_object_get(e, "othersFailureRatio")), jstr(e, "by"));
}

static int phase_exit(const char *phase)
{
	if (!strcmp(phase, "Succeeded"))
		return 0;
	if (!strcmp(phase, "RolledBack"))
		return 3;
	if (!strcmp(phase, "Aborted"))
		return 1;
	return -1; /* not over */
}

int do_rollout_cluster(int argc, char **argv)
{
	struct cluster_opts o = { 0 };
	const char *action = NULL, *kc = NULL;
	char spec[1024] = "", path[600], rv[64], value[64];
	struct ro_spec s;
	__u64 timeout_ms = 0;
	int watch = 0, rc = 0, tries;
	size_t off = 0;
	json_t *svc = NULL, *doc;
	long status;
	double end;

	if ((rc = service_arg(&o, argv[0])))
		return rc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char *key = NULL;

		if (!strcmp(a, "--status") || !strcmp(a, "--abort") || !strcmp(a, "--pause") ||
		    !strcmp(a, "--resume")) {
			if (action)
				return usage_error("%s and %s: give one", action, a);
			action = a;
			continue;
		}
		if (!strcmp(a, "--watch")) {
			watch = 1;
			continue;
		}
		if (!strcmp(a, "--to"))
			key = "to";
		else if (!strcmp(a, "--steps"))
			key = "steps";
		else if (!strcmp(a, "--interval"))
			key = "interval";
		else if (!strcmp(a, "--max-failure-ratio"))
			key = "max-failure-ratio";
		else if (!strcmp(a, "--min-flows"))
			key = "min-flows";
		else if (!strcmp(a, "--answer-timeout"))
			key = "answer-timeout";
		else if (strcmp(a, "--kubeconfig") && strcmp(a, "--timeout"))
			return usage_error("unknown rollout option \"%s\" on a cluster", a);
		if (!v || !*v)
			return usage_error("%s needs a value", a);
		i++;
		if (!strcmp(a, "--kubeconfig"))
			kc = v;
		else if (!strcmp(a, "--timeout")) {
			if (parse_duration_ms("timeout", v, &timeout_ms))
				return cmd_fail(EXIT_USAGE);
		} else if (strchr(v, ';') || strchr(v, '=')) {
			return usage_error("%s \"%s\" is wrong: no ';' or '=' in a value", a, v);
		} else if (off < sizeof(spec)) {
			off += (size_t)snprintf(spec + off, sizeof(spec) - off, "%s=%s; ", key, v);
		}
	}
	if (spec[0] && action)
		return usage_error("%s goes without --to and its options", action);
	if (!spec[0] && !action && !watch)
		return usage_error("rollout on a cluster needs --to TRACK, or one of --status, "
				   "--watch, --abort, --pause, --resume");
	if (spec[0]) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (off < sizeof(spec))
			snprintf(spec + off, sizeof(spec) - off, "id=%lld%03ld", (long long)ts.tv_sec,
				 ts.tv_nsec / 1000000);
		/* Checked as the leader will check it: nothing is written before. */
		if (ro_spec_parse(spec, &s))
			return cmd_fail(EXIT_USAGE);
	}
	o.kubeconfig = kc;
	if ((rc = cluster_connect(&o, argv[0])))
		return rc;
	if (spec[0] || (action && strcmp(action, "--status"))) {
		struct ro_write w = { .value = spec[0] ? spec : NULL };

		w.state = !action ? "running" : !strcmp(action, "--abort") ? "aborted" :
			  !strcmp(action, "--pause") ? "paused" : "running";
		if (cluster_put_service(&o.k, o.ns, o.name, make_rollout, &w, value, sizeof(value),
					rv, sizeof(rv), &tries)) {
			l4s_err_prefix("%s/%s", o.ns, o.name);
			cluster_close(&o);
			return cmd_fail(1);
		}
		if (!l4s_json && !watch)
			printf("%s/%s: %s %s (resourceVersion %s); the leading agent acts on it\n", o.ns,
			       o.name, ANN_ROLLOUT, spec[0] ? "written" : w.state, rv);
		if (!watch && !l4s_json) {
			cluster_close(&o);
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", o.ns, o.name);
	end = now_s() + (timeout_ms ? (double)timeout_ms / 1000 : 1e12);
	{
		char last[4096] = "", id[80] = "";

		for (;;) {
			const char *phase, *sp;
			char *line;
			int done;

			if (kube_get(&o.k, path, &svc, &status)) {
				if (status == 404 || !status)
					l4s_err_prefix("%s/%s", o.ns, o.name);
				cluster_close(&o);
				return cmd_fail(1);
			}
			doc = rollout_doc(&o, svc);
			/* The run the annotation names now (the one written, or whichever). */
			id[0] = 0;
			if (ann_get(svc, ANN_ROLLOUT) && !ro_spec_parse(ann_get(svc, ANN_ROLLOUT), &s))
				snprintf(id, sizeof(id), "id=%s", s.id);
			l4s_err_clear();
			json_decref(svc);
			phase = jstr(json_object_get(doc, "status"), "phase");
			sp = jstr(json_object_get(doc, "status"), "spec");
			/* Until the leader has taken up this run, the status is an older one's
			 * (the run's key ends with its id). */
			if (id[0] && (strlen(sp) < strlen(id) || strcmp(sp + strlen(sp) - strlen(id), id)))
				phase = "";
			done = phase_exit(phase);
			if (!watch || (l4s_json && !watch)) {
				if (l4s_json)
					json_print(doc);
				else {
					rollout_print(doc, 0);
					json_decref(doc);
				}
				cluster_close(&o);
				return 0;
			}
			line = json_dumps(json_object_get(doc, "status"), JSON_COMPACT | JSON_SORT_KEYS);
			if (line && strcmp(line, last) && phase[0]) {
				/* One line per change (the updated time left out of the comparison). */
				if (l4s_json) {
					json_t *j = json_deep_copy(doc);

					json_print(j);
				} else {
					rollout_print(doc, 1);
				}
				fflush(stdout);
				snprintf(last, sizeof(last), "%s", line);
			}
			free(line);
			if (done >= 0) {
				if (!l4s_json)
					rollout_print(doc, 0);
				json_decref(doc);
				cluster_close(&o);
				return done;
			}
			json_decref(doc);
			if (now_s() >= end) {
				l4s_err(ETIMEDOUT, "%s/%s: the rollout has not ended after %.0f s", o.ns,
					o.name, (double)timeout_ms / 1000);
				l4s_hint("'l4split rollout %s/%s --status' shows where it is", o.ns,
					 o.name);
				cluster_close(&o);
				return cmd_fail(1);
			}
			usleep(500000);
		}
	}
}
