// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split agent: the DaemonSet's process. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <curl/curl.h>
#include "lazylib.h"
#include "agent.h"
#include "cluster.h"
#include "cmd.h"
#include "err.h"
#include "rollout_ctl.h"
#include "state.h"

/*
 * SIGTERM/SIGINT are blocked in every thread and taken by this one with sigwait(),
 * so that a signal can do what a handler may not: take the lock, wake the
 * reconciler's condition variable and the watchers' transfers (agent_stop). The
 * agent then ends within a few milliseconds, well inside the pod's grace period.
 */
static void *signal_thread(void *arg)
{
	struct agent *a = arg;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (!sigwait(&set, &sig) && !a->stop) {
		agent_log("%s received", sig == SIGINT ? "SIGINT" : "SIGTERM");
		agent_stop(a);
	}
	return NULL;
}

/* Sockets for the metrics server's connections: a container's soft limit is often
 * 1024 with a far higher hard limit; take the hard one (as Go programs do). */
static void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= r.rlim_max)
		return;
	r.rlim_cur = r.rlim_max == RLIM_INFINITY ? 1048576 : r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

int help_agent(void)
{
	printf("Usage: l4split agent [--kubeconfig FILE] [--node-name N] [--namespace NS]\n"
	       "                     [--metrics-addr [HOST]:PORT|off]\n"
	       "                     [--leader-elect true|false] [--lease-namespace NS]\n"
	       "                     [--prometheus-url URL]\n"
	       "                     [--nodeport-addresses primary|CIDR,...]\n"
	       "  Lists and watches Services and EndpointSlices (pods' metadata only for\n"
	       "  l4split.io/track-label), and keeps the maps equal to what the\n"
	       "  Services annotated l4split.io/* ask for (see README), and, when the API\n"
	       "  server serves them, to what Gateway API TCPRoutes and UDPRoutes of the\n"
	       "  GatewayClasses of l4split.io/gateway-controller ask for. In a pod it uses the\n"
	       "  service account; elsewhere --kubeconfig (or $KUBECONFIG). Serves Prometheus\n"
	       "  metrics on /metrics and readiness on /healthz (default :9477). Runs until\n"
	       "  SIGTERM/SIGINT; the datapath keeps forwarding when it stops.\n"
	       "  One agent of the cluster leads (a coordination.k8s.io/v1 Lease named\n"
	       "  l4split-agent in --lease-namespace, default $POD_NAMESPACE or kube-system;\n"
	       "  client-go's timings: 15 s lease, 10 s renew deadline, 2 s retry): it alone\n"
	       "  writes cluster-wide status (Gateway API status included). --leader-elect\n"
	       "  false: never lead.\n"
	       "  The leader drives the rollouts declared on Services (l4split.io/rollout),\n"
	       "  judging each step on health summed over every node: from the Prometheus\n"
	       "  server at --prometheus-url (http://HOST:PORT), else from every agent's\n"
	       "  /metrics (the pods of $POD_NAMESPACE labelled " CLUSTER_AGENT_SELECTOR ").\n"
	       "  Node ports are served on this node's addresses: by default the primary\n"
	       "  ones of its Node object (--node-name), with --nodeport-addresses every\n"
	       "  local interface address inside the CIDRs (kube-proxy's flag).\n");
	return 0;
}

int do_agent(int argc, char **argv)
{
	static struct agent a;
	static struct rollout_ctl ro;
	const char *kubeconfig = getenv("KUBECONFIG"), *maddr = ":9477", *npa = NULL;
	struct metrics *m = NULL;
	sigset_t sigs;
	pthread_t sig_th;
	int err;

	a.node = getenv("NODE_NAME");
	a.leader_elect = 1;
	a.lease_ns = getenv("POD_NAMESPACE") && *getenv("POD_NAMESPACE") ? getenv("POD_NAMESPACE") :
									  "kube-system";
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];

		if (is_help(o))
			return help_agent();
		if (i + 1 >= argc)
			return usage_error("unknown agent option \"%s\" (or it needs a value)", o);
		if (!strcmp(o, "--kubeconfig"))
			kubeconfig = argv[++i];
		else if (!strcmp(o, "--node-name"))
			a.node = argv[++i];
		else if (!strcmp(o, "--namespace"))
			a.namespace = argv[++i];
		else if (!strcmp(o, "--metrics-addr"))
			maddr = argv[++i];
		else if (!strcmp(o, "--leader-elect")) {
			const char *v = argv[++i];

			if (strcmp(v, "true") && strcmp(v, "false"))
				return usage_error("agent option --leader-elect \"%s\": expected true or "
						   "false", v);
			a.leader_elect = !strcmp(v, "true");
		} else if (!strcmp(o, "--lease-namespace"))
			a.lease_ns = argv[++i];
		else if (!strcmp(o, "--prometheus-url")) {
			ro.prom_url = argv[++i];
			if (*ro.prom_url && strncmp(ro.prom_url, "http://", 7) &&
			    strncmp(ro.prom_url, "https://", 8))
				return usage_error("agent option --prometheus-url \"%s\": expected "
						   "http://HOST:PORT or https://...", ro.prom_url);
		} else if (!strcmp(o, "--nodeport-addresses"))
			npa = argv[++i];
		else
			return usage_error("unknown agent option \"%s\"", o);
		if (!*argv[i] && strcmp(o, "--kubeconfig")) /* "" kubeconfig: in-cluster */
			return usage_error("agent option %s needs a value, not \"\"", o);
	}
	/* Usage errors first, before a kubeconfig or a cluster is looked for. */
	if (strcmp(maddr, "off") && metrics_addr_check(maddr))
		return cmd_fail(EXIT_USAGE);
	if (nodeaddr_filter_parse(npa, &a.np))
		return cmd_fail(EXIT_USAGE);
	a.pin_dir = state_pin_dir(opt_pin_dir);
	if (lazy_curl())
		return cmd_fail(1);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return l4s_err(EIO, "cannot initialise libcurl"), cmd_fail(1);
	err = kubeconfig && *kubeconfig ? kube_config_file(&a.k, kubeconfig) :
					  kube_config_incluster(&a.k);
	if (err) {
		kube_free(&a.k);
		curl_global_cleanup();
		return cmd_fail(1);
	}
	/* The state exists before anything else: metrics and the CLI can read it. */
	{
		struct l4s_state st;

		if (state_open(&st, a.pin_dir, STATE_CREATE)) {
			kube_free(&a.k);
			curl_global_cleanup();
			return cmd_fail(1);
		}
		state_close(&st);
	}
	if (agent_init(&a)) {
		kube_free(&a.k);
		curl_global_cleanup();
		return cmd_fail(1);
	}
	/* Blocked before any thread starts (libmicrohttpd's, libcurl's resolver, the
	 * watchers): they all inherit the mask, and only signal_thread takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (strcmp(maddr, "off") && !(m = metrics_start(&a, maddr))) {
		kube_free(&a.k);
		curl_global_cleanup();
		return cmd_fail(1);
	}
	if ((err = pthread_create(&sig_th, NULL, signal_thread, &a))) {
		l4s_err(err, "cannot start a thread: %s", strerror(err));
		metrics_stop(m);
		kube_free(&a.k);
		curl_global_cleanup();
		return cmd_fail(1);
	}
	ro.a = &a;
	if (ro.prom_url && !*ro.prom_url)
		ro.prom_url = NULL;
	if (rollout_ctl_start(&ro)) /* rollouts only stop; the agent goes on */
		agent_log("%s: no rollout is driven by this agent", l4s_errmsg());
	err = agent_run(&a);
	agent_log("stopping%s", err ? " (could not start its threads)" : "");
	rollout_ctl_join(&ro);
	pthread_kill(sig_th, SIGTERM); /* ends its sigwait when no signal came */
	pthread_join(sig_th, NULL);
	metrics_stop(m);
	kube_free(&a.k);
	curl_global_cleanup();
	return err ? 1 : 0;
}
