/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Gateway API -> l4split services, and the status the leader writes back. Pure: it reads
 * the cached API objects (jansson values) and returns desired service specs and status
 * bodies; no I/O, no maps, no clock (the caller passes "now").
 *
 * Supported: GatewayClass (spec.controllerName L4S_GW_CONTROLLER), Gateway (IPAddress
 * spec.addresses, TCP/UDP listeners, allowedRoutes namespaces Same/All/Selector and
 * kinds), TCPRoute and UDPRoute in gateway.networking.k8s.io/v1 and v1alpha2 (one rule;
 * backendRefs to core Services with port and weight), parentRefs to Gateways
 * (sectionName, port) and to Services (GAMMA producer routes), ReferenceGrant v1beta1
 * for cross-namespace backendRefs. What is refused, and with which condition, is in the
 * README (Gateway API).
 */
#ifndef L4S_GATEWAY_H
#define L4S_GATEWAY_H

#include <jansson.h>
#include "spec.h"

#define L4S_GW_CONTROLLER "l4split.io/gateway-controller"
#define L4S_GW_GROUP      "gateway.networking.k8s.io"

/*
 * What the translation reads. Each collection is a JSON array of objects or a JSON object
 * whose values are the objects (the agent's cache: "namespace/name" -> object), or NULL
 * (none). Routes may hold the same object twice, as served under v1 and v1alpha2: one is
 * used (the v1 copy). @namespaces may be NULL: routes a listener admits by a namespace
 * Selector are then refused (NotAllowedByListeners, the message says why).
 */
struct gw_input {
	json_t *gateway_classes, *gateways, *tcproutes, *udproutes;
	json_t *reference_grants; /* v1beta1 (v1 too: same schema) */
	json_t *services;         /* core/v1 Services: GAMMA parents, backendRef existence */
	json_t *namespaces;       /* core/v1 Namespaces (labels) */
	const char *now;          /* RFC 3339, for a condition's lastTransitionTime */
};

/* A track and the Service whose EndpointSlice endpoints are its backends. */
struct gw_track_ref {
	char track[L4S_NAME_LEN];
	char ns[64];
	char name[254];
	__u16 port;    /* the backendRef's port: the Service port, host order */
	int resolved;  /* 0: the Service is missing or the ref is not permitted: no backends */
};

/* One l4split service: a Gateway listener or a GAMMA parent Service port, and its route. */
struct gw_service {
	struct svc_spec spec;   /* name, frontends, tracks with weights; no backends */
	struct gw_track_ref *ref; /* one per track, in the order of spec.tr */
	int nref;
	char route[300];        /* "TCPRoute ns/name", for messages */
};

/* A status to write: PUT @body to the object's status subresource (body holds
 * metadata.resourceVersion when the object had one, so a concurrent change gets 409). */
struct gw_status_write {
	const char *kind;  /* "GatewayClass", "Gateway", "TCPRoute", "UDPRoute" */
	char api_version[64];
	char ns[64];
	char name[254];
	json_t *body;      /* {apiVersion, kind, metadata{name,namespace,resourceVersion}, status} */
};

struct gw_result {
	struct gw_service *svc;
	int nsvc;
	struct gw_status_write *st; /* only statuses that differ from what the object has */
	int nst;
};

/* 0 (@out filled; free with gw_result_free), or -ENOMEM. Bad objects and fields never fail
 * the call: they get a condition in their status, or are skipped when they have no name. */
int gw_translate(const struct gw_input *in, struct gw_result *out);
void gw_result_free(struct gw_result *r);

/* Names, exposed for tests: "gw_NS.GATEWAY.LISTENER" and "mesh_NS.SERVICE.PORT", hashed
 * when too long. '_' never appears in the agent's NS.NAME.PORT names, so they never meet. */
void gw_svc_name(char out[L4S_NAME_LEN], const char *prefix, const char *ns, const char *name,
		 const char *section);

#endif
