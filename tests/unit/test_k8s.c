// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kubernetes documents -> backends, on real API documents (tests/fixtures/k8s). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "k8s.h"
#include "parse.h"

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
	o.port = "nosuch";
	assert_int_equal(k8s_parse(doc, &o, &r), 0);
	assert_int_equal(r.n, 0);
	assert_non_null(strstr(r.warning, "nosuch"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_podlist_mixed),
		cmocka_unit_test(test_named_port),
		cmocka_unit_test(test_single_pod_and_old_apiserver),
		cmocka_unit_test(test_endpointslices),
		cmocka_unit_test(test_all_fields_and_garbage),
	};

	return cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
}
