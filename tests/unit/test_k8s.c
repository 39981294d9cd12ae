// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kubernetes documents -> backends, on real API documents (tests/fixtures/k8s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <glob.h>
#include "err.h"
#include "k8s.h"
#include "parse.h"
#include "../lib/k8s_same.h"

#define FIX "tests/fixtures/k8s/"

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);

	if (!doc)
		print_message("# %s: %s\n", path, e.text);
	assert_non_null(doc);
	return doc;
}

static const struct spec_endpoint *find(const struct k8s_result *r, const char *ip)
{
	char buf[L4S_ADDRSTRLEN];

	for (int i = 0; i < r->n; i++)
		if (!strcmp(fmt_addr(buf, &r->ep[i].addr, r->ep[i].family), ip))
			return &r->ep[i];
	return NULL;
}

static void test_podlist_mixed(void **state)
{
	json_t *doc = load(FIX "podlist/podlist-mixed-assembled.json");
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "app", .default_port = 80 };
	struct k8s_result r;

	(void)state;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	/* Ready pods with an IP and the label: the dual-stack nginx and the minikube nginx. */
	assert_int_equal(r.n, 2);
	assert_non_null(find(&r, "10.88.0.3"));
	assert_non_null(find(&r, "172.17.0.5"));
	assert_int_equal(find(&r, "10.88.0.3")->state, EP_READY);
	assert_string_equal(find(&r, "10.88.0.3")->track, "nginx");
	assert_int_equal(find(&r, "10.88.0.3")->port, 80);
	assert_int_equal(r.skipped_family, 1);   /* 2001:db8::1 of the dual-stack pod */
	assert_int_equal(r.skipped_no_track, 3); /* mssql (no app label), two run= pods */
	k8s_result_free(&r);

	/* Track by the "run" label: the Pending pod without an IP and the terminating pod
	 * are not backends (no address); nothing else carries "run". */
	o.track_label = "run";
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.skipped_no_ip, 2);
	k8s_result_free(&r);

	/* IPv6 service: the second address of the dual-stack pod. */
	o.family = L4S_AF_INET6;
	o.track_label = "app";
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_non_null(find(&r, "2001:db8::1"));
	k8s_result_free(&r);
	json_decref(doc);
}

static void test_named_port(void **state)
{
	json_t *doc = load(FIX "podlist/podlist-kubectl-list-style.json");
	struct k8s_opts o = { .family = L4S_AF_INET, .track = "v1", .port = "mssql" };
	struct k8s_result r;

	(void)state;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ep[0].port, 1433);
	assert_string_equal(r.ep[0].track, "v1");
	k8s_result_free(&r);
	/* Issue 21 item 1: a port name no listed pod has is an error (a sync would remove
	 * every backend), naming the ports that exist; it used to be a warning and 0. */
	o.port = "nosuch";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 0);
	assert_non_null(strstr(l4s_errmsg(), "nosuch"));
	assert_non_null(strstr(l4s_errhint(), "mssql"));
	/* Digits are a number, never a name: 0 and 65536 are errors, not unknown names. */
	o.port = "0";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errmsg(), "1 to 65535"));
	o.port = "65536";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errmsg(), "1 to 65535"));
	json_decref(doc);
}

static json_t *doc_of(const char *text)
{
	json_error_t e;
	json_t *doc = json_loads(text, 0, &e);

	if (!doc)
		print_message("# %s: %s\n", text, e.text);
	assert_non_null(doc);
	return doc;
}

/* A PodList of pods {name, ip, ready, terminating, track, ports json}. */
struct tpod {
	const char *name, *ip;
	int ready, terminating;
	const char *track, *ports;
};

static json_t *podlist(const struct tpod *p, int n)
{
	char buf[8192];
	size_t len = 0;

	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "{\"kind\":\"PodList\","
				"\"apiVersion\":\"v1\",\"items\":[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(
			buf + len, sizeof(buf) - len,
			"%s{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",%s"
			"\"labels\":{\"run\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
			"\"ports\":%s}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\","
			"\"podIPs\":[{\"ip\":\"%s\"}],\"conditions\":[{\"type\":\"Ready\","
			"\"status\":\"%s\"}]}}",
			i ? "," : "", p[i].name,
			p[i].terminating ? "\"deletionTimestamp\":\"2026-12-05T10:00:00Z\"," : "",
			p[i].track, p[i].ports ? p[i].ports : "[]", p[i].ip, p[i].ip,
			p[i].ready ? "True" : "False");
	snprintf(buf + len, sizeof(buf) - len, "]}");
	return doc_of(buf);
}

/* Issue 21 item 2: ports read from documents are range-checked and type-checked, and
 * the error names the field (they wrapped modulo 65536; a string was skipped). */
static void test_document_ports(void **state)
{
	static const char *const bad[] = {
		"[{\"name\":\"http\",\"containerPort\":70000}]",
		"[{\"name\":\"http\",\"containerPort\":-5}]",
		"[{\"name\":\"http\",\"containerPort\":0}]",
		"[{\"name\":\"http\",\"containerPort\":\"80\"}]",
		"[{\"name\":\"http\",\"containerPort\":80.5}]",
		"[{\"name\":\"http\"}]",
	};
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "run", .port = "http" };
	struct k8s_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tpod p = { "web-1", "10.0.0.1", 1, 0, "old", bad[i] };
		json_t *doc = podlist(&p, 1);

		l4s_err_clear();
		assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
		assert_non_null(strstr(l4s_errmsg(), "items[0].spec.containers[0].ports[0].containerPort"));
		json_decref(doc);
	}
	{
		struct tpod p = { "web-1", "10.0.0.1", 1, 0, "old",
				  "[{\"name\":\"http\",\"containerPort\":65535}]" };
		json_t *doc = podlist(&p, 1);

		assert_int_equal(k8s_parse(doc, &o, &r), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.ep[0].port, 65535);
		k8s_result_free(&r);
		json_decref(doc);
	}
	/* EndpointSlice ports[].port: by name and as the only port. */
	static const char *const sbad[] = { "70000", "-5", "\"80\"", "null" };
	for (size_t i = 0; i < sizeof(sbad) / sizeof(sbad[0]); i++) {
		char text[1024];
		json_t *doc;

		snprintf(text, sizeof(text),
			 "{\"kind\":\"EndpointSliceList\",\"items\":[{\"kind\":\"EndpointSlice\","
			 "\"metadata\":{\"name\":\"web-abc\"},\"addressType\":\"IPv4\","
			 "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":%s}],"
			 "\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]}]}",
			 sbad[i]);
		doc = doc_of(text);
		o.port = "http";
		o.track_label = NULL;
		o.track = "t";
		l4s_err_clear();
		assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
		assert_non_null(strstr(l4s_errmsg(), "items[0].ports[0].port"));
		o.port = NULL;
		l4s_err_clear();
		assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
		assert_non_null(strstr(l4s_errmsg(), "items[0].ports[0].port"));
		json_decref(doc);
		o.track_label = "run";
		o.track = NULL;
	}
	/* k8s_port on its own, as the agent reads a Service's ports with it. */
	{
		json_t *v = json_integer(70000);
		__u16 port = 0;

		assert_int_not_equal(k8s_port(v, "spec.ports[0].port", &port), 0);
		assert_non_null(strstr(l4s_errmsg(), "spec.ports[0].port"));
		json_decref(v);
		v = json_integer(443);
		assert_int_equal(k8s_port(v, "spec.ports[0].port", &port), 0);
		assert_int_equal(port, 443);
		json_decref(v);
	}
}

/* Issue 21 item 3: only ports of the service's protocol are taken. */
static void test_protocol(void **state)
{
	const char *slice =
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"dns-abc\"},"
		"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
		"\"port\":53}],\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]}";
	const char *slice2 =
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"dns-abc\"},"
		"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
		"\"port\":53},{\"name\":\"dns-tcp\",\"port\":5353}],"
		"\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]}";
	struct k8s_opts o = { .family = L4S_AF_INET, .track = "t", .proto = IPPROTO_TCP,
			      .default_port = 80 };
	struct k8s_result r;
	json_t *doc = doc_of(slice), *doc2 = doc_of(slice2);

	(void)state;
	/* A TCP service is not given the slice's only port when that is UDP. */
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errmsg(), "TCP"));
	o.port = "dns";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	o.proto = IPPROTO_UDP;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ep[0].port, 53);
	k8s_result_free(&r);
	o.port = NULL;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.ep[0].port, 53);
	k8s_result_free(&r);
	/* Two ports, one per protocol (protocol defaults to TCP): each service its own. */
	assert_int_equal(k8s_parse(doc2, &o, &r), 0);
	assert_int_equal(r.ep[0].port, 53);
	k8s_result_free(&r);
	o.proto = IPPROTO_TCP;
	assert_int_equal(k8s_parse(doc2, &o, &r), 0);
	assert_int_equal(r.ep[0].port, 5353);
	k8s_result_free(&r);
	json_decref(doc);
	json_decref(doc2);

	/* Pods: a container port of that name but another protocol is not it. */
	struct tpod p = { "dns-1", "10.0.0.2", 1, 0, "old",
			  "[{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"},"
			  "{\"name\":\"metrics\",\"containerPort\":9153}]" };
	doc = podlist(&p, 1);
	o.track = NULL;
	o.track_label = "run";
	o.port = "dns";
	o.proto = IPPROTO_TCP;
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errhint(), "metrics"));
	o.proto = IPPROTO_UDP;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.ep[0].port, 53);
	k8s_result_free(&r);
	o.proto = IPPROTO_TCP; /* protocol defaults to TCP */
	o.port = "metrics";
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.ep[0].port, 9153);
	k8s_result_free(&r);
	json_decref(doc);
}

/* Issue 21 item 4: a ready endpoint wins over a terminating one at the same address,
 * whatever the order; two ready ones on different tracks are an error. */
static void test_same_address(void **state)
{
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "run", .default_port = 80 };
	struct tpod p[2] = {
		{ "web-old-1", "10.0.0.9", 1, 1, "old", NULL }, /* terminating, still Ready */
		{ "web-new-1", "10.0.0.9", 1, 0, "new", NULL },
	};
	struct k8s_result r;

	(void)state;
	for (int order = 0; order < 2; order++) {
		struct tpod q[2] = { p[order], p[!order] };
		json_t *doc = podlist(q, 2);

		assert_int_equal(k8s_parse(doc, &o, &r), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.ep[0].state, EP_READY);
		assert_string_equal(r.ep[0].track, "new");
		k8s_result_free(&r);
		json_decref(doc);
	}
	/* Both drained: the same one whatever the order. */
	p[1].ready = 0;
	for (int order = 0; order < 2; order++) {
		struct tpod q[2] = { p[order], p[!order] };
		json_t *doc = podlist(q, 2);

		assert_int_equal(k8s_parse(doc, &o, &r), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.ep[0].state, EP_DRAIN);
		assert_string_equal(r.ep[0].track, "new");
		k8s_result_free(&r);
		json_decref(doc);
	}
	/* Two ready pods, one address, two tracks: refused, naming both. */
	p[0].terminating = 0;
	p[1].ready = 1;
	{
		json_t *doc = podlist(p, 2);

		assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
		assert_non_null(strstr(l4s_errmsg(), "web-old-1"));
		assert_non_null(strstr(l4s_errmsg(), "web-new-1"));
		json_decref(doc);
	}
	/* Same track twice (two slices listing one pod): one backend, no error. */
	p[1].track = "old";
	{
		json_t *doc = podlist(p, 2);

		assert_int_equal(k8s_parse(doc, &o, &r), 0);
		assert_int_equal(r.n, 1);
		k8s_result_free(&r);
		json_decref(doc);
	}
	/* EndpointSlices: the terminating copy first, then the ready one. */
	{
		json_t *doc = doc_of(
			"{\"kind\":\"EndpointSliceList\",\"items\":["
			"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"a\",\"labels\":"
			"{\"run\":\"old\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":8080}],"
			"\"endpoints\":[{\"addresses\":[\"10.0.0.9\"],\"conditions\":{\"ready\":"
			"false,\"serving\":true,\"terminating\":true}}]},"
			"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"b\",\"labels\":"
			"{\"run\":\"new\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":8080}],"
			"\"endpoints\":[{\"addresses\":[\"10.0.0.9\"],\"conditions\":{\"ready\":"
			"true}}]}]}");

		assert_int_equal(k8s_parse(doc, &o, &r), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.ep[0].state, EP_READY);
		assert_string_equal(r.ep[0].track, "new");
		k8s_result_free(&r);
		json_decref(doc);
	}
}

/* Issue 21 item 16: label values longer than 31 bytes make a shortened track, said in
 * a note; they were dropped. */
static void test_long_track(void **state)
{
	const char *v = "release-2026-12-05-abcdef0123456789-canary";
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "run", .default_port = 80 };
	struct tpod p = { "web-1", "10.0.0.1", 1, 0, v, NULL };
	struct k8s_result r;
	char want[L4S_NAME_LEN];
	json_t *doc = podlist(&p, 1);

	(void)state;
	assert_int_equal(track_name(want, v), 1);
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.ep[0].track, want);
	assert_non_null(strstr(r.note, v));
	assert_non_null(strstr(r.note, want));
	k8s_result_free(&r);
	json_decref(doc);
}

/* Issue 21 item 13: unusable addresses in documents are skipped and counted, as
 * addresses that are not IPs are. */
static void test_unusable_addresses(void **state)
{
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "run", .default_port = 80 };
	struct tpod p[3] = {
		{ "a", "0.0.0.0", 1, 0, "old", NULL },
		{ "b", "224.0.0.5", 1, 0, "old", NULL },
		{ "c", "10.0.0.3", 1, 0, "old", NULL },
	};
	struct k8s_result r;
	json_t *doc = podlist(p, 3);

	(void)state;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.skipped_bad_addr, 2);
	assert_non_null(strstr(r.warning, "0.0.0.0"));
	k8s_result_free(&r);
	json_decref(doc);
	doc = doc_of("{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"v6\"},"
		     "\"addressType\":\"IPv6\",\"ports\":[{\"port\":80}],\"endpoints\":["
		     "{\"addresses\":[\"fe80::1\"]},{\"addresses\":[\"::ffff:10.0.0.1\"]},"
		     "{\"addresses\":[\"fd00::1\"]}]}");
	o.family = L4S_AF_INET6;
	o.track_label = NULL;
	o.track = "t";
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.skipped_bad_addr, 2);
	k8s_result_free(&r);
	json_decref(doc);
}

static void test_single_pod_and_old_apiserver(void **state)
{
	json_t *doc = load(FIX "podlist/pod-dualstack-kubectl-get-o-yaml.json");
	json_t *old = load(FIX "podlist/podlist-minikube-apiserver.json");
	struct k8s_opts o = { .family = L4S_AF_INET, .track = "t", .default_port = 8080 };
	struct k8s_result r;

	(void)state;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ep[0].port, 8080);
	k8s_result_free(&r);
	assert_int_equal(k8s_parse(old, &o, &r), 0); /* podIP only, no podIPs */
	assert_int_equal(r.n, 1);
	assert_non_null(find(&r, "172.17.0.5"));
	k8s_result_free(&r);
	json_decref(doc);
	json_decref(old);
}

static void test_endpointslices(void **state)
{
	json_t *doc = load(FIX "endpointslice/endpointslicelist-assembled.json");
	struct k8s_opts o = { .family = L4S_AF_INET,
			      .track_label = "kubernetes.io/service-name" };
	struct k8s_result r;

	(void)state;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 3);
	/* ready:false, serving:true, terminating:true -> drain */
	assert_int_equal(find(&r, "10.12.1.201")->state, EP_DRAIN);
	assert_int_equal(find(&r, "10.12.1.202")->state, EP_READY);
	assert_string_equal(find(&r, "10.12.1.202")->track, "nginx-service");
	assert_int_equal(find(&r, "10.1.2.3")->port, 80);
	assert_string_equal(find(&r, "10.1.2.3")->track, "example");
	k8s_result_free(&r);
	/* A port name only one slice has is an error that names the field. */
	o.port = "http";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errmsg(), "items[0].ports"));
	json_decref(doc);
}

/* discovery.k8s.io/v1 conditions: ready nil = ready, serving nil = ready's value,
 * terminating nil = false; a serving terminating endpoint is ready only in fallback. */
static void test_slice_conditions(void **state)
{
	static const struct {
		const char *conds;
		enum ep_state st, fb;
		int serving_term;
	} t[] = {
		{ "{}", EP_READY, EP_READY, 0 },
		{ "{\"ready\": null}", EP_READY, EP_READY, 0 },
		{ "{\"ready\": false}", EP_DRAIN, EP_DRAIN, 0 },
		{ "{\"ready\": true, \"terminating\": true}", EP_DRAIN, EP_READY, 1 },
		{ "{\"ready\": false, \"serving\": true, \"terminating\": true}", EP_DRAIN,
		  EP_READY, 1 },
		{ "{\"ready\": false, \"terminating\": true}", EP_DRAIN, EP_DRAIN, 0 },
		{ "{\"ready\": false, \"serving\": false, \"terminating\": true}", EP_DRAIN,
		  EP_DRAIN, 0 },
		{ "{\"terminating\": true}", EP_DRAIN, EP_READY, 1 }, /* serving = ready = nil */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *c = json_loads(t[i].conds, 0, NULL);
		int st;

		assert_non_null(c);
		assert_int_equal(k8s_slice_state(c, 0, &st), t[i].st);
		assert_int_equal(st, t[i].serving_term);
		assert_int_equal(k8s_slice_state(c, 1, &st), t[i].fb);
		json_decref(c);
	}
}

/* The agent's reading: an endpoint's track is its targetRef pod's label; a slice without
 * the port adds nothing; no slice with the port is an error. */
static void test_slice_agent(void **state)
{
	json_t *doc = json_loads(
		"{\"kind\": \"EndpointSliceList\", \"items\": ["
		" {\"metadata\": {\"name\": \"web-a\", \"namespace\": \"default\"},"
		"  \"addressType\": \"IPv4\", \"ports\": [{\"name\": \"http\", \"port\": 8080}],"
		"  \"endpoints\": ["
		"   {\"addresses\": [\"10.0.0.1\"], \"targetRef\": {\"kind\": \"Pod\", \"name\": \"p1\"}},"
		"   {\"addresses\": [\"10.0.0.2\"], \"targetRef\": {\"kind\": \"Pod\", \"name\": \"p2\"},"
		"    \"conditions\": {\"ready\": false, \"serving\": true, \"terminating\": true}},"
		"   {\"addresses\": [\"10.0.0.3\"], \"targetRef\": {\"kind\": \"Pod\", \"name\": \"p3\"}}]},"
		" {\"metadata\": {\"name\": \"web-b\", \"namespace\": \"default\"},"
		"  \"addressType\": \"IPv4\", \"ports\": [],"
		"  \"endpoints\": [{\"addresses\": [\"10.0.0.9\"]}]}]}", 0, NULL);
	json_t *pods = json_loads(
		"{\"default/p1\": {\"kind\": \"PartialObjectMetadata\", \"metadata\": {\"labels\": {\"run\": \"old\"}}},"
		" \"default/p2\": {\"kind\": \"PartialObjectMetadata\", \"metadata\": {\"labels\": {\"run\": \"new\"}}}}",
		0, NULL);
	struct k8s_opts o = { .family = L4S_AF_INET, .track_label = "run", .port = "http",
			      .pods = pods, .slice_skip_port = 1 };
	struct k8s_result r;

	(void)state;
	assert_non_null(doc);
	assert_non_null(pods);
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 2); /* p3 has no track label; web-b has no port http */
	assert_string_equal(find(&r, "10.0.0.1")->track, "old");
	assert_int_equal(find(&r, "10.0.0.1")->port, 8080);
	assert_int_equal(find(&r, "10.0.0.1")->state, EP_READY);
	assert_string_equal(find(&r, "10.0.0.2")->track, "new");
	assert_int_equal(find(&r, "10.0.0.2")->state, EP_DRAIN);
	assert_int_equal(r.skipped_no_track, 1);
	assert_int_equal(r.serving_terminating, 1);
	k8s_result_free(&r);
	o.fallback = 1;
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(find(&r, "10.0.0.2")->state, EP_READY);
	k8s_result_free(&r);
	o.port = "grpc";
	assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
	assert_non_null(strstr(l4s_errmsg(), "none of the 2 EndpointSlices with endpoints has a "
				"TCP port of that name"));
	json_decref(doc);
	json_decref(pods);
}

static void test_all_fields_and_garbage(void **state)
{
	json_t *doc = load(FIX "endpointslice/endpointslice-all-fields-api-testdata.json");
	struct k8s_opts o = { .family = L4S_AF_INET, .track = "t", .port = "1" };
	struct k8s_result r;
	json_error_t e;

	(void)state;
	/* addressType "addressTypeValue": neither family, nothing taken, no crash. */
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 0);
	k8s_result_free(&r);
	json_decref(doc);

	static const char *const bad[] = {
		"[]", "{}", "{\"kind\":\"Service\",\"items\":[]}", "{\"kind\":\"PodList\"}",
		"{\"kind\":\"PodList\",\"items\":[1]}",
		"{\"kind\":\"EndpointSliceList\",\"items\":[{\"metadata\":{}}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = json_loads(bad[i], 0, &e);
		assert_non_null(doc);
		assert_int_not_equal(k8s_parse(doc, &o, &r), 0);
		json_decref(doc);
	}
	/* Odd but valid: addresses that are not IPs are skipped with a warning. */
	doc = json_loads("{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\"},"
			 "\"status\":{\"podIP\":\"not-an-ip\",\"conditions\":[{\"type\":"
			 "\"Ready\",\"status\":\"True\"}]}}]}",
			 0, &e);
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 0);
	assert_non_null(strstr(r.warning, "not-an-ip"));
	k8s_result_free(&r);
	json_decref(doc);
}

static const struct k8s_opts same_opts[] = {
	{ .family = L4S_AF_INET, .track_label = "run", .default_port = 80 },
	{ .family = L4S_AF_INET, .track_label = "app", .port = "http", .default_port = 80 },
	{ .family = L4S_AF_INET6, .track = "old", .port = "8080", .default_port = 80 },
	{ .family = L4S_AF_INET, .track = "t", .port = "dns", .proto = IPPROTO_UDP,
	  .default_port = 53 },
	{ .family = L4S_AF_INET, .track_label = "version", .default_port = 80 },
};

static void assert_same(const char *what, const char *doc, size_t len)
{
	for (size_t i = 0; i < sizeof(same_opts) / sizeof(same_opts[0]); i++) {
		const char *why = k8s_same(doc, len, &same_opts[i]);

		if (why)
			print_message("# %s, options %zu: %s\n", what, i, why);
		assert_null(why);
	}
}

/* sync reads a list as a stream and keeps what k8s_parse reads; the agent hands it whole
 * objects. Every fixture and every odd document reads the same both ways. */
static void test_stream_agrees(void **state)
{
	static const char *const docs[] = {
		"[]", "{}", "[1]", "{\"kind\":\"Service\",\"items\":[]}", "{\"kind\":\"PodList\"}",
		/* after the value: white space only, even a token yajl cannot finish */
		"{}\n \"exte", "{} \"ab}", "[] 12", "{} tru", "{}  \r\n\t", "[\"]\"] x",
		"{\"kind\":\"PodList\",\"items\":[1]}", "{\"kind\":\"PodList\",\"items\":{}}",
		"{\"kind\":\"PodList\",\"items\":[[]]}", "{\"kind\":\"PodList\",\"items\":[{}]}",
		"{\"kind\":\"PodList\",\"items\":[{\"metadata\":[]}]}",
		"{\"kind\":\"PodList\",\"items\":[{\"metadata\":\"x\"}]}",
		"{\"kind\":\"EndpointSliceList\",\"items\":[{\"metadata\":{}}]}",
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"run\":\"a\"}},\"status\":"
		"{\"podIP\":\"10.0.0.1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
		/* what a projection could lose: fields beside the kept ones, types that differ */
		"{\"items\":[{\"metadata\":{\"name\":\"p\",\"labels\":{\"run\":\"a\"},"
		"\"managedFields\":[{\"x\":{\"y\":[1,2,{\"z\":null}]}}],\"deletionTimestamp\":null},"
		"\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[],\"ports\":[{\"name\":\"http\","
		"\"containerPort\":8080}]},{\"ports\":[{\"name\":\"dns\",\"protocol\":\"UDP\","
		"\"containerPort\":53.0}]}],\"volumes\":[]},\"status\":{\"podIP\":\"10.0.0.2\","
		"\"podIPs\":[{\"ip\":\"10.0.0.2\"},{\"ip\":\"fd00::2\"}],\"conditions\":[{\"type\":"
		"\"Ready\",\"status\":\"True\",\"lastProbeTime\":null}],\"containerStatuses\":[{}]}}],"
		"\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"}}",
		"{\"kind\":\"List\",\"items\":[{\"kind\":\"EndpointSlice\",\"addressType\":\"IPv4\","
		"\"metadata\":{\"name\":\"s\",\"labels\":{\"run\":\"b\"}},\"ports\":[{\"port\":80}],"
		"\"endpoints\":[{\"addresses\":[\"10.0.0.3\"],\"conditions\":{\"ready\":true},"
		"\"targetRef\":{\"name\":\"p3\"}}]},{\"metadata\":{\"name\":\"q\",\"deletionTimestamp\":"
		"\"2024-01-01T00:00:00Z\",\"labels\":{\"run\":\"a\"}},\"status\":{\"podIP\":"
		"\"10.0.0.3\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}]}",
		"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\"},\"spec\":"
		"{\"containers\":{\"ports\":[]}},\"status\":{\"podIP\":5,\"conditions\":{}}}]}",
		"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\"},\"status\":"
		"{\"podIP\":\"10.0.0.1\"},\"status\":{}}]}", /* duplicate key: both refuse */
		"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\",\"managedFields\":"
		"[{\"a\":1,\"a\":2}]}}]}", /* duplicate in what the stream drops: refused too */
		"{\"kind\":\"PodList\",\"x\":\"a\\u0000b\"}", "{\"kind\":\"PodList\"} x", "5", "\"s\"",
		"", "  ", "{\f}", "{\"a\":\v1}", "\xef\xbb\xbf{}", "{\"a\":1e999}", "{\"a\":99999999999999999999}", "{\"a\":[1,]}",
	};
	glob_t g;

	(void)state;
	assert_int_equal(glob(FIX "*/*.json", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 10);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		static char buf[1 << 20];
		size_t n;

		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		assert_same(g.gl_pathv[i], buf, n);
	}
	globfree(&g);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		assert_same(docs[i], docs[i], strlen(docs[i]));
}

/* Where a broken document breaks, in its lines, as jansson said it. */
static void test_stream_errors(void **state)
{
	static const char doc[] = "{\"kind\": \"PodList\",\n \"items\": [\n  {\"a\": tru}\n]}";
	FILE *f = fmemopen((void *)doc, sizeof(doc) - 1, "r");
	json_error_t e;

	(void)state;
	assert_null(k8s_read_stream(f, &e));
	fclose(f);
	assert_int_equal(e.line, 3);
	assert_true(e.text[0]);
	f = fmemopen((void *)"{\"a\":{\"b\":1,\"b\":2}}", 19, "r");
	assert_null(k8s_read_stream(f, &e));
	fclose(f);
	assert_string_equal(e.text, "duplicate object key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_podlist_mixed),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_single_pod_and_old_apiserver),
		cmocka_unit_test(test_endpointslices),
		cmocka_unit_test(test_slice_conditions),
		cmocka_unit_test(test_slice_agent),
		cmocka_unit_test(test_all_fields_and_garbage),
		cmocka_unit_test(test_document_ports),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_same_address),
		cmocka_unit_test(test_long_track),
		cmocka_unit_test(test_unusable_addresses),
		cmocka_unit_test(test_stream_agrees),
		cmocka_unit_test(test_stream_errors),
	};

	return cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
}
