/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node agent: list + watch Services and EndpointSlices from the API server (and
 * pod metadata, label-selected, only while a Service takes tracks from a pod label),
 * and keep the pinned maps equal to what annotated Services ask for. Every node runs
 * the same agent on the same API state, so every node builds the same tables.
 */
#ifndef L4S_AGENT_H
#define L4S_AGENT_H

#include <pthread.h>
#include <stdarg.h>
#include <jansson.h>
#include "events.h"
#include "informer.h"
#include "lease.h"
#include "kube.h"
#include "l4split.h"
#include "nodeaddr.h"

#define ANN_PREFIX      "l4split.io/"
#define ANN_WEIGHTS     ANN_PREFIX "weights"
#define ANN_TRACK_LABEL ANN_PREFIX "track-label"
#define ANN_AFFINITY    ANN_PREFIX "affinity"
#define ANN_ENABLED     ANN_PREFIX "enabled"
#define ANN_VIPS        ANN_PREFIX "vips"
#define ANN_MODE        ANN_PREFIX "mode"
#define ANN_TRACKS      ANN_PREFIX "tracks"

/* What the agent reads: RES_PODS is pod metadata only (PartialObjectMetadata); RES_NODES
 * this node's Node object only (fieldSelector metadata.name), for its node-port addresses. */
enum { RES_SERVICES, RES_SLICES, RES_PODS, RES_NODES, RES_MAX };
extern const char *const agent_res_name[RES_MAX];
#define AGENT_TRACK_KEYS 8 /* distinct l4split.io/track-label keys watched at once */

struct agent_stats {
	unsigned long reconciles, reconcile_errors, commits;
	unsigned long relists[RES_MAX], watch_restarts[RES_MAX], events[RES_MAX];
	double reconcile_seconds_sum, last_reconcile_seconds, last_reconcile_at;
	int managed; /* l4split services the agent keeps */
	unsigned long long api_bytes[RES_MAX]; /* bytes received (atomic: the informers add) */
};

struct agent_gw; /* the Gateway API glue's state (agent_gateway.c) */

struct agent {
	struct kube k;
	int leader_elect;      /* take part in the election (default) */
	const char *lease_ns;  /* namespace of the Lease l4split-agent */
	struct lease lease;
	const char *pin_dir;
	const char *node;
	const char *namespace; /* only this namespace, or NULL: all */
	volatile int stop;   /* set by agent_stop */
	int stop_rd, stop_wr; /* a pipe agent_stop writes: poll() on stop_rd wakes */

	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;
	struct informer inf[RES_PODS];           /* Services, EndpointSlices */
	struct informer pods[AGENT_TRACK_KEYS];   /* pod metadata, one per track-label key */
	char pod_key[AGENT_TRACK_KEYS][320];      /* ... its key ("" : slot free) */
	int dirty;
	json_t *last_error; /* "namespace/name" -> message, so a bad annotation is logged once */
	json_t *last_warning; /* "namespace/name" -> why it gets no traffic, logged once */
	struct agent_stats st;
	json_t *k8s_names; /* l4split name -> {namespace, service, port}: metric labels */
	struct ev_recorder ev; /* Kubernetes Events about Services (events.h) */
	struct agent_gw *gw;   /* Gateway API: informers, discovery (agent_gateway.c) */

	/* Service fields (svcfields.h). Node-port frontends are this node's addresses:
	 * its Node object's primary ones (np.primary; node_inf watches that one object),
	 * or the local interfaces' addresses inside --nodeport-addresses' CIDRs. */
	struct nodeaddr_filter np;
	struct informer node_inf;
	int node_inf_on;
	struct healthsrv *hs; /* healthCheckNodePort listeners (healthsrv.h) */
};

/* The lock, the condition and the stop pipe; also sets a->k.stop and a->k.stop_fd,
 * so set up a->k first. 0, or -errno with a message. */
int agent_init(struct agent *a);
/* Stop: every loop, wait and transfer of the agent ends at once. From any thread
 * (not from a signal handler: it takes the lock). */
void agent_stop(struct agent *a);
int agent_run(struct agent *a);
/* This agent holds the cluster's Lease now (see lease.h): the one that writes status. */
int agent_leading(struct agent *a);
/* The Service fields' parts of the agent: this node's Node informer and the health check
 * server, started before the first reconcile and stopped after the last. */
void agent_fields_start(struct agent *a);
void agent_fields_stop(struct agent *a);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Annotation parsing (pure; also used by unit tests). */
struct track_weight {
	char track[32];
	unsigned long long weight; /* fixed point, L4S_WEIGHT_ONE */
};

struct svc_track {
	char track[32];
	char service[64]; /* the backend Service (same namespace) */
};

struct svc_config {
	int managed;
	const char *track_label;
	struct svc_track *tr; /* l4split.io/tracks */
	int ntr;
	int affinity;
	unsigned char mode; /* enum l4s_mode, from l4split.io/mode (default auto) */
	int has_weights;
	struct track_weight *w;
	int nw;
	int vip_lb, vip_external, vip_cluster;
};

/* 0, or -errno with a message naming the annotation and what is wrong with it. */
int svc_config_parse(json_t *annotations, struct svc_config *c);
/* l4split.io/tracks "TRACK=SERVICE,..." into c->tr: 0, or -errno with a message. */
int svc_tracks_parse(const char *value, struct svc_config *c);
void svc_config_free(struct svc_config *c);
/* The l4split service name for a Kubernetes Service port: NS.NAME.PORT, shortened
 * with a hash when longer than a name may be. */
void svc_k8s_name(char *out, const char *ns, const char *name, const char *port);

/* ---- between agent.c and agent_gateway.c ---------------------------------------------- */

/* What one reconcile pass reads: copies of the informers' caches. */
struct reconcile_in {
	json_t *svcs;   /* "ns/name" -> Service */
	json_t *slices; /* "ns/service-name" -> [EndpointSlice] (kubernetes.io/service-name) */
	json_t *pods;   /* track-label key -> ("ns/name" -> PartialObjectMetadata), synced only */
	const struct nodeaddr *node; /* this node's addresses for node ports (n may be 0) */
	const char *node_name;       /* --node-name: endpoints of a traffic policy Local */
};

/* The l4split services a pass keeps (the agent's others are deleted). */
struct desired {
	char (*names)[L4S_NAME_LEN];
	int n, cap;
};
void desired_add(struct desired *d, const char *name);

struct l4s_state;
struct k8s_result;
struct l4s_frontend_key;
/* The endpoints of one Service port (@svc's, or its tracks' backend Services' in @svc's
 * namespace, l4split.io/tracks) of one family; see agent.c. */
int port_endpoints(const struct reconcile_in *in, json_t *svc, const struct svc_config *c,
		   json_t *port, __u8 family, __u8 ipproto, json_t *pods, int fallback,
		   int local_only, struct k8s_result *out, char *why, size_t wlen);
int result_append(struct k8s_result *out, const struct k8s_result *kr);
/* Make l4split service @l4name have frontends @fe, @kr's endpoints and @c's weights,
 * through the one writer (agent-made). @svc: the Service Events are about, or NULL.
 * @af: client-IP affinity and its timeout (svcfields.h), or NULL: none.
 * 1 when something was written, 0, or -errno with a message. */
struct svcf_affinity;
int apply_port(struct agent *a, struct l4s_state *st, json_t *svc, const char *l4name,
	       const struct l4s_frontend_key *fe, int nfe, const struct svc_config *c,
	       const struct svcf_affinity *af, const struct k8s_result *kr);

/* Gateway API (agent_gateway.c): discovery and informers at start (0, or -errno with a
 * message); its services on every pass (reconcile, in the state's lock), then, out of
 * it, the leader's status writes and the periodic discovery (after); stop at the end. */
int agent_gw_start(struct agent *a);
void agent_gw_reconcile(struct agent *a, struct l4s_state *st, const struct reconcile_in *in,
			struct desired *keep);
void agent_gw_after(struct agent *a);
void agent_gw_stop(struct agent *a);

/* Prometheus endpoint: /metrics and /healthz. @addr: ":9477", "127.0.0.1:9477". */
struct metrics;
struct metrics *metrics_start(struct agent *a, const char *addr);
/* Is @addr one metrics_start takes? 0, or -EINVAL with a message. */
int metrics_addr_check(const char *addr);
void metrics_stop(struct metrics *m);
/* The Kubernetes Service port an l4split service serves (its metric labels namespace,
 * service, port), recorded when the agent applies it; keep: forget every name but the
 * @n of @names; free: at the agent's end. */
void agent_names_set(struct agent *a, const char *l4name, const char *ns, const char *name,
		     const char *port);
void agent_names_keep(struct agent *a, const char (*names)[L4S_NAME_LEN], int n);
void agent_names_free(struct agent *a);

#endif
