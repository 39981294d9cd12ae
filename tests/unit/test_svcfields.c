// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Service fields -> frontend groups and affinity, on Service and Node objects
 * (tests/fixtures/k8s). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "err.h"
#include "nodeaddr.h"
#include "parse.h"
#include "svcfields.h"

#define FIX "tests/fixtures/k8s/"
#define SVC FIX "service/service-lb-dualstack-local-constructed.json"

static const struct svcf_vips all = { 1, 1, 1 };

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);

	if (!doc)
		print_message("# %s: %s\n", path, e.text);
	assert_non_null(doc);
	return doc;
}

static struct nodeaddr node_of(const char *path)
{
	json_t *n = load(path);
	struct nodeaddr na;

	assert_int_equal(nodeaddr_from_node(n, &na), 0);
	json_decref(n);
	return na;
}

/* A group's frontends as "addr:port addr:port ..." (what the user would see). */
static const char *fes(const struct svcf_group *g)
{
	static char out[2048];
	char buf[L4S_ADDRSTRLEN];

	out[0] = 0;
	for (int i = 0; i < g->nfe; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 fmt_addr_port(buf, &g->fe[i].vip, g->fe[i].family, ntohs(g->fe[i].port)));
	return out;
}

static json_t *spec_of(json_t *svc)
{
	return json_object_get(svc, "spec");
}

static void expect_err(json_t *svc, size_t port, int err, const char *needle)
{
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	l4s_err_clear();
	assert_int_equal(svcf_frontends(svc, port, &na, &all, &f), -err);
	if (!strstr(l4s_errmsg(), needle))
		print_message("# message: %s (want %s)\n", l4s_errmsg(), needle);
	assert_non_null(strstr(l4s_errmsg(), needle));
}

/* Dual-stack LoadBalancer, externalTrafficPolicy Local: per family, the cluster IP in a
 * group of every endpoint, and the ingress IP, externalIP and node address on the
 * nodePort in a group of this node's endpoints; the health port to answer. */
static void test_dualstack_local(void **state)
{
	json_t *svc = load(SVC);
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	(void)state;
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.proto, IPPROTO_TCP);
	assert_int_equal(f.port, 80);
	assert_int_equal(f.node_port, 30790);
	assert_int_equal(f.health_check_node_port, 32000);
	assert_int_equal(f.skipped_hostname, 1);
	assert_int_equal(f.ng, 4);
	assert_int_equal(f.g[0].family, L4S_AF_INET);
	assert_false(f.g[0].local_only);
	assert_int_equal(f.g[0].roles, SVCF_CLUSTER);
	assert_string_equal(fes(&f.g[0]), "10.96.0.20:80");
	assert_int_equal(f.g[1].family, L4S_AF_INET);
	assert_true(f.g[1].local_only);
	assert_int_equal(f.g[1].roles, SVCF_EXTERNAL);
	assert_string_equal(svcf_group_suffix(&f.g[1]), "local");
	assert_string_equal(fes(&f.g[1]), "203.0.113.10:80 198.51.100.9:80 10.0.0.5:30790");
	assert_int_equal(f.g[2].family, L4S_AF_INET6);
	assert_false(f.g[2].local_only);
	assert_string_equal(fes(&f.g[2]), "[fd00:10:96::20]:80");
	assert_int_equal(f.g[3].family, L4S_AF_INET6);
	assert_true(f.g[3].local_only);
	assert_string_equal(fes(&f.g[3]), "[2603:1030:805::5]:80 [2001:db8:10::5]:30790");

	/* The UDP port: its own port and nodePort. */
	assert_int_equal(svcf_frontends(svc, 1, &na, &all, &f), 0);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.ng, 4);
	assert_string_equal(fes(&f.g[1]), "203.0.113.10:53 198.51.100.9:53 10.0.0.5:31053");
	assert_string_equal(fes(&f.g[3]), "[2603:1030:805::5]:53 [2001:db8:10::5]:31053");
	json_decref(svc);
}

/* externalTrafficPolicy Cluster: external and cluster frontends are one group per
 * family, and no health port is answered. */
static void test_policy_cluster(void **state)
{
	json_t *svc = load(SVC);
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	(void)state;
	json_object_set_new(spec_of(svc), "externalTrafficPolicy", json_string("Cluster"));
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.ng, 2);
	assert_int_equal(f.health_check_node_port, 0);
	assert_false(f.g[0].local_only);
	assert_int_equal(f.g[0].roles, SVCF_CLUSTER | SVCF_EXTERNAL);
	assert_string_equal(fes(&f.g[0]),
			    "203.0.113.10:80 198.51.100.9:80 10.96.0.20:80 10.0.0.5:30790");
	assert_string_equal(fes(&f.g[1]), "[2603:1030:805::5]:80 [fd00:10:96::20]:80 "
			    "[2001:db8:10::5]:30790");

	/* internalTrafficPolicy Local: now the cluster IPs are the local-only ones. */
	json_object_set_new(spec_of(svc), "internalTrafficPolicy", json_string("Local"));
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.ng, 4);
	assert_false(f.g[0].local_only);
	assert_string_equal(fes(&f.g[0]), "203.0.113.10:80 198.51.100.9:80 10.0.0.5:30790");
	assert_true(f.g[1].local_only);
	assert_string_equal(fes(&f.g[1]), "10.96.0.20:80");

	/* Both Local: one local-only group per family again. */
	json_object_set_new(spec_of(svc), "externalTrafficPolicy", json_string("Local"));
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.ng, 2);
	assert_true(f.g[0].local_only && f.g[1].local_only);
	json_decref(svc);
}

/* allocateLoadBalancerNodePorts: false leaves the port without a nodePort: no node
 * frontends. Without node addresses, none either. */
static void test_no_node_port(void **state)
{
	json_t *svc = load(SVC);
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	(void)state;
	json_object_set_new(spec_of(svc), "allocateLoadBalancerNodePorts", json_false());
	json_object_del(json_array_get(json_object_get(spec_of(svc), "ports"), 0), "nodePort");
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.node_port, 0);
	assert_string_equal(fes(&f.g[1]), "203.0.113.10:80 198.51.100.9:80");
	assert_string_equal(fes(&f.g[3]), "[2603:1030:805::5]:80");

	assert_int_equal(svcf_frontends(svc, 1, NULL, &all, &f), 0);
	assert_int_equal(f.node_port, 31053);
	assert_string_equal(fes(&f.g[1]), "203.0.113.10:53 198.51.100.9:53");
	json_decref(svc);
}

/* l4split.io/vips picks the kinds: cluster only, or lb only (ingress IPs and node
 * ports, not externalIPs). */
static void test_vips(void **state)
{
	json_t *svc = load(SVC);
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_vips cl = { 0, 0, 1 }, lb = { 1, 0, 0 };
	struct svcf_frontends f;

	(void)state;
	assert_int_equal(svcf_frontends(svc, 0, &na, &cl, &f), 0);
	assert_int_equal(f.ng, 2);
	assert_string_equal(fes(&f.g[0]), "10.96.0.20:80");
	assert_string_equal(fes(&f.g[1]), "[fd00:10:96::20]:80");
	assert_int_equal(svcf_frontends(svc, 0, &na, &lb, &f), 0);
	assert_int_equal(f.ng, 2);
	assert_string_equal(fes(&f.g[0]), "203.0.113.10:80 10.0.0.5:30790");
	assert_string_equal(fes(&f.g[1]), "[2603:1030:805::5]:80 [2001:db8:10::5]:30790");
	json_decref(svc);
}

/* A single-stack IPv4 Service: IPv6 addresses (an externalIP, the node's) are not its
 * frontends; counted. ClusterIP type: a nodePort there is ignored; externalIPs make it
 * externally reachable, so externalTrafficPolicy Local applies (kube-proxy's rule). */
static void test_single_stack_clusterip(void **state)
{
	json_t *svc = load(SVC), *sp = spec_of(svc);
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	(void)state;
	json_object_set_new(sp, "type", json_string("ClusterIP"));
	json_object_set_new(sp, "ipFamilies", json_pack("[s]", "IPv4"));
	json_object_set_new(sp, "clusterIPs", json_pack("[s]", "10.96.0.20"));
	json_object_set_new(sp, "externalIPs", json_pack("[s,s]", "198.51.100.9", "2001:db8:e::9"));
	json_object_del(sp, "healthCheckNodePort");
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.node_port, 0);
	assert_int_equal(f.health_check_node_port, 0);
	assert_int_equal(f.skipped_family, 1);
	assert_int_equal(f.ng, 2);
	assert_string_equal(fes(&f.g[0]), "10.96.0.20:80");
	assert_true(f.g[1].local_only);
	assert_string_equal(fes(&f.g[1]), "198.51.100.9:80");

	/* Without externalIPs a ClusterIP Service has no external frontend: Local leaves
	 * its cluster IP in a group of every endpoint. */
	json_object_del(sp, "externalIPs");
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.ng, 1);
	assert_false(f.g[0].local_only);

	/* Headless: no frontend, no error. */
	json_object_set_new(sp, "clusterIP", json_string("None"));
	json_object_set_new(sp, "clusterIPs", json_pack("[s]", "None"));
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.ng, 0);
	json_decref(svc);
}

/* ipMode Proxy: the balancer proxies to the nodes; its address is not captured here. */
static void test_ipmode_proxy(void **state)
{
	json_t *svc = load(SVC);
	json_t *ing = json_object_get(json_object_get(json_object_get(svc, "status"),
						      "loadBalancer"), "ingress");
	struct nodeaddr na = node_of(FIX "node/node-dualstack-assembled.json");
	struct svcf_frontends f;

	(void)state;
	json_object_set_new(json_array_get(ing, 0), "ipMode", json_string("Proxy"));
	assert_int_equal(svcf_frontends(svc, 0, &na, &all, &f), 0);
	assert_int_equal(f.skipped_hostname, 2);
	assert_string_equal(fes(&f.g[1]), "198.51.100.9:80 10.0.0.5:30790");
	json_decref(svc);
}

/* Every field read is checked, and the message names it. */
static void test_field_errors(void **state)
{
	json_t *svc;

	(void)state;
#define CASE(mutate, port, err, needle) do { \
		svc = load(SVC); \
		json_t *sp = spec_of(svc), *p0 = json_array_get(json_object_get(sp, "ports"), 0); \
		json_t *ing0 = json_array_get(json_object_get(json_object_get( \
			json_object_get(svc, "status"), "loadBalancer"), "ingress"), 0); \
		(void)sp; (void)p0; (void)ing0; \
		mutate; \
		expect_err(svc, port, err, needle); \
		json_decref(svc); \
	} while (0)
	CASE(json_array_set_new(json_object_get(sp, "clusterIPs"), 1, json_string("fd00::zz")),
	     0, EINVAL, "spec.clusterIPs[1]");
	CASE(json_object_set_new(sp, "externalTrafficPolicy", json_string("local")), 0, EINVAL,
	     "spec.externalTrafficPolicy \"local\" is wrong: expected Cluster or Local");
	CASE(json_object_set_new(sp, "internalTrafficPolicy", json_integer(1)), 0, EINVAL,
	     "spec.internalTrafficPolicy: not a string");
	CASE(json_object_set_new(p0, "nodePort", json_integer(70000)), 0, EINVAL,
	     "spec.ports[0].nodePort: 70000 is not a port number");
	CASE(json_object_set_new(p0, "port", json_string("80")), 0, EINVAL, "spec.ports[0].port");
	CASE(json_object_set_new(p0, "protocol", json_string("SCTP")), 0, EOPNOTSUPP,
	     "spec.ports[0].protocol SCTP");
	CASE(json_object_set_new(p0, "protocol", json_string("tcp")), 0, EINVAL,
	     "spec.ports[0].protocol \"tcp\" is wrong: expected TCP, UDP or SCTP");
	CASE((void)0, 2, EINVAL, "spec.ports[2]: no such port");
	CASE(json_object_set_new(sp, "type", json_string("ExternalName")), 0, EOPNOTSUPP,
	     "ExternalName");
	CASE(json_object_set_new(sp, "type", json_string("Nodeport")), 0, EINVAL, "spec.type");
	CASE(json_object_set_new(sp, "externalIPs", json_pack("[s,i]", "198.51.100.9", 5)), 0,
	     EINVAL, "spec.externalIPs[1]: expected an IP address string");
	CASE(json_object_set_new(sp, "externalIPs", json_string("198.51.100.9")), 0, EINVAL,
	     "spec.externalIPs: expected a list");
	CASE(json_object_set_new(sp, "ipFamilies", json_pack("[s]", "ipv4")), 0, EINVAL,
	     "spec.ipFamilies[0]");
	CASE(json_object_set_new(ing0, "ip", json_string("203.0.113.300")), 0, EINVAL,
	     "status.loadBalancer.ingress[0].ip");
	CASE(json_object_set_new(ing0, "ipMode", json_string("vip")), 0, EINVAL,
	     "status.loadBalancer.ingress[0].ipMode");
	CASE(json_object_set_new(sp, "healthCheckNodePort", json_string("32000")), 0, EINVAL,
	     "spec.healthCheckNodePort");
	CASE(json_object_set_new(sp, "clusterIPs", json_pack("[s,s]", "None", "10.96.0.20")), 0,
	     EINVAL, "headless");
	/* A wrong field is wrong even when l4split.io/vips does not ask for its kind. */
	CASE(json_object_set_new(sp, "externalIPs", json_pack("[s]", "224.0.0.1")), 0, EINVAL,
	     "spec.externalIPs[0]: address 224.0.0.1 is wrong");
#undef CASE
}

/* The fixtures of others: a manifest (no status, no clusterIP) has no frontend yet and
 * is no error; the CoreDNS template's placeholder clusterIP is named. */
static void test_other_fixtures(void **state)
{
	json_t *svc = load(FIX "service/service-loadbalancer-ingress-nginx-aws-nlb.json");
	struct svcf_frontends f;

	(void)state;
	assert_int_equal(svcf_frontends(svc, 1, NULL, &all, &f), 0);
	assert_int_equal(f.ng, 0);
	assert_int_equal(f.port, 443);
	json_decref(svc);
	svc = load(FIX "service/service-kube-dns-coredns-addon.json");
	expect_err(svc, 0, EINVAL, "spec.clusterIP: address \"__DNS__SERVER__\" is wrong");
	json_decref(svc);
	svc = load(FIX "service/service-ipv6-singlestack-kubectl-get-o-yaml.json");
	assert_int_equal(svcf_frontends(svc, 0, NULL, &all, &f), 0);
	assert_int_equal(f.ng, 1);
	assert_int_equal(f.g[0].family, L4S_AF_INET6);
	json_decref(svc);
}

static void test_affinity(void **state)
{
	json_t *svc = load(SVC), *sp = spec_of(svc);
	json_t *ann = json_object();
	struct svcf_affinity a;

	(void)state;
	json_object_set_new(json_object_get(svc, "metadata"), "annotations", ann);
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_true(a.on);
	assert_int_equal(a.timeout_s, 600);
	assert_string_equal(a.from, "spec.sessionAffinity");
	assert_string_equal(a.note, "");

	/* No timeoutSeconds: kube-proxy's default, 3 hours. */
	json_object_del(sp, "sessionAffinityConfig");
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_int_equal(a.timeout_s, 10800);

	/* The annotation cannot turn the Service's ClientIP off; it says so. */
	json_object_set_new(ann, "l4split.io/affinity", json_string("none"));
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_true(a.on);
	assert_non_null(strstr(a.note, "ClientIP wins"));

	/* Without the field, the annotation works as before: hash-only, no timeout. */
	json_object_set_new(sp, "sessionAffinity", json_string("None"));
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_false(a.on);
	json_object_set_new(ann, "l4split.io/affinity", json_string("client-ip"));
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_true(a.on);
	assert_int_equal(a.timeout_s, 0);
	assert_string_equal(a.from, "annotation l4split.io/affinity");

	/* Errors name the field. */
	json_object_set_new(ann, "l4split.io/affinity", json_string("sticky"));
	assert_int_equal(svcf_affinity(svc, &a), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "l4split.io/affinity \"sticky\" is wrong"));
	json_object_del(ann, "l4split.io/affinity");
	json_object_set_new(sp, "sessionAffinity", json_string("ClientIp"));
	assert_int_equal(svcf_affinity(svc, &a), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "spec.sessionAffinity \"ClientIp\" is wrong"));
	json_object_set_new(sp, "sessionAffinity", json_string("ClientIP"));
	json_object_set_new(sp, "sessionAffinityConfig",
			    json_pack("{s:{s:i}}", "clientIP", "timeoutSeconds", 86401));
	assert_int_equal(svcf_affinity(svc, &a), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "timeoutSeconds"));
	json_object_set_new(sp, "sessionAffinityConfig",
			    json_pack("{s:{s:i}}", "clientIP", "timeoutSeconds", 0));
	assert_int_equal(svcf_affinity(svc, &a), -EINVAL);
	json_object_set_new(sp, "sessionAffinityConfig",
			    json_pack("{s:{s:i}}", "clientIP", "timeoutSeconds", 86400));
	assert_int_equal(svcf_affinity(svc, &a), 0);
	assert_int_equal(a.timeout_s, 86400);
	json_decref(svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dualstack_local),
		cmocka_unit_test(test_policy_cluster),
		cmocka_unit_test(test_no_node_port),
		cmocka_unit_test(test_vips),
		cmocka_unit_test(test_single_stack_clusterip),
		cmocka_unit_test(test_ipmode_proxy),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_other_fixtures),
		cmocka_unit_test(test_affinity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
