/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Service fields that decide a port's frontends and its session affinity, read
 * the way kube-proxy reads them. Pure: a Service object (JSON) in, plain structs out;
 * no maps, no API calls. The agent loops over the result:
 *
 *	struct svcf_vips v = { c.vip_lb, c.vip_external, c.vip_cluster };
 *	struct svcf_frontends f;
 *	if (svcf_frontends(svc, i, &node, &v, &f))  -> svc_error(..., l4s_errmsg())
 *	for (int g = 0; g < f.ng; g++)  -> one l4split service per group:
 *		name from the port and svcf_group_suffix(&f.g[g]), frontends f.g[g].fe,
 *		backends: only this node's endpoints when f.g[g].local_only
 *	if (f.health_check_node_port) -> a healthsrv entry (healthsrv.h)
 */
#ifndef L4S_SVCFIELDS_H
#define L4S_SVCFIELDS_H

#include <jansson.h>
#include "l4split.h"
#include "nodeaddr.h"

#define SVCF_MAX_FE     64
#define SVCF_MAX_GROUPS 4 /* (IPv4, IPv6) x (every endpoint, this node's) */

/* Which kinds of frontend l4split.io/vips asks for (svc_config's vip_lb, vip_external,
 * vip_cluster). Node ports come with lb: a cloud load balancer sends to them. */
struct svcf_vips {
	int lb, external, cluster;
};

enum {
	SVCF_CLUSTER  = 1 << 0, /* spec.clusterIPs */
	SVCF_EXTERNAL = 1 << 1, /* ingress IPs, externalIPs, node addresses on the nodePort */
};

struct svcf_group {
	__u8 family;    /* L4S_AF_INET or L4S_AF_INET6 */
	int local_only; /* backends: only this node's endpoints (a traffic policy Local) */
	int roles;      /* SVCF_CLUSTER | SVCF_EXTERNAL: what its frontends are */
	struct l4s_frontend_key fe[SVCF_MAX_FE]; /* first: the VIP the service is shown by */
	int nfe;
};

struct svcf_frontends {
	struct svcf_group g[SVCF_MAX_GROUPS]; /* only groups with frontends; IPv4 first */
	int ng;
	__u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 port;     /* spec.ports[i].port */
	__u16 node_port; /* spec.ports[i].nodePort, 0: none (or type ClusterIP) */
	/* spec.healthCheckNodePort when it must be answered on this node (type
	 * LoadBalancer, externalTrafficPolicy Local), else 0 */
	__u16 health_check_node_port;
	int skipped_family;   /* addresses of a family the Service does not have */
	int skipped_hostname; /* ingress entries with a hostname only, or ipMode Proxy */
};

/*
 * The frontends of spec.ports[@port_idx] of @svc on a node with addresses @node (may
 * be NULL or empty: no node-port frontends). 0, or -EINVAL with a message naming the
 * field that is wrong, -EOPNOTSUPP for what l4split cannot serve (SCTP, ExternalName).
 * A port with no frontend at all (a headless Service, nothing of the kinds @vips asks
 * for yet) is not an error: ng is 0.
 */
int svcf_frontends(json_t *svc, size_t port_idx, const struct nodeaddr *node,
		   const struct svcf_vips *vips, struct svcf_frontends *out);

/* "" for a group of every endpoint, "local" for one of this node's: the agent names the
 * l4split service of a local-only group NS.NAME.PORT-local (and -v6 as it does). */
const char *svcf_group_suffix(const struct svcf_group *g);

#define SVCF_AFFINITY_DEFAULT_S 10800u /* kube-proxy's default: 3 hours */
#define SVCF_AFFINITY_MAX_S     86400u /* the API's limit */

struct svcf_affinity {
	int on;            /* L4S_SVC_F_AFFINITY_CLIENT_IP */
	__u32 timeout_s;   /* svc_spec.affinity_timeout: 0 = hash-only affinity, no expiry */
	const char *from;  /* "spec.sessionAffinity", "annotation l4split.io/affinity", NULL */
	char note[160];    /* set when the annotation was overruled: say it once */
};

/*
 * Session affinity of @svc: spec.sessionAffinity ClientIP (timeout from
 * spec.sessionAffinityConfig.clientIP.timeoutSeconds, default 10800, 1..86400), or the
 * annotation l4split.io/affinity client-ip (hash-only affinity, no timeout, as before).
 * The Service field wins: with ClientIP, the annotation "none" cannot turn it off (a
 * note says so). 0, or -EINVAL with a message naming the field.
 */
int svcf_affinity(json_t *svc, struct svcf_affinity *out);

#endif
