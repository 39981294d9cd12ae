// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Service fields -> frontend groups and session affinity (see svcfields.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "err.h"
#include "k8s.h"
#include "parse.h"
#include "svcfields.h"

/* agent.h's ANN_AFFINITY: the agent includes this module, not the other way round
 * (tests/layers/check_layers.py refuses include circles). */
#define ANN_AFFINITY "l4split.io/affinity"

enum svc_type { T_CLUSTER_IP, T_NODE_PORT, T_LOAD_BALANCER };

/* A string field that must be one of @vals (NULL-terminated); absent: @def. Index, or
 * -EINVAL with a message naming the field. */
static int enum_field(json_t *obj, const char *key, const char *field,
		      const char *const *vals, int def)
{
	json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);
	char list[128] = "";

	if (!v || json_is_null(v))
		return def;
	for (int i = 0; s && vals[i]; i++)
		if (!strcmp(s, vals[i]))
			return i;
	for (int i = 0; vals[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? (vals[i + 1] ? ", " : " or ") : "", vals[i]);
	if (!s)
		return l4s_err(EINVAL, "%s: not a string: expected %s", field, list);
	return l4s_err(EINVAL, "%s \"%.40s\" is wrong: expected %s", field, s, list);
}

/* An optional list field: NULL when absent, the array, or an error. */
static int list_field(json_t *obj, const char *key, const char *field, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return l4s_err(EINVAL, "%s: expected a list", field);
	*out = v;
	return 0;
}

static int ip_field(json_t *v, const char *field, struct l4s_addr *a, __u8 *fam)
{
	const char *s = json_string_value(v);

	if (!s)
		return l4s_err(EINVAL, "%s: expected an IP address string", field);
	if (parse_addr(s, a, fam) || addr_check(a, *fam))
		return l4s_err_prefix("%s", field);
	return 0;
}

struct ctx {
	struct svcf_frontends *out;
	int fam_ok[2]; /* [0] IPv4, [1] IPv6: families the Service has */
};

static int fam_index(__u8 fam)
{
	return fam == L4S_AF_INET6;
}

static int add_fe(struct ctx *c, const struct l4s_addr *a, __u8 fam, __u16 port, int local,
		  int role)
{
	struct svcf_frontends *o = c->out;
	struct svcf_group *g = NULL;
	struct l4s_frontend_key k = {};

	if (!c->fam_ok[fam_index(fam)]) {
		o->skipped_family++;
		return 0;
	}
	k.vip = *a;
	k.port = htons(port);
	k.proto = o->proto;
	k.family = fam;
	for (int i = 0; i < o->ng; i++)
		for (int j = 0; j < o->g[i].nfe; j++)
			if (!memcmp(&o->g[i].fe[j], &k, sizeof(k)))
				return 0; /* one frontend, one group: the first that names it */
	for (int i = 0; i < o->ng && !g; i++)
		if (o->g[i].family == fam && o->g[i].local_only == local)
			g = &o->g[i];
	if (!g) {
		if (o->ng == SVCF_MAX_GROUPS)
			return l4s_err(E2BIG, "too many frontend groups"); /* cannot happen */
		g = &o->g[o->ng++];
		g->family = fam;
		g->local_only = local;
	}
	if (g->nfe == SVCF_MAX_FE)
		return l4s_err(E2BIG, "more than %d frontends of one family for port %u",
			       SVCF_MAX_FE, port);
	g->fe[g->nfe++] = k;
	g->roles |= role;
	return 0;
}

static int group_cmp(const void *a, const void *b)
{
	const struct svcf_group *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return x->local_only - y->local_only;
}

const char *svcf_group_suffix(const struct svcf_group *g)
{
	return g->local_only ? "local" : "";
}

int svcf_frontends(json_t *svc, size_t port_idx, const struct nodeaddr *node,
		   const struct svcf_vips *vips, struct svcf_frontends *out)
{
	static const char *const types[] = { "ClusterIP", "NodePort", "LoadBalancer",
					     "ExternalName", NULL };
	static const char *const protos[] = { "TCP", "UDP", "SCTP", NULL };
	static const char *const policies[] = { "Cluster", "Local", NULL };
	static const char *const ipmodes[] = { "VIP", "Proxy", NULL };
	json_t *spec = json_object_get(svc, "spec"), *ports, *port, *cips, *eips, *fams,
	       *ingress = NULL, *x;
	struct ctx c = { .out = out };
	char field[96];
	int type, proto, etp, itp, elocal, ilocal, err;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(spec))
		return l4s_err(EINVAL, "spec: expected an object");
	type = enum_field(spec, "type", "spec.type", types, T_CLUSTER_IP);
	if (type < 0)
		return type;
	if (type == 3)
		return l4s_err(EOPNOTSUPP, "spec.type ExternalName is a DNS alias with no VIP: "
			       "l4split cannot split it");
	if ((err = list_field(spec, "ports", "spec.ports", &ports)))
		return err;
	port = json_array_get(ports, port_idx);
	if (!json_is_object(port))
		return l4s_err(EINVAL, "spec.ports[%zu]: no such port", port_idx);
	snprintf(field, sizeof(field), "spec.ports[%zu].protocol", port_idx);
	proto = enum_field(port, "protocol", field, protos, 0);
	if (proto < 0)
		return proto;
	if (proto == 2)
		return l4s_err(EOPNOTSUPP, "%s SCTP: l4split splits TCP and UDP only", field);
	out->proto = proto == 0 ? IPPROTO_TCP : IPPROTO_UDP;
	snprintf(field, sizeof(field), "spec.ports[%zu].port", port_idx);
	if (k8s_port(json_object_get(port, "port"), field, &out->port))
		return -EINVAL;
	/* Absent with allocateLoadBalancerNodePorts: false; ignored on type ClusterIP
	 * (the API server allows none there). */
	x = json_object_get(port, "nodePort");
	if (type != T_CLUSTER_IP && x && !json_is_null(x)) {
		snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", port_idx);
		if (k8s_port(x, field, &out->node_port))
			return -EINVAL;
	}

	if ((err = list_field(spec, "clusterIPs", "spec.clusterIPs", &cips)) ||
	    (err = list_field(spec, "externalIPs", "spec.externalIPs", &eips)) ||
	    (err = list_field(spec, "ipFamilies", "spec.ipFamilies", &fams)))
		return err;
	if (type == T_LOAD_BALANCER) {
		json_t *lb = json_object_get(json_object_get(svc, "status"), "loadBalancer");

		if ((err = list_field(lb, "ingress", "status.loadBalancer.ingress", &ingress)))
			return err;
	}
	etp = enum_field(spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", policies, 0);
	if (etp < 0)
		return etp;
	itp = enum_field(spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", policies, 0);
	if (itp < 0)
		return itp;
	/* Local applies to the external frontends only (kube-proxy's ExternalPolicyLocal):
	 * a Service without any (ClusterIP, no externalIPs) gets no local-only group. */
	elocal = etp == 1;
	ilocal = itp == 1;
	if (type == T_LOAD_BALANCER && elocal) {
		x = json_object_get(spec, "healthCheckNodePort");
		if (x && !json_is_null(x) &&
		    k8s_port(x, "spec.healthCheckNodePort", &out->health_check_node_port))
			return -EINVAL;
	}

	/* The families: spec.ipFamilies; without it (a manifest, an old object), those of
	 * the cluster IPs; without those either, both. */
	json_array_foreach(fams, i, x) {
		snprintf(field, sizeof(field), "spec.ipFamilies[%zu]", i);
		if (!json_is_string(x))
			return l4s_err(EINVAL, "%s: expected IPv4 or IPv6", field);
		if (!strcmp(json_string_value(x), "IPv4"))
			c.fam_ok[0] = 1;
		else if (!strcmp(json_string_value(x), "IPv6"))
			c.fam_ok[1] = 1;
		else
			return l4s_err(EINVAL, "%s \"%.40s\" is wrong: expected IPv4 or IPv6", field,
				       json_string_value(x));
	}

	/* Cluster IPs: clusterIPs, or clusterIP alone (objects from before 1.20). */
	{
		struct l4s_addr ca[2];
		__u8 cf[2];
		int nc = 0, headless = 0;
		json_t *one = json_object_get(spec, "clusterIP");
		json_t *tmp = NULL;

		if (!cips && one && !json_is_null(one)) {
			tmp = json_array();
			json_array_append(tmp, one);
		}
		json_array_foreach(cips ? cips : tmp, i, x) {
			if (cips)
				snprintf(field, sizeof(field), "spec.clusterIPs[%zu]", i);
			else
				snprintf(field, sizeof(field), "spec.clusterIP");
			if (json_is_string(x) && !strcmp(json_string_value(x), "None")) {
				headless = 1;
				continue;
			}
			if (json_is_string(x) && !*json_string_value(x))
				continue; /* "": not allocated yet (a manifest) */
			if (nc == 2) {
				json_decref(tmp);
				return l4s_err(EINVAL, "%s: more than two cluster IPs", field);
			}
			if ((err = ip_field(x, field, &ca[nc], &cf[nc]))) {
				json_decref(tmp);
				return err;
			}
			nc++;
		}
		json_decref(tmp);
		if (headless && nc)
			return l4s_err(EINVAL, "spec.clusterIPs: \"None\" (headless) together with "
				       "addresses");
		if (!fams)
			for (int k = 0; k < nc; k++)
				c.fam_ok[fam_index(cf[k])] = 1;
		if (!c.fam_ok[0] && !c.fam_ok[1])
			c.fam_ok[0] = c.fam_ok[1] = 1;

		/* Order: ingress IPs, externalIPs, cluster IPs, node addresses (the first
		 * frontend of a group is the one it is shown by). Check every field before
		 * the l4split.io/vips choice: a wrong field is wrong whatever is asked. */
		json_array_foreach(ingress, i, x) {
			json_t *ip = json_object_get(x, "ip");
			struct l4s_addr a;
			__u8 fam;
			int mode;

			snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu]", i);
			if (!json_is_object(x))
				return l4s_err(EINVAL, "%s: expected an object", field);
			snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu].ipMode", i);
			mode = enum_field(x, "ipMode", field, ipmodes, 0);
			if (mode < 0)
				return mode;
			if (!ip || json_is_null(ip)) {
				out->skipped_hostname++; /* a hostname only (AWS ELB) */
				continue;
			}
			snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu].ip", i);
			if ((err = ip_field(ip, field, &a, &fam)))
				return err;
			/* ipMode Proxy (KEP-1860): the balancer proxies to the nodes, so traffic
			 * to its address must leave the node, as kube-proxy leaves it. */
			if (mode == 1) {
				out->skipped_hostname++;
				continue;
			}
			if (vips->lb && (err = add_fe(&c, &a, fam, out->port, elocal, SVCF_EXTERNAL)))
				return err;
		}
		json_array_foreach(eips, i, x) {
			struct l4s_addr a;
			__u8 fam;

			snprintf(field, sizeof(field), "spec.externalIPs[%zu]", i);
			if ((err = ip_field(x, field, &a, &fam)))
				return err;
			if (vips->external &&
			    (err = add_fe(&c, &a, fam, out->port, elocal, SVCF_EXTERNAL)))
				return err;
		}
		for (int k = 0; vips->cluster && k < nc; k++)
			if ((err = add_fe(&c, &ca[k], cf[k], out->port, ilocal, SVCF_CLUSTER)))
				return err;
	}
	for (int k = 0; vips->lb && out->node_port && node && k < node->n; k++)
		if ((err = add_fe(&c, &node->a[k], node->family[k], out->node_port, elocal,
				  SVCF_EXTERNAL)))
			return err;
	qsort(out->g, (size_t)out->ng, sizeof(out->g[0]), group_cmp);
	return 0;
}

int svcf_affinity(json_t *svc, struct svcf_affinity *out)
{
	static const char *const modes[] = { "None", "ClientIP", NULL };
	json_t *spec = json_object_get(svc, "spec");
	json_t *ann = json_object_get(json_object_get(svc, "metadata"), "annotations");
	const char *af = json_string_value(json_object_get(ann, ANN_AFFINITY));
	int mode;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(spec))
		return l4s_err(EINVAL, "spec: expected an object");
	if (json_object_get(ann, ANN_AFFINITY) && !af)
		return l4s_err(EINVAL, "annotation %s: not a string: expected client-ip or none",
			       ANN_AFFINITY);
	if (af && strcmp(af, "client-ip") && strcmp(af, "none"))
		return l4s_err(EINVAL, "annotation %s \"%.40s\" is wrong: expected client-ip or "
			       "none", ANN_AFFINITY, af);
	mode = enum_field(spec, "sessionAffinity", "spec.sessionAffinity", modes, 0);
	if (mode < 0)
		return mode;
	if (mode == 1) {
		json_t *t = json_object_get(json_object_get(json_object_get(spec,
			"sessionAffinityConfig"), "clientIP"), "timeoutSeconds");

		out->on = 1;
		out->timeout_s = SVCF_AFFINITY_DEFAULT_S;
		out->from = "spec.sessionAffinity";
		if (t && !json_is_null(t)) {
			json_int_t v = json_integer_value(t);

			if (!json_is_integer(t) || v < 1 || v > SVCF_AFFINITY_MAX_S)
				return l4s_err(EINVAL, "spec.sessionAffinityConfig.clientIP."
					       "timeoutSeconds: expected a number of seconds from 1 "
					       "to %u", SVCF_AFFINITY_MAX_S);
			out->timeout_s = (__u32)v;
		}
		if (af && !strcmp(af, "none"))
			snprintf(out->note, sizeof(out->note), "annotation %s none is ignored: "
				 "spec.sessionAffinity ClientIP wins (set it to None to turn "
				 "affinity off)", ANN_AFFINITY);
		return 0;
	}
	if (af && !strcmp(af, "client-ip")) {
		out->on = 1;
		out->timeout_s = 0;
		out->from = "annotation " ANN_AFFINITY;
	}
	return 0;
}
