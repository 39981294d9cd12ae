/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cluster mode of the CLI: the weights of a Kubernetes Service written where the agents
 * read them (the l4split.io/weights annotation, by an optimistic-concurrency PUT), the
 * agents found through the API (the DaemonSet's pods) and their /metrics read back.
 * The parsers and comparisons are pure (unit-tested); the rest talks HTTP.
 */
#ifndef L4S_CLUSTER_H
#define L4S_CLUSTER_H

#include <jansson.h>
#include "agent.h"
#include "kube.h"

#define CLUSTER_AGENT_NS       "kube-system" /* deploy/base/daemonset.yaml */
#define CLUSTER_AGENT_SELECTOR "app.kubernetes.io/name=l4split"
#define CLUSTER_AGENT_PORT     9477
#define CLUSTER_PUT_TRIES      5 /* 409 Conflict: re-read and try again, this often */

/*
 * The annotation value after `weight NS/NAME T=W ...`: the tracks of @current (the
 * annotation as it is, or NULL) with those of @args (TRACK=W each) set, in the order of
 * @current then the new ones. Checked exactly as the agent checks the annotation
 * (svc_config_parse); *want gets the parsed result (svc_config_free it). 0, or -EINVAL
 * with a message naming the argument (ADDR:PORT=W is refused: backend weights are
 * node-local).
 */
int cluster_weights_merge(int nargs, char **args, const char *current, char *out, size_t len,
			  struct svc_config *want);

/*
 * The samples of @metric in a Prometheus text exposition whose labels namespace and
 * service are @ns and @name: an array of {"labels": {...}, "value": number}. Pure.
 */
json_t *prom_text_select(const char *text, const char *metric, const char *ns, const char *name);

/*
 * Does the exposition @text show the weights @want in force for Service @ns/@name? Every
 * l4split_track_weight series of it has the wanted weight (0 for a track @want does not
 * name, as the agent does) and every track @want names has one. 1 yes, 0 no; @have gets
 * what the node has ("new=0 old=1", or "no l4split service for it yet"). Pure.
 */
int cluster_weights_in_force(const char *text, const char *ns, const char *name,
			     const struct svc_config *want, char *have, size_t hlen);

/* Does @labels (a pod's metadata.labels) match the equality selector @sel (k=v,k2=v2)? */
int label_selector_match(json_t *labels, const char *sel);

/*
 * Write the Service's annotations: GET it, @edit(annotations, ctx, weights, len) changes
 * the annotations as it likes (or only reads them) and gives the l4split.io/weights
 * value to write ("" leaves it); 0 to go on, or -errno: nothing is written, and that is
 * returned. Nothing is written when the annotations come out as they were. PUT the
 * object back with the resourceVersion read; on 409 (someone changed the Service in
 * between) read again, edit again and retry, at most CLUSTER_PUT_TRIES times, so a
 * concurrent change is never overwritten. @value gets the weights written, *rv the
 * resourceVersion, *tries the PUTs sent (0: nothing to change). 0, or -errno with a
 * message.
 */
int cluster_put_service(struct kube *k, const char *ns, const char *name,
			int (*edit)(json_t *annotations, void *ctx, char *value, size_t len),
			void *ctx, char *value, size_t len, char *rv, size_t rvlen, int *tries);

struct cluster_agent {
	char pod[254], node[254], addr[64]; /* addr: the pod IP, or "" (not running yet) */
	char *text;   /* the last /metrics scraped, or NULL */
	char err[512]; /* why the last scrape failed, or "" */
};

/* The agents: pods in @ns matching @selector, sorted by node. 0 (with *n >= 0), or -errno. */
int cluster_agents(struct kube *k, const char *ns, const char *selector,
		   struct cluster_agent **a, int *n);
void cluster_agents_free(struct cluster_agent *a, int n);
/* Scrape http://ADDR:@port/metrics of the agents @which[i] non-zero (all when NULL), in
 * parallel, each within @timeout_s: text or err of each is set. 0, or -errno (curl). */
int cluster_scrape(struct cluster_agent *a, int n, const int *which, int port, double timeout_s);

#endif
