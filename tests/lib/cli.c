// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "cmd.h"
#include "state.h"
#include "l4split.skel.h"

int cli(const char *fmt, ...)
{
	char line[512], *argv[32], *save = NULL, *tok;
	int argc = 0, rc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (tok = strtok_r(line, " ", &save); tok && argc < 31; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (!argc)
		return 99;
	if (!strcmp(argv[0], "service"))
		rc = do_service(argc - 1, argv + 1);
	else if (!strcmp(argv[0], "backend"))
		rc = do_backend(argc - 1, argv + 1);
	else if (!strcmp(argv[0], "weight"))
		rc = do_weight(argc - 1, argv + 1);
	else if (!strcmp(argv[0], "node"))
		rc = do_node(argc - 1, argv + 1);
	else if (!strcmp(argv[0], "apply"))
		rc = do_apply(argc - 1, argv + 1);
	else
		rc = 99;
	if (rc)
		fprintf(stderr, "# command failed (%d): %s\n", rc, fmt);
	return rc;
}

int try_prog(int fd, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, int *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = 2048, .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &o);

	*outlen = o.data_size_out;
	*ret = (int)o.retval;
	return err;
}

struct l4split_bpf *dp_load(struct l4s_state *st, const char *pin_dir, int fds[3])
{
	struct l4split_bpf *skel;

	if (state_open(st, pin_dir, 0))
		return NULL;
	skel = state_load_object(st);
	if (!skel)
		return NULL;
	fds[0] = bpf_program__fd(skel->progs.l4s_xdp_fwd);
	fds[1] = bpf_program__fd(skel->progs.l4s_tc_fwd);
	fds[2] = bpf_program__fd(skel->progs.l4s_tc_reply);
	return skel;
}

uint64_t dp_reason(struct l4s_state *st, unsigned int reason)
{
	__u64 v[L4S_R_MAX] = {};

	state_reasons(st, v);
	return reason < L4S_R_MAX ? v[reason] : 0;
}

void dp_setup_failed(struct l4split_bpf *skel, struct l4s_state *st, const char *pin_dir)
{
	if (skel) {
		dp_unload(skel, st, pin_dir);
		return;
	}
	state_purge(pin_dir);
	umount2(pin_dir, MNT_DETACH);
	rmdir(pin_dir);
}

void dp_unload(struct l4split_bpf *skel, struct l4s_state *st, const char *pin_dir)
{
	if (skel)
		l4split_bpf__destroy(skel);
	state_close(st);
	state_purge(pin_dir);
	umount(pin_dir);
	rmdir(pin_dir);
}
