// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's pure parts: annotations, names, kubeconfig, base64. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "agent.h"
#include "err.h"
#include "kube.h"
#include "l4split.h"
#include "parse.h"

static json_t *ann(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	return j;
}

/* l4split.io/tracks: TRACK=SERVICE,...; what is wrong is a config error naming it. */
static void test_tracks_annotation(void **state)
{
	static const struct {
		const char *json, *err;
	} bad[] = {
		{ "{\"l4split.io/tracks\": \"old=web-v1,old=web-v2\"}", "track \"old\" is given twice" },
		{ "{\"l4split.io/tracks\": \"old=web-v1,new=web-v1\"}", "named by two tracks" },
		{ "{\"l4split.io/tracks\": \"old=web-v1,new\"}", "expected TRACK=SERVICE" },
		{ "{\"l4split.io/tracks\": \"old=Web_V1\"}", "is not a Service name" },
		{ "{\"l4split.io/tracks\": \"=web\"}", "expected TRACK=SERVICE" },
		{ "{\"l4split.io/tracks\": \"\"}", "expected TRACK=SERVICE" },
		{ "{\"l4split.io/tracks\": \"old=web-v1\", \"l4split.io/track-label\": \"run\"}",
		  "are both set" },
	};
	struct svc_config c;
	json_t *a = ann("{\"l4split.io/tracks\": \" old=nginx-v1 , new=nginx-v2\","
			" \"l4split.io/weights\": \"old=9,new=1\"}");

	(void)state;
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_true(c.managed);
	assert_int_equal(c.ntr, 2);
	assert_string_equal(c.tr[0].track, "old");
	assert_string_equal(c.tr[0].service, "nginx-v1");
	assert_string_equal(c.tr[1].track, "new");
	assert_string_equal(c.tr[1].service, "nginx-v2");
	svc_config_free(&c);
	json_decref(a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = ann(bad[i].json);
		assert_int_not_equal(svc_config_parse(a, &c), 0);
		if (!strstr(l4s_errmsg(), bad[i].err))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].json, l4s_errmsg(),
				 bad[i].err);
		svc_config_free(&c);
		json_decref(a);
	}
}

static void test_annotations_ok(void **state)
{
	struct svc_config c;
	json_t *a = ann("{\"l4split.io/weights\": \"old-nginx=99, new-nginx=1\","
			" \"l4split.io/track-label\": \"run\", \"l4split.io/affinity\": \"client-ip\"}");

	(void)state;
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_true(c.managed);
	assert_true(c.has_weights);
	assert_int_equal(c.nw, 2);
	assert_string_equal(c.w[0].track, "old-nginx");
	assert_int_equal(c.w[0].weight, 99 * L4S_WEIGHT_ONE);
	assert_string_equal(c.w[1].track, "new-nginx");
	assert_int_equal(c.w[1].weight, L4S_WEIGHT_ONE);
	assert_string_equal(c.track_label, "run");
	assert_true(c.affinity);
	assert_true(c.vip_lb && c.vip_external && c.vip_cluster);
	assert_int_equal(c.mode, L4S_MODE_AUTO); /* no mode annotation: auto */
	svc_config_free(&c);
	json_decref(a);

	a = ann("{\"l4split.io/enabled\": \"true\", \"l4split.io/mode\": \"dsr\"}");
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_int_equal(c.mode, L4S_MODE_DSR);
	svc_config_free(&c);
	json_decref(a);

	a = ann("{\"l4split.io/enabled\": \"true\", \"l4split.io/vips\": \"loadbalancer\"}");
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_true(c.managed);
	assert_false(c.has_weights);
	assert_true(c.vip_lb);
	assert_false(c.vip_cluster);
	svc_config_free(&c);
	json_decref(a);

	a = ann("{\"service.beta.kubernetes.io/aws-load-balancer-type\": \"nlb\"}");
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_false(c.managed);
	svc_config_free(&c);
	json_decref(a);
	assert_int_equal(svc_config_parse(NULL, &c), 0);
	assert_false(c.managed);
}

/* Issue 21 item 16: a weights annotation naming a label value longer than a track name
 * names the track the pods' label gives (shortened the same way); it was refused. */
static void test_annotations_long_track(void **state)
{
	const char *v = "release-2026-12-05-abcdef0123456789-canary";
	char want[L4S_NAME_LEN], text[256];
	struct svc_config c;
	json_t *a;

	(void)state;
	assert_int_equal(track_name(want, v), 1);
	snprintf(text, sizeof(text), "{\"l4split.io/weights\": \"stable=90,%s=10\"}", v);
	a = ann(text);
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_int_equal(c.nw, 2);
	assert_string_equal(c.w[1].track, want);
	assert_int_equal(c.w[1].weight, 10 * L4S_WEIGHT_ONE);
	svc_config_free(&c);
	json_decref(a);
	/* the shortened name itself (as status prints it) names the same track */
	snprintf(text, sizeof(text), "{\"l4split.io/weights\": \"%s=10\"}", want);
	a = ann(text);
	assert_int_equal(svc_config_parse(a, &c), 0);
	assert_string_equal(c.w[0].track, want);
	svc_config_free(&c);
	json_decref(a);
	/* the long value and its short name are one track: given twice */
	snprintf(text, sizeof(text), "{\"l4split.io/weights\": \"%s=10,%s=5\"}", v, want);
	a = ann(text);
	assert_int_not_equal(svc_config_parse(a, &c), 0);
	svc_config_free(&c);
	json_decref(a);
}

static void test_annotations_bad(void **state)
{
	static const char *const bad[] = {
		"{\"l4split.io/weights\": \"old=lots\"}",
		"{\"l4split.io/weights\": \"old=1,old=2\"}",
		"{\"l4split.io/weights\": \"=1\"}",
		"{\"l4split.io/weights\": \"old\"}",
		"{\"l4split.io/weights\": \"\"}",
		"{\"l4split.io/weights\": \"a/b=1\"}",
		"{\"l4split.io/weights\": \"old=-1\"}",
		"{\"l4split.io/affinity\": \"sticky\", \"l4split.io/enabled\": \"true\"}",
		"{\"l4split.io/vips\": \"all\", \"l4split.io/enabled\": \"true\"}",
		"{\"l4split.io/track-label\": \"\"}",
		"{\"l4split.io/mode\": \"fast\", \"l4split.io/enabled\": \"true\"}",
	};
	struct svc_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *a = ann(bad[i]);

		assert_int_not_equal(svc_config_parse(a, &c), 0);
		assert_non_null(strstr(l4s_errmsg(), "annotation l4split.io/"));
		assert_non_null(strstr(l4s_errmsg(), "is wrong"));
		svc_config_free(&c);
		json_decref(a);
	}
}

static void test_names(void **state)
{
	char n[L4S_NAME_LEN], m[L4S_NAME_LEN];

	(void)state;
	svc_k8s_name(n, "default", "web", "http");
	assert_string_equal(n, "default.web.http");
	svc_k8s_name(n, "payments-production", "checkout-frontend", "https");
	assert_true(strlen(n) < L4S_NAME_LEN);
	svc_k8s_name(m, "payments-production", "checkout-frontend", "http");
	assert_string_not_equal(n, m); /* same prefix, different hash */
	svc_k8s_name(m, "payments-production", "checkout-frontend", "https");
	assert_string_equal(n, m); /* stable: every node names it alike */
}

static void test_base64(void **state)
{
	size_t len;
	char *s;

	(void)state;
	s = kube_base64_decode("LS0tLS1CRUdJTg==", &len);
	assert_string_equal(s, "-----BEGIN");
	assert_int_equal(len, 10);
	free(s);
	assert_null(kube_base64_decode("not base64!", &len));
}

static void test_kubeconfig(void **state)
{
	char path[] = "/tmp/l4s-kubeconfig-XXXXXX";
	int fd = mkstemp(path);
	struct kube k;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
		   "clusters:\n- name: other\n  cluster: {server: https://10.0.0.9:6443}\n"
		   "- name: main\n  cluster:\n    server: https://10.0.0.1:6443\n"
		   "    certificate-authority-data: LS0tLS1CRUdJTg==\n"
		   "users:\n- name: agent\n  user:\n    token: abc.def\n"
		   "contexts:\n- name: dev\n  context: {cluster: other, user: agent}\n"
		   "- name: prod\n  context: {cluster: main, user: agent, namespace: shop}\n");
	fclose(f);
	assert_int_equal(kube_config_file(&k, path), 0);
	assert_string_equal(k.server, "https://10.0.0.1:6443");
	assert_string_equal(k.token, "abc.def");
	assert_string_equal(k.ca_pem, "-----BEGIN");
	assert_string_equal(k.namespace, "shop");
	assert_false(k.insecure);
	kube_free(&k);

	f = fopen(path, "w");
	fprintf(f, "current-context: nope\ncontexts: []\n");
	fclose(f);
	assert_int_not_equal(kube_config_file(&k, path), 0);
	assert_non_null(strstr(l4s_errmsg(), "no context \"nope\""));
	kube_free(&k);

	f = fopen(path, "w");
	fprintf(f, "current-context: x\n  bad: [indent\n");
	fclose(f);
	assert_int_not_equal(kube_config_file(&k, path), 0);
	kube_free(&k);
	unlink(path);
	assert_int_not_equal(kube_config_file(&k, "/nonexistent/kubeconfig"), 0);
	assert_non_null(strstr(l4s_errmsg(), "cannot open kubeconfig"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_annotations_ok),
		cmocka_unit_test(test_tracks_annotation), cmocka_unit_test(test_annotations_bad),
		cmocka_unit_test(test_names),	       cmocka_unit_test(test_base64),
		cmocka_unit_test(test_kubeconfig),
		cmocka_unit_test(test_annotations_long_track),
	};

	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
