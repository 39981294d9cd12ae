// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What may load on which kernel (user/core/load.c: kfeat_check), and what it says. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "err.h"
#include "load.h"

static const struct l4s_kfeat linux_6_1 = { .set_retval = false, .coarse_ns = true,
					    .cgroup_recvmsg = true, .cgroup_peername = true };
static const struct l4s_kfeat linux_5_4 = { .cgroup_recvmsg = true };
static const struct l4s_kfeat linux_4_19 = { 0 };

/* The node path and the maps ask nothing of the kernel's optional features. */
static void test_node_path_any_kernel(void **state)
{
	(void)state;
	assert_int_equal(kfeat_check(&linux_4_19, L4S_LOAD_MAPS), 0);
	assert_int_equal(kfeat_check(&linux_4_19, L4S_LOAD_NODE), 0);
	assert_int_equal(kfeat_check(&linux_5_4, L4S_LOAD_NODE), 0);
}

/* The socket path without bpf_set_retval loads (it refuses with EPERM instead). */
static void test_socket_path_without_set_retval(void **state)
{
	(void)state;
	assert_int_equal(kfeat_check(&linux_6_1, L4S_LOAD_SOCK), 0);
}

/* Without a hook it attaches, the socket path is refused by name, with the version. */
static void test_socket_path_needs_hooks(void **state)
{
	(void)state;
	l4s_err_clear();
	assert_int_equal(kfeat_check(&linux_5_4, L4S_LOAD_SOCK), -EOPNOTSUPP);
	assert_string_equal(l4s_errmsg(), "attach --cgroup: needs Linux 5.8 (cgroup getpeername hooks)");
	assert_non_null(strstr(l4s_errhint(), "node path"));
	assert_null(strstr(l4s_errhint(), "map")); /* the kernel is the cause, not the maps */
	assert_int_equal(kfeat_check(&linux_4_19, L4S_LOAD_SOCK | L4S_LOAD_NODE), -EOPNOTSUPP);
	assert_string_equal(l4s_errmsg(), "attach --cgroup: needs Linux 5.2 (cgroup recvmsg hooks)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_path_any_kernel),
		cmocka_unit_test(test_socket_path_without_set_retval),
		cmocka_unit_test(test_socket_path_needs_hooks),
	};

	return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
