// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* l4split agent: the DaemonSet's process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "lazylib.h"
#include "agent.h"
#include "cmd.h"
#include "err.h"
#include "state.h"

static struct agent *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		running->stop = 1;
}

int help_agent(void)
{
	printf("Usage: l4split agent [--kubeconfig FILE] [--node-name N] [--namespace NS]\n"
	       "                     [--metrics-addr [HOST]:PORT|off]\n"
	       "  Lists and watches Services and Pods, and keeps the maps equal to what the\n"
	       "  Services annotated l4split.io/* ask for (see README). In a pod it uses the\n"
	       "  service account; elsewhere --kubeconfig (or $KUBECONFIG). Serves Prometheus\n"
	       "  metrics on /metrics and readiness on /healthz (default :9477). Runs until\n"
	       "  SIGTERM/SIGINT; the datapath keeps forwarding when it stops.\n");
	return 0;
}

int do_agent(int argc, char **argv)
{
	static struct agent a;
	const char *kubeconfig = getenv("KUBECONFIG"), *maddr = ":9477";
	struct metrics *m = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int err;

	a.node = getenv("NODE_NAME");
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
		else
			return usage_error("unknown agent option \"%s\"", o);
	}
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
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	a.k.stop = &a.stop;
	if (strcmp(maddr, "off") && !(m = metrics_start(&a, maddr))) {
		kube_free(&a.k);
		curl_global_cleanup();
		return cmd_fail(1);
	}
	running = &a;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = agent_run(&a);
	agent_log("stopping%s", err ? " (could not start its threads)" : "");
	metrics_stop(m);
	running = NULL;
	kube_free(&a.k);
	curl_global_cleanup();
	return err ? 1 : 0;
}
