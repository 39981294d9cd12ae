// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Cluster mode's pure parts (user/kube/cluster.c): the annotation value `weight NS/NAME`
 * writes, the Prometheus text it reads back, and when a node counts as "in force". */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "cluster.h"
#include "err.h"

static int merge(const char *current, const char *a1, const char *a2, char *out, size_t len,
		 struct svc_config *c)
{
	char *args[2] = { (char *)a1, (char *)a2 };

	return cluster_weights_merge(a2 ? 2 : 1, args, current, out, len, c);
}

static void test_merge(void **st)
{
	struct svc_config c;
	char v[256];

	(void)st;
	/* Named tracks change, the others keep their weight and their place. */
	assert_int_equal(merge("old=99,new=1", "new=5", NULL, v, sizeof(v), &c), 0);
	assert_string_equal(v, "old=99,new=5");
	assert_int_equal(c.nw, 2);
	assert_string_equal(c.w[1].track, "new");
	assert_true(c.w[1].weight == 5ULL * L4S_WEIGHT_ONE);
	svc_config_free(&c);
	/* A new track is appended; none before: only the named ones. */
	assert_int_equal(merge("old=1", "canary=0.5", NULL, v, sizeof(v), &c), 0);
	assert_string_equal(v, "old=1,canary=0.5");
	svc_config_free(&c);
	assert_int_equal(merge(NULL, "old=9", "new=1", v, sizeof(v), &c), 0);
	assert_string_equal(v, "old=9,new=1");
	svc_config_free(&c);
	/* A current value the agent refuses is replaced whole, not carried on. */
	assert_int_equal(merge("old=lots", "new=1", NULL, v, sizeof(v), &c), 0);
	assert_string_equal(v, "new=1");
	svc_config_free(&c);
	/* Spaces in the current value, as a hand-written annotation has them. */
	assert_int_equal(merge(" old=2 , new=1", "old=3", NULL, v, sizeof(v), &c), 0);
	assert_string_equal(v, "old=3,new=1");
	svc_config_free(&c);
}

static void test_merge_errors(void **st)
{
	struct svc_config c;
	char v[256];

	(void)st;
	assert_int_equal(merge("old=1", "old=lots", NULL, v, sizeof(v), &c), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "argument \"old=lots\" is wrong"));
	assert_int_equal(merge(NULL, "10.0.0.1:80=2", NULL, v, sizeof(v), &c), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "backend weights are node-local"));
	assert_int_equal(merge(NULL, "new=1", "new=2", v, sizeof(v), &c), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "given twice"));
	assert_int_equal(merge(NULL, "=1", NULL, v, sizeof(v), &c), -EINVAL);
	assert_int_equal(merge(NULL, "a,b=1", NULL, v, sizeof(v), &c), -EINVAL);
	assert_int_equal(merge(NULL, "old=1", NULL, v, 4, &c), -E2BIG);
}

static const char *text =
	"# HELP l4split_track_weight Configured weight of a track.\n"
	"# TYPE l4split_track_weight gauge\n"
	"l4split_track_weight{namespace=\"default\",service=\"web\",port=\"http\",family=\"ipv4\","
	"l4split_service=\"default.web.http\",track=\"new\"} 1.000000\n"
	"l4split_track_weight{namespace=\"default\",service=\"web\",port=\"http\",family=\"ipv4\","
	"l4split_service=\"default.web.http\",track=\"old\"} 9.000000\n"
	"l4split_track_weight{namespace=\"default\",service=\"web\",port=\"dns\",family=\"ipv4\","
	"l4split_service=\"default.web.dns\",track=\"old\"} 9.000000\n"
	"l4split_track_weight{namespace=\"default\",service=\"web\",port=\"dns\",family=\"ipv4\","
	"l4split_service=\"default.web.dns\",track=\"new\"} 1.000000\n"
	"l4split_track_weight{namespace=\"other\",service=\"web\",port=\"http\",family=\"ipv4\","
	"l4split_service=\"other.web.http\",track=\"old\"} 1.000000\n"
	"l4split_track_weight{namespace=\"default\",service=\"web2\",port=\"\",family=\"ipv4\","
	"l4split_service=\"x\\\"y\",track=\"old\"} 3.000000\n"
	"l4split_track_weights_other{namespace=\"default\",service=\"web\"} 7\n";

static void test_select(void **st)
{
	json_t *a;

	(void)st;
	a = prom_text_select(text, "l4split_track_weight", "default", "web");
	assert_int_equal(json_array_size(a), 4); /* not other/web, web2, nor a longer name */
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_array_get(a, 1), "labels"), "track")), "old");
	assert_true(json_real_value(json_object_get(json_array_get(a, 1), "value")) == 9.0);
	json_decref(a);
	a = prom_text_select(text, "l4split_track_weight", "default", "web2");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_array_get(a, 0), "labels"), "l4split_service")), "x\"y");
	json_decref(a);
	a = prom_text_select("garbage{namespace=\n", "garbage", "default", "web");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

static void test_in_force(void **st)
{
	struct svc_config c;
	char v[256], have[256];

	(void)st;
	assert_int_equal(merge(NULL, "old=9", "new=1", v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(text, "default", "web", &c, have, sizeof(have)), 1);
	svc_config_free(&c);
	/* A weight differs on one port: not yet; what the node has is said. */
	assert_int_equal(merge(NULL, "old=9", "new=2", v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(text, "default", "web", &c, have, sizeof(have)), 0);
	assert_string_equal(have, "new=1 old=9");
	svc_config_free(&c);
	/* A track the weights name that the node does not show yet: not in force, even if
	 * every series it shows agrees. */
	assert_int_equal(merge("old=9,new=1", "canary=0", NULL, v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(text, "default", "web", &c, have, sizeof(have)), 0);
	svc_config_free(&c);
	/* A track the node has but the weights do not name must be 0 (the agent's rule). */
	assert_int_equal(merge(NULL, "old=9", NULL, v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(text, "default", "web", &c, have, sizeof(have)), 0);
	svc_config_free(&c);
	/* No series for the Service on the node: not in force. */
	assert_int_equal(merge(NULL, "old=1", NULL, v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(text, "default", "nothere", &c, have, sizeof(have)), 0);
	assert_string_equal(have, "no l4split service for it yet");
	svc_config_free(&c);
	/* Fractions as the agent prints them (%.6f). */
	assert_int_equal(merge(NULL, "a=0.5", NULL, v, sizeof(v), &c), 0);
	assert_int_equal(cluster_weights_in_force(
		"l4split_track_weight{namespace=\"n\",service=\"s\",l4split_service=\"n.s.1\","
		"track=\"a\"} 0.500000\n", "n", "s", &c, have, sizeof(have)), 1);
	svc_config_free(&c);
}

static void test_selector(void **st)
{
	json_t *l = json_pack("{s:s, s:s}", "app.kubernetes.io/name", "l4split", "tier", "node");

	(void)st;
	assert_true(label_selector_match(l, "app.kubernetes.io/name=l4split"));
	assert_true(label_selector_match(l, "app.kubernetes.io/name==l4split,tier=node"));
	assert_false(label_selector_match(l, "app.kubernetes.io/name=l4split,tier=edge"));
	assert_true(label_selector_match(l, "tier!=edge"));
	assert_false(label_selector_match(l, "tier!=node"));
	assert_true(label_selector_match(l, "tier"));
	assert_false(label_selector_match(l, "zone"));
	assert_false(label_selector_match(NULL, "app=x"));
	json_decref(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_errors),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_in_force),
		cmocka_unit_test(test_selector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
