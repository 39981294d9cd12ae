// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "err.h"
#include "l4split.h"
#include "load.h"
#include "l4split.skel.h"

/* A program of cgroup @type with @attach_type, "return 1": can it load? */
static bool probe_attach(enum bpf_prog_type type, enum bpf_attach_type attach_type)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type);
	int fd = bpf_prog_load(type, NULL, "GPL", insns, 2, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool probe_helper(enum bpf_prog_type type, enum bpf_func_id id)
{
	return libbpf_probe_bpf_helper(type, id, NULL) == 1;
}

/* Is @name in the comma list @list? */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

const struct l4s_kfeat *kfeat_get(void)
{
	static struct l4s_kfeat f;
	static bool done;
	const char *off = getenv("L4SPLIT_KFEAT_OFF");
	libbpf_print_fn_t old;

	if (done)
		return &f;
	old = libbpf_set_print(NULL); /* a missing feature is an answer, not a warning */
	f.set_retval = probe_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval);
	f.coarse_ns = probe_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_ktime_get_coarse_ns);
	f.cgroup_recvmsg = probe_attach(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG);
	f.cgroup_peername = probe_attach(BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
					 BPF_CGROUP_INET4_GETPEERNAME);
	libbpf_set_print(old);
	f.set_retval &= !listed(off, "set_retval");
	f.coarse_ns &= !listed(off, "coarse_ns");
	f.cgroup_recvmsg &= !listed(off, "cgroup_recvmsg");
	f.cgroup_peername &= !listed(off, "cgroup_peername");
	if (l4s_debug)
		fprintf(stderr, "l4split: kernel features: set_retval %d, coarse_ns %d, "
			"cgroup_recvmsg %d, cgroup_peername %d\n", f.set_retval, f.coarse_ns,
			f.cgroup_recvmsg, f.cgroup_peername);
	done = true;
	return &f;
}

int kfeat_check(const struct l4s_kfeat *f, unsigned int sets)
{
	static const char hint[] = "the node path (attach DEV) works from Linux 5.10 on; "
				   "README.md's kernel table lists what needs which kernel";

	if (!(sets & L4S_LOAD_SOCK))
		return 0;
	if (!f->cgroup_recvmsg) {
		l4s_err(EOPNOTSUPP, "attach --cgroup: needs Linux 5.2 (cgroup recvmsg hooks)");
		l4s_hint("%s", hint);
		return -EOPNOTSUPP;
	}
	if (!f->cgroup_peername) {
		l4s_err(EOPNOTSUPP, "attach --cgroup: needs Linux 5.8 (cgroup getpeername hooks)");
		l4s_hint("%s", hint);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Is capability @cap in this process's effective set? (A root shell whose bounding set
 * was cut, as a container's is, has euid 0 without it.) */
static int cap_effective(int cap)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = ~0ull;

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7)) {
			eff = strtoull(line + 7, NULL, 16);
			break;
		}
	fclose(f);
	return !!(eff & (1ull << cap));
}

/* What libbpf said while loading: the first program refused, a pinned map it could not
 * reuse. Its warnings (the verifier's log among them) are shown only with -d. */
static struct {
	libbpf_print_fn_t next;
	char prog[64];
	bool map_mismatch;
} seen;

__attribute__((format(printf, 2, 0)))
static int load_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	const char *p, *q;
	va_list copy;

	va_copy(copy, ap);
	vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	/* "libbpf: prog 'NAME': BPF program load failed: ..." */
	if (!seen.prog[0] && strstr(line, "load failed") && (p = strstr(line, "prog '")) &&
	    (q = strchr(p + 6, '\'')))
		snprintf(seen.prog, sizeof(seen.prog), "%.*s", (int)(q - p - 6), p + 6);
	if (strstr(line, "reuse pinned map"))
		seen.map_mismatch = true;
	if (!l4s_debug || !seen.next)
		return 0;
	return seen.next(level, fmt, ap);
}

static bool in_sets(const struct bpf_program *p, unsigned int sets)
{
	switch (bpf_program__type(p)) {
	case BPF_PROG_TYPE_XDP:
	case BPF_PROG_TYPE_SCHED_CLS:
		return sets & L4S_LOAD_NODE;
	default:
		return sets & L4S_LOAD_SOCK;
	}
}

/*
 * The forward programs' tail-call slots: each hook's slow program (bpf/hook.h) in its
 * array. The arrays are pinned, so a re-attach or an upgrade puts this load's programs
 * in the slots the programs attached by an earlier run read as well.
 */
static int tail_fill(struct l4split_bpf *skel)
{
	const struct {
		struct bpf_map *map;
		struct bpf_program *prog;
	} slots[] = {
		{ skel->maps.l4s_xtail, skel->progs.l4s_xdp_slow },
		{ skel->maps.l4s_ttail, skel->progs.l4s_tc_slow },
	};
	__u32 key = L4S_TAIL_SLOW;

	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		int fd = bpf_program__fd(slots[i].prog);

		if (bpf_map_update_elem(bpf_map__fd(slots[i].map), &key, &fd, BPF_ANY))
			return l4s_err(errno, "cannot fill %s with %s: %s",
				       bpf_map__name(slots[i].map),
				       bpf_program__name(slots[i].prog), strerror(errno));
	}
	return 0;
}

int load_object(struct l4split_bpf *skel, unsigned int sets, const char *pin_dir)
{
	struct bpf_program *p;
	struct utsname u;
	int err;

	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, in_sets(p, sets));
	if (sets) { /* maps only: nothing to probe */
		const struct l4s_kfeat *f = kfeat_get();

		err = kfeat_check(f, sets);
		if (err)
			return err;
		skel->rodata->l4s_have_set_retval = f->set_retval;
		skel->rodata->l4s_have_coarse_ns = f->coarse_ns;
	}

	memset(&seen, 0, sizeof(seen));
	seen.next = libbpf_set_print(load_print);
	err = l4split_bpf__load(skel);
	libbpf_set_print(seen.next);
	if (!err) {
		if ((sets & L4S_LOAD_NODE) && (err = tail_fill(skel)))
			l4s_hint("without it the forward path's rare cases (reject, SNAT, ICMP) "
				 "are dropped; rerun with -d, or 'l4split detach --all --purge' "
				 "to start over");
		return err;
	}
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	if (err == -EPERM) {
		l4s_err(err, "cannot load the BPF programs: %s", strerror(-err));
		l4s_hint("run as root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON are needed)");
	} else if (seen.map_mismatch) {
		l4s_err(err, "cannot load the BPF programs: %s", strerror(-err));
		l4s_hint("pinned maps in %s have another size or layout; rerun with -d to see "
			 "libbpf's log, or 'l4split detach --all --purge' to start over", pin_dir);
	} else if (seen.prog[0] && err == -EACCES && !cap_effective(38 /* CAP_PERFMON */)) {
		l4s_err(err, "cannot load the BPF programs: the verifier refused %s", seen.prog);
		l4s_hint("without CAP_PERFMON it does (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON "
			 "are needed); else rerun with -d to see its log");
	} else if (seen.prog[0]) {
		l4s_err(err, "cannot load the BPF programs: this kernel (Linux %s) refused %s",
			u.release, seen.prog);
		l4s_hint("l4split's node path needs Linux 5.10 or later (README.md: kernels); "
			 "rerun with -d to see the verifier's log");
	} else {
		l4s_err(err, "cannot load the BPF programs: %s", strerror(-err));
		l4s_hint("rerun with -d to see the verifier and libbpf log");
	}
	return err;
}
