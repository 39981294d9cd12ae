// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The error mechanism: messages that quote the current message, prefixes, escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"

/* A message that quotes the current one (the way callers re-wrap) reads it whole. */
static void test_rewrap(void **state)
{
	(void)state;
	l4s_err(EINVAL, "frontend \"rong\" is wrong: expected VIP:PORT/tcp");
	assert_int_equal(l4s_err(EINVAL, "%s: %s", "services[0].vip", l4s_errmsg()), -EINVAL);
	assert_string_equal(l4s_errmsg(),
			    "services[0].vip: frontend \"rong\" is wrong: expected VIP:PORT/tcp");
	l4s_err(EIO, "inner");
	l4s_hint("do this");
	l4s_hint("%s, then that", l4s_errhint());
	assert_string_equal(l4s_errhint(), "do this, then that");
}

static void test_prefix(void **state)
{
	(void)state;
	l4s_err(ENOENT, "no such thing");
	l4s_hint("make it");
	assert_int_equal(l4s_err_prefix("services[%d] (\"%s\")", 3, "web"), -ENOENT);
	assert_string_equal(l4s_errmsg(), "services[3] (\"web\"): no such thing");
	assert_string_equal(l4s_errhint(), "make it"); /* the hint stays */
	l4s_err_clear();
	assert_int_equal(l4s_err_prefix("x"), -EIO); /* nothing recorded: still an error */
	assert_string_equal(l4s_errmsg(), "x: unknown error");
	/* A long prefix is cut, never overflows. */
	{
		char big[2000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		l4s_err(EINVAL, "%s", big);
		l4s_err_prefix("%s", big);
		assert_int_equal(strlen(l4s_errmsg()), 511);
	}
}

static void test_escape(void **state)
{
	char out[128];

	(void)state;
	l4s_escape(out, sizeof(out), "a\nb\rc\td\033[31me\x7f\x01", 1);
	assert_string_equal(out, "a\\nb\\rc\\td\\e[31me\\x7f\\x01");
	/* UTF-8 stays; C1 controls and bytes that are not UTF-8 become visible escapes. */
	l4s_escape(out, sizeof(out), "\xc3\xa4 \xc2\x9b \xff \xc3", 1);
	assert_string_equal(out, "\xc3\xa4 \\u009b \\xff \\xc3");
	/* JSON mode (ctl 0): control characters stay (the JSON writer escapes them). */
	l4s_escape(out, sizeof(out), "a\nb\xff", 0);
	assert_string_equal(out, "a\nb\\xff");
	/* Never past the end, never a cut escape. */
	assert_int_equal(l4s_escape(out, 4, "\n\n\n", 1), 2);
	assert_string_equal(out, "\\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrap),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
