// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The rollout controller's pure parts (user/kube/rollout_ctl.c): the l4split.io/rollout
 * annotation, each step's weights from the starting ones, and counters across a
 * restarted agent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "rollout_ctl.h"

static void test_spec(void **st)
{
	struct ro_spec s;
	char k[512];

	(void)st;
	assert_int_equal(ro_spec_parse("to=new", &s), 0);
	assert_string_equal(s.to, "new");
	/* Today's node rollout defaults. */
	assert_int_equal(s.nsteps, 5);
	assert_int_equal(s.steps[0], 10000);
	assert_int_equal(s.steps[4], 1000000);
	assert_true(s.interval_ms == 30000 && s.answer_ms == 1000 && s.min_flows == 100);
	assert_int_equal(s.max_failure_ppm, 50000);
	assert_int_equal(ro_spec_parse(" to=new; steps=10,50,100 ;interval=5s;max-failure-ratio=2%;"
				       "min-flows=20; answer-timeout=500ms; id=7; state=paused", &s), 0);
	assert_int_equal(s.nsteps, 3);
	assert_int_equal(s.steps[1], 500000);
	assert_true(s.interval_ms == 5000 && s.answer_ms == 500 && s.min_flows == 20);
	assert_int_equal(s.max_failure_ppm, 20000);
	assert_true(s.paused && !s.aborted);
	assert_string_equal(s.id, "7");
	/* The run's key leaves state= out: pausing is the same rollout, a new id another. */
	ro_spec_key(&s, k, sizeof(k));
	assert_string_equal(k, "to=new;steps=10,50,100;interval=5000ms;max-failure-ratio=0.02;"
			       "min-flows=20;answer-timeout=500ms;id=7");
	assert_int_equal(ro_spec_parse("to=new;steps=10,50,100;interval=5s;max-failure-ratio=2%;"
				       "min-flows=20;answer-timeout=500ms;id=7", &s), 0);
	{
		char k2[512];

		ro_spec_key(&s, k2, sizeof(k2));
		assert_string_equal(k, k2);
	}
	/* Errors name what is wrong. */
	assert_int_equal(ro_spec_parse("steps=1,5", &s), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "to=TRACK is missing"));
	assert_int_equal(ro_spec_parse("to=new;steps=5,1", &s), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "larger than the one before"));
	assert_int_equal(ro_spec_parse("to=new;speed=9", &s), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "unknown key \"speed\""));
	assert_int_equal(ro_spec_parse("to=new;state=sleeping", &s), -EINVAL);
	assert_int_equal(ro_spec_parse("to=new;interval", &s), -EINVAL);
	l4s_err_clear();
}

static void test_step_weights(void **st)
{
	char w[256];

	(void)st;
	assert_int_equal(ro_step_weights("old=1,new=0", "new", 10000, w, sizeof(w)), 0);
	assert_string_equal(w, "old=99,new=1");
	/* The other tracks keep their proportions; a target not in the start is added. */
	assert_int_equal(ro_step_weights("a=3,b=1", "new", 200000, w, sizeof(w)), 0);
	assert_string_equal(w, "a=60,b=20,new=20");
	assert_int_equal(ro_step_weights("old=1", "new", 1000000, w, sizeof(w)), 0);
	assert_string_equal(w, "old=0,new=100");
	assert_int_equal(ro_step_weights("old=1,new=1", "new", 55000, w, sizeof(w)), 0);
	assert_string_equal(w, "old=94.5,new=5.5");
	/* Nothing to take the rest. */
	assert_int_equal(ro_step_weights("new=1", "new", 500000, w, sizeof(w)), -EINVAL);
	assert_non_null(strstr(l4s_errmsg(), "nothing would take the rest"));
	assert_int_equal(ro_step_weights("old=lots", "new", 500000, w, sizeof(w)), -EINVAL);
	l4s_err_clear();
}

static void test_ctr(void **st)
{
	struct ro_ctr c = { 100, 100, 0 };

	(void)st;
	ro_ctr_fold(&c, 150);
	assert_int_equal(ro_ctr_value(&c), 50);
	/* The agent restarted: its 50 are kept, it counts again from 0. */
	ro_ctr_fold(&c, 7);
	assert_int_equal(ro_ctr_value(&c), 57);
	ro_ctr_fold(&c, 160); /* past the old baseline: still not subtracted again */
	assert_int_equal(ro_ctr_value(&c), 210);
	ro_ctr_fold(&c, 3);
	assert_int_equal(ro_ctr_value(&c), 213);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_step_weights),
		cmocka_unit_test(test_ctr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
