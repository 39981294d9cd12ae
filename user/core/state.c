// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "err.h"
#include "mapscan.h"
#include "state.h"
#include "l4split.skel.h"
#include "load.h"

static void svcidx_create(struct l4s_state *st);
static int index_scan(struct l4s_state *st);

static __u64 flow_max_opt;
static __u32 backend_max_opt;

static const struct {
	const char *name;
	size_t off;
	int optional; /* added after layout 1 shipped: 'attach' creates it */
} state_maps[] = {
	{ "l4s_frontends", offsetof(struct l4s_state, frontends) },
	{ "l4s_services", offsetof(struct l4s_state, services) },
	{ "l4s_backends", offsetof(struct l4s_state, backends) },
	{ "l4s_weights", offsetof(struct l4s_state, weights) },
	{ "l4s_tracks", offsetof(struct l4s_state, tracks) },
	{ "l4s_tables", offsetof(struct l4s_state, tables) },
	{ "l4s_flows", offsetof(struct l4s_state, flows) },
	{ "l4s_rflows", offsetof(struct l4s_state, rflows) },
	{ "l4s_txports", offsetof(struct l4s_state, txports) },
	{ "l4s_bstats", offsetof(struct l4s_state, bstats) },
	{ "l4s_sstats", offsetof(struct l4s_state, sstats) },
	/* Replaced when layout 1 is upgraded (it grew); attach recreates it if missing. */
	{ "l4s_reasons", offsetof(struct l4s_state, reasons), 1 },
	{ "l4s_attach", offsetof(struct l4s_state, attach) },
	{ "l4s_config", offsetof(struct l4s_state, config) },
	{ "l4s_rollouts", offsetof(struct l4s_state, rollouts), 1 },
	/* The socket path: added in layout 2 without a layout change; attach creates them. */
	{ "l4s_sock_fwd", offsetof(struct l4s_state, sock_fwd), 1 },
	{ "l4s_sock_rev", offsetof(struct l4s_state, sock_rev), 1 },
	{ "l4s_sock_stats", offsetof(struct l4s_state, sock_stats), 1 },
	{ "l4s_cgroups", offsetof(struct l4s_state, cgroups), 1 },
	/* Backends on other nodes: added the same way. */
	{ "l4s_snat", offsetof(struct l4s_state, snat), 1 },
	{ "l4s_node", offsetof(struct l4s_state, node), 1 },
	{ "l4s_bindex", offsetof(struct l4s_state, bindex), 1 },
	/* Flows without a reverse entry (issue 20): added the same way. */
	{ "l4s_norev", offsetof(struct l4s_state, norev), 1 },
	{ "l4s_devaddr", offsetof(struct l4s_state, devaddr), 1 },
	/* Layout 4: the per-flow half of the per-backend counters (upgrade creates it). */
	{ "l4s_bcounts", offsetof(struct l4s_state, bcounts), 1 },
	/* Client-IP affinity with a timeout: added without a layout change. */
	{ "l4s_svcaff", offsetof(struct l4s_state, svcaff), 1 },
	{ "l4s_affinity", offsetof(struct l4s_state, affinity), 1 },
	/* The connect-time histogram: added the same way. */
	{ "l4s_cstart", offsetof(struct l4s_state, cstart), 1 },
	{ "l4s_bconnect", offsetof(struct l4s_state, bconnect), 1 },
	/* Userspace only, created by state_load_object (not in the object). */
	{ "l4s_svcidx", offsetof(struct l4s_state, svcidx), 1 },
};
#define N_STATE_MAPS (sizeof(state_maps) / sizeof(state_maps[0]))

static int *map_fd(struct l4s_state *st, size_t i)
{
	return (int *)((char *)st + state_maps[i].off);
}

const char *state_pin_dir(const char *opt)
{
	const char *env = getenv("L4SPLIT_PIN_DIR");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return L4S_PIN_DIR_DEFAULT;
}

void state_set_flow_max(__u64 n)
{
	flow_max_opt = n;
}

void state_set_backend_max(__u32 n)
{
	backend_max_opt = n;
}

static int pin_path(char *buf, size_t n, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n)
		return l4s_err(ENAMETOOLONG, "pin directory %s: path too long", dir);
	return 0;
}

/* max_entries of a pinned map, or 0. */
static __u32 map_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.max_entries;
}

static int on_bpffs(const char *dir)
{
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* A directory entry (bpffs allows only directories and pins, and no '.' in their names)
 * that says l4split mounted the bpffs it is on. */
#define MOUNT_MARK "l4split-mounted"

/*
 * Has @dir no entries besides our mark? On a bpffs, the kernel's own files (maps.debug,
 * progs.debug: names with a '.', which nobody else can make there) do not count either.
 * An unreadable directory counts as not empty.
 */
static int dir_empty(const char *dir)
{
	int bpffs = on_bpffs(dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = d != NULL;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, MOUNT_MARK) && !(bpffs && strchr(e->d_name, '.')))
			empty = 0;
	if (d)
		closedir(d);
	return empty;
}

int bpffs_prepare(const char *dir)
{
	char path[PATH_MAX];
	struct stat sb;
	int err;

	if (stat(dir, &sb)) {
		err = mkdir_p(dir);
		/* /sys/fs/bpf is an empty sysfs directory until a bpffs is mounted on it. */
		if (err && !strncmp(dir, "/sys/fs/bpf/", 12) && !on_bpffs("/sys/fs/bpf")) {
			if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
				err = mkdir_p(dir);
		}
		if (err) {
			l4s_err(err, "cannot create pin directory %s: %s", dir, strerror(-err));
			l4s_hint("run as root, or choose another directory with --pin-dir or L4SPLIT_PIN_DIR");
			return err;
		}
	}
	if (on_bpffs(dir))
		return 0;
	if (!dir_empty(dir)) {
		l4s_err(ENOTEMPTY, "pin directory %s is not a bpffs and not empty: mounting one "
			"there would hide its files", dir);
		l4s_hint("give --pin-dir / L4SPLIT_PIN_DIR a new or empty directory, or mount a "
			 "bpffs there yourself: mount -t bpf bpf %s", dir);
		return -ENOTEMPTY;
	}
	if (mount("bpf", dir, "bpf", 0, "mode=0700")) {
		err = -errno;
		l4s_err(err, "cannot mount a bpffs on %s: %s", dir, strerror(errno));
		l4s_hint("run as root (CAP_SYS_ADMIN), or mount one yourself: mount -t bpf bpf %s",
			 dir);
		return err;
	}
	/* Remember that this mount is ours: state_purge takes it away again. */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, MOUNT_MARK) < sizeof(path))
		mkdir(path, 0700);
	return 0;
}

__attribute__((format(printf, 2, 0)))
static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !l4s_debug)
		return 0;
	if (level == LIBBPF_INFO && !l4s_debug)
		return 0;
	fprintf(stderr, "libbpf: ");
	return vfprintf(stderr, fmt, ap);
}

/*
 * Before loading over an older layout: unpin the maps whose definition changed, so
 * that loading creates them anew (the running programs keep the old ones until they
 * are replaced). Every other map, flows included, is reused as it is.
 */
static int state_upgrade_prepare(struct l4s_state *st)
{
	char path[PATH_MAX];

	if (st->upgrade_from < 2) { /* 1 -> 2: l4s_reasons grew */
		snprintf(path, sizeof(path), "%s/l4s_reasons", st->pin_dir);
		if (unlink(path) && errno != ENOENT)
			return l4s_err(errno, "cannot replace %s: %s", path, strerror(errno));
		if (st->reasons >= 0)
			close(st->reasons);
		st->reasons = -1;
	}
	if (st->upgrade_from < 4) { /* 3 -> 4: the per-backend counters were split */
		const char *names[] = { "l4s_bstats", "l4s_sock_stats" };
		int *fds[] = { &st->bstats, &st->sock_stats };

		for (int i = 0; i < 2; i++) {
			if (pin_path(path, sizeof(path), st->pin_dir, names[i]))
				return -ENAMETOOLONG;
			if (unlink(path) && errno != ENOENT)
				return l4s_err(errno, "cannot replace %s: %s", path, strerror(errno));
		}
		/* The old maps stay open: their sums are carried over once the new ones
		 * exist (state_upgrade_finish). */
		st->old_bstats = *fds[0];
		st->old_sock_stats = *fds[1];
		*fds[0] = *fds[1] = -1;
	}
	if (st->upgrade_from < 5) { /* 4 -> 5: the reverse entries grew (start_ns) */
		if (pin_path(path, sizeof(path), st->pin_dir, "l4s_rflows"))
			return -ENAMETOOLONG;
		if (unlink(path) && errno != ENOENT)
			return l4s_err(errno, "cannot replace %s: %s", path, strerror(errno));
		/* Kept open: its entries are copied once the new map exists. */
		st->old_rflows = st->rflows;
		st->rflows = -1;
	}
	return 0;
}

/*
 * 4 -> 5: every reverse entry, copied from the layout-4 map into the new one (without
 * a connect-time start: a flow waiting for its first answer has it in l4s_cstart,
 * where the reply path still looks). What the old programs write between this copy
 * and their replacement the reply path repairs (reply_miss). Old entries are 24 bytes:
 * the first 24 of struct l4s_rflow.
 */
static int rflows_carry(struct l4s_state *st, struct l4split_bpf *skel)
{
	int to = bpf_map__fd(skel->maps.l4s_rflows);
	struct l4s_flow_key k, next;
	unsigned char old[64];
	void *prev = NULL;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (st->old_rflows < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(st->old_rflows, &info, &len) ||
	    info.value_size > sizeof(old) || info.value_size > sizeof(struct l4s_rflow))
		return l4s_err(EINVAL, "cannot read the layout-4 reverse flows");
	while (bpf_map_get_next_key(st->old_rflows, prev, &next) == 0) {
		struct l4s_rflow rf = {};

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(st->old_rflows, &k, old))
			continue;
		memcpy(&rf, old, info.value_size);
		rf.start_ns = 0;
		if (bpf_map_update_elem(to, &k, &rf, BPF_NOEXIST) && errno != EEXIST)
			return l4s_err(errno, "cannot carry the reverse flows over to layout 5: %s",
				       strerror(errno));
	}
	return 0;
}

/*
 * 3 -> 4: every backend's counters so far, summed from the layout-3 per-CPU maps into
 * the new ones, so that status, stats and /metrics go on from where they were (what
 * the old programs count between this copy and their replacement, a moment later, is
 * lost). The new maps were just made: nothing counts into them yet.
 */
static int counters_carry(struct l4s_state *st, struct l4split_bpf *skel)
{
	int pk = bpf_map__fd(skel->maps.l4s_bstats), bc = bpf_map__fd(skel->maps.l4s_bcounts);
	int sk = bpf_map__fd(skel->maps.l4s_sock_stats);
	size_t ncpu = (size_t)st->ncpus;
	__u64 *old = calloc(ncpu * 8, sizeof(__u64));
	struct l4s_backend_pkts *pkts = calloc(ncpu, sizeof(*pkts));
	__u32 n = map_entries(st->old_bstats);
	int err = 0;

	if (!old || !pkts) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 id = 0; id < n && st->old_bstats >= 0; id++) {
		struct l4s_backend_stats sum = {};
		struct l4s_backend_counts c;
		__u64 *w = (__u64 *)&sum;

		if (bpf_map_lookup_elem(st->old_bstats, &id, old))
			continue;
		for (size_t cpu = 0; cpu < ncpu; cpu++)
			for (int k = 0; k < 8; k++)
				w[k] += old[cpu * 8 + (size_t)k];
		if (!sum.packets && !sum.rx_packets && !sum.flows)
			continue;
		memset(pkts, 0, ncpu * sizeof(*pkts));
		pkts[0].packets = sum.packets; /* the sum sits on CPU 0: readers sum */
		pkts[0].bytes = sum.bytes;
		c = (struct l4s_backend_counts){ .flows = sum.flows, .answered = sum.answered,
						 .resets = sum.resets,
						 .syn_retries = sum.syn_retries,
						 .rx_packets = sum.rx_packets,
						 .rx_bytes = sum.rx_bytes };
		if (bpf_map_update_elem(pk, &id, pkts, BPF_ANY) ||
		    bpf_map_update_elem(bc, &id, &c, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
	n = map_entries(st->old_sock_stats);
	for (__u32 id = 0; id < n && st->old_sock_stats >= 0; id++) {
		struct l4s_sock_stats sum = {};
		__u64 *w = (__u64 *)&sum;

		if (bpf_map_lookup_elem(st->old_sock_stats, &id, old))
			continue;
		for (size_t cpu = 0; cpu < ncpu; cpu++)
			for (int k = 0; k < 4; k++)
				w[k] += old[cpu * 4 + (size_t)k];
		if (sum.flows && bpf_map_update_elem(sk, &id, &sum, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
out:
	free(old);
	free(pkts);
	if (err)
		l4s_err(err, "cannot carry the backend counters over to layout 4: %s",
			strerror(-err));
	return err;
}

/* After the new programs loaded (and pinned the new maps): record the new layout. */
static int state_upgrade_finish(struct l4s_state *st, struct l4split_bpf *skel)
{
	struct l4s_config cfg;
	char path[PATH_MAX];
	__u32 zero = 0;

	if (bpf_map_lookup_elem(st->config, &zero, &cfg))
		return l4s_err(errno, "cannot read l4s_config: %s", strerror(errno));
	cfg.layout_version = L4S_LAYOUT_VERSION;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.l4s_config), &zero, &cfg, BPF_ANY))
		return l4s_err(errno, "cannot write l4s_config: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/l4s_reasons", st->pin_dir);
	if (st->reasons < 0)
		st->reasons = bpf_obj_get(path);
	if (st->upgrade_from < 4 && counters_carry(st, skel))
		return -EIO;
	if (st->upgrade_from < 5 && rflows_carry(st, skel))
		return -EIO;
	if (st->rflows < 0)
		st->rflows = dup(bpf_map__fd(skel->maps.l4s_rflows));
	if (st->bstats < 0)
		st->bstats = dup(bpf_map__fd(skel->maps.l4s_bstats));
	if (st->sock_stats < 0)
		st->sock_stats = dup(bpf_map__fd(skel->maps.l4s_sock_stats));
	l4s_note("Note: upgraded the state in %s from map layout %u to %u: services, "
		 "backends, weights, flows and backend counters kept%s", st->pin_dir,
		 st->upgrade_from, L4S_LAYOUT_VERSION,
		 st->upgrade_from < 2 ? "; datapath verdict counters restart from 0" : "");
	if (st->be_max < L4S_MAX_BACKENDS)
		l4s_note("Note: the state keeps its capacity of %u backends (%u for new state: "
			 "attach --backends N after detach --all --purge)", st->be_max,
			 L4S_MAX_BACKENDS);
	st->upgrade_from = 0;
	return 0;
}

static void old_counters_close(struct l4s_state *st)
{
	if (st->old_bstats >= 0)
		close(st->old_bstats);
	if (st->old_sock_stats >= 0)
		close(st->old_sock_stats);
	st->old_bstats = st->old_sock_stats = -1;
	if (st->old_rflows >= 0)
		close(st->old_rflows);
	st->old_rflows = -1;
}

static void adopt_flags(struct bpf_map *m, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		bpf_map__set_map_flags(m, info.map_flags);
}

struct l4split_bpf *state_load_progs(struct l4s_state *st, unsigned int sets)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = st->pin_dir);
	struct l4split_bpf *skel;
	char path[PATH_MAX];
	int err, txfd = -1;

	libbpf_set_print(libbpf_print_fn);
	skel = l4split_bpf__open_opts(&opts);
	if (!skel) {
		l4s_err(errno, "cannot open the embedded BPF object: %s", strerror(errno));
		return NULL;
	}
	if (st->flow_max) {
		bpf_map__set_max_entries(skel->maps.l4s_flows, (__u32)st->flow_max);
		bpf_map__set_max_entries(skel->maps.l4s_rflows, (__u32)st->flow_max);
		/* SNAT flows are the remote-backend share of the flows: a quarter of the
		 * table (the map is preallocated, ~150 bytes an entry). */
		bpf_map__set_max_entries(skel->maps.l4s_snat, (__u32)(st->flow_max / 4 > 16384 ?
								       st->flow_max / 4 : 16384));
		/* Flows waiting for their first answer: a quarter of the table too. */
		bpf_map__set_max_entries(skel->maps.l4s_cstart,
					 (__u32)(st->flow_max / 4 > L4S_CSTART_MIN ? st->flow_max / 4 :
										L4S_CSTART_MIN));
	}
	/* Every map indexed by backend id holds the state's capacity. */
	if (st->be_max) {
		struct bpf_map *by_id[] = { skel->maps.l4s_backends, skel->maps.l4s_weights,
					    skel->maps.l4s_bstats, skel->maps.l4s_bcounts,
					    skel->maps.l4s_sock_stats, skel->maps.l4s_bindex,
					    skel->maps.l4s_norev,
					    skel->maps.l4s_bconnect };

		for (size_t i = 0; i < sizeof(by_id) / sizeof(by_id[0]); i++)
			bpf_map__set_max_entries(by_id[i], st->be_max);
	}
	/* A state made before layout 3 keeps its plain l4s_services and l4s_backends (a
	 * pinned map's flags cannot change): load with the flags they have. */
	if (st->services >= 0)
		adopt_flags(skel->maps.l4s_services, st->services);
	if (st->backends >= 0)
		adopt_flags(skel->maps.l4s_backends, st->backends);
	/* l4s_txports is pinned by hand (see bpf/maps.h): reuse it when it exists. */
	if ((size_t)snprintf(path, sizeof(path), "%s/l4s_txports", st->pin_dir) < sizeof(path)) {
		txfd = bpf_obj_get(path);
		if (txfd >= 0 && bpf_map__reuse_fd(skel->maps.l4s_txports, txfd)) {
			l4s_err(errno, "cannot reuse %s", path);
			close(txfd);
			l4split_bpf__destroy(skel);
			return NULL;
		}
	}
	if (st->upgrade_from && state_upgrade_prepare(st)) {
		l4split_bpf__destroy(skel);
		if (txfd >= 0)
			close(txfd);
		return NULL;
	}
	err = load_object(skel, sets, st->pin_dir);
	if (err) {
		l4split_bpf__destroy(skel);
		if (txfd >= 0)
			close(txfd);
		return NULL;
	}
	if (txfd >= 0)
		close(txfd);
	else if (bpf_map__pin(skel->maps.l4s_txports, path)) {
		l4s_err(errno, "cannot pin %s: %s", path, strerror(errno));
		l4split_bpf__destroy(skel);
		return NULL;
	}
	if (st->upgrade_from && state_upgrade_finish(st, skel)) {
		old_counters_close(st);
		l4split_bpf__destroy(skel);
		return NULL;
	}
	old_counters_close(st);
	/* Maps this load created (added since the state was made): open them too. */
	for (size_t i = 0; i < N_STATE_MAPS; i++) {
		if (*map_fd(st, i) >= 0 || !state_maps[i].optional ||
		    pin_path(path, sizeof(path), st->pin_dir, state_maps[i].name))
			continue;
		*map_fd(st, i) = bpf_obj_get(path);
	}
	/* l4s_svcidx: made here when missing; else made to agree with the maps (an older
	 * l4split may have changed them since). */
	if (st->svcidx < 0)
		svcidx_create(st);
	else if (state_svcidx_sync(st))
		l4s_note("Warning: %s; services are read by scans\n", l4s_errmsg());
	return skel;
}

struct l4split_bpf *state_load_object(struct l4s_state *st)
{
	return state_load_progs(st, L4S_LOAD_NODE);
}

static int state_create(struct l4s_state *st)
{
	struct l4split_bpf *skel;
	struct l4s_config cfg = { .layout_version = L4S_LAYOUT_VERSION };
	char path[PATH_MAX];
	__u32 zero = 0;
	int err, fd;

	st->flow_max = flow_max_opt ? flow_max_opt : L4S_FLOWS_DEFAULT;
	st->be_max = backend_max_opt ? backend_max_opt : L4S_MAX_BACKENDS;
	/* The same for the backends (and the maps sized with them). */
	if (!pin_path(path, sizeof(path), st->pin_dir, "l4s_backends") &&
	    (fd = bpf_obj_get(path)) >= 0) {
		st->be_max = map_entries(fd) ? map_entries(fd) : st->be_max;
		close(fd);
	}
	/* l4s_config lost, the flow table still there: keep its size (it is reused). */
	if (!pin_path(path, sizeof(path), st->pin_dir, "l4s_flows") &&
	    (fd = bpf_obj_get(path)) >= 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			st->flow_max = info.max_entries;
		close(fd);
	}
	skel = state_load_progs(st, L4S_LOAD_MAPS);
	if (!skel)
		return -errno ? -errno : -EINVAL;
	cfg.flow_max = st->flow_max;
	err = bpf_map_update_elem(bpf_map__fd(skel->maps.l4s_config), &zero, &cfg, BPF_ANY);
	l4split_bpf__destroy(skel);
	if (err)
		return l4s_err(errno, "cannot write l4s_config: %s", strerror(errno));
	return 0;
}

/*
 * Pin anew the maps of a state that lost some (a pinned file removed): loading the
 * object pins every map that is not pinned and reuses the others. Those maps start
 * empty; the note says which.
 */
static int state_recreate(struct l4s_state *st, __u64 flow_max)
{
	char path[PATH_MAX], names[512] = "";
	struct l4split_bpf *skel;
	size_t used = 0;

	for (size_t i = 0; i < N_STATE_MAPS; i++)
		if (*map_fd(st, i) < 0 && !state_maps[i].optional && used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
						 used ? ", " : "", state_maps[i].name);
	st->flow_max = flow_max;
	skel = state_load_progs(st, L4S_LOAD_MAPS);
	if (!skel)
		return l4s_err_prefix("cannot recreate the missing maps (%s)", names);
	l4split_bpf__destroy(skel);
	for (size_t i = 0; i < N_STATE_MAPS; i++) {
		if (*map_fd(st, i) >= 0 || pin_path(path, sizeof(path), st->pin_dir, state_maps[i].name))
			continue;
		*map_fd(st, i) = bpf_obj_get(path);
		if (*map_fd(st, i) < 0 && !state_maps[i].optional)
			return l4s_err(errno, "cannot open pinned map %s: %s", path, strerror(errno));
	}
	l4s_note("Note: the state in %s was incomplete: recreated %s (empty)\n", st->pin_dir,
		 names);
	return 0;
}

int state_open(struct l4s_state *st, const char *pin_dir, int flags)
{
	char path[PATH_MAX];
	struct l4s_config cfg;
	__u32 zero = 0;
	int err, missing = 0;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	st->old_bstats = st->old_sock_stats = -1;
	st->old_rflows = -1;
	for (size_t i = 0; i < N_STATE_MAPS; i++)
		*map_fd(st, i) = -1;
	if (strlen(pin_dir) >= sizeof(st->pin_dir))
		return l4s_err(ENAMETOOLONG, "pin directory %s: path too long", pin_dir);
	strcpy(st->pin_dir, pin_dir);
	st->ncpus = libbpf_num_possible_cpus();
	if (st->ncpus < 1)
		return l4s_err(EINVAL, "cannot count possible CPUs");

	if (flags & STATE_CREATE) {
		err = bpffs_prepare(pin_dir);
		if (err)
			return err;
	}
	if (flags & STATE_LOCK) {
		st->lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->lock_fd < 0 && errno == ENOENT) {
			l4s_err(ENOENT, "no l4split state in %s", pin_dir);
			l4s_hint("create it with 'l4split attach DEV' or 'l4split service add'");
			return -ENOENT;
		}
		if (st->lock_fd < 0)
			return l4s_err(errno, "cannot open %s: %s", pin_dir, strerror(errno));
		if (flock(st->lock_fd, LOCK_EX))
			return l4s_err(errno, "cannot lock %s: %s", pin_dir, strerror(errno));
	}

	err = pin_path(path, sizeof(path), pin_dir, "l4s_config");
	if (err)
		return err;
	if (access(path, F_OK)) {
		if (errno == EACCES) {
			l4s_err(EACCES, "cannot read l4split state in %s: permission denied", pin_dir);
			l4s_hint("l4split needs root");
			return -EACCES;
		}
		if (flags & STATE_PARTIAL) {
			missing++; /* read what else is there */
		} else if (!(flags & STATE_CREATE)) {
			l4s_err(ENOENT, "no l4split state in %s", pin_dir);
			l4s_hint("create it with 'l4split attach DEV' or 'l4split service add', or "
				 "point --pin-dir / L4SPLIT_PIN_DIR at it");
			return -ENOENT;
		} else {
			err = state_create(st);
			if (err)
				return err;
		}
	}

	for (size_t i = 0; i < N_STATE_MAPS; i++) {
		int fd;

		err = pin_path(path, sizeof(path), pin_dir, state_maps[i].name);
		if (err)
			return err;
		fd = bpf_obj_get(path);
		if (fd < 0 && errno == ENOENT && state_maps[i].optional)
			continue;
		/* An incomplete state: attach recreates what is missing, detach --all --purge
		 * removes whatever is there. */
		if (fd < 0 && errno == ENOENT && (flags & (STATE_CREATE | STATE_PARTIAL))) {
			missing++;
			continue;
		}
		if (fd < 0) {
			err = -errno;
			l4s_err(err, "cannot open pinned map %s: %s", path, strerror(-err));
			if (err == -EACCES || err == -EPERM)
				l4s_hint("l4split needs root");
			else
				l4s_hint("the state looks incomplete; 'l4split attach DEV' recreates "
					 "missing maps");
			return err;
		}
		*map_fd(st, i) = fd;
	}
	if (missing && (flags & STATE_PARTIAL)) {
		for (size_t i = 0; i < N_STATE_MAPS; i++)
			if (*map_fd(st, i) >= 0)
				return 0;
		l4s_err(ENOENT, "no l4split state in %s", pin_dir);
		l4s_hint("create it with 'l4split attach DEV' or 'l4split service add', or "
			 "point --pin-dir / L4SPLIT_PIN_DIR at it");
		return -ENOENT;
	}
	if (bpf_map_lookup_elem(st->config, &zero, &cfg))
		return l4s_err(errno, "cannot read l4s_config: %s", strerror(errno));
	st->be_max = map_entries(st->backends);
	if (!st->be_max) /* l4s_backends is what was lost: make it the default size */
		st->be_max = backend_max_opt ? backend_max_opt : L4S_MAX_BACKENDS;
	if (missing && cfg.layout_version == L4S_LAYOUT_VERSION) {
		err = state_recreate(st, cfg.flow_max);
		if (err)
			return err;
	}
	if (cfg.layout_version != L4S_LAYOUT_VERSION) {
		int older = cfg.layout_version >= L4S_LAYOUT_UPGRADABLE &&
			    cfg.layout_version < L4S_LAYOUT_VERSION;

		if (older && (flags & STATE_UPGRADE)) {
			st->upgrade_from = cfg.layout_version;
		} else if (older) {
			l4s_err(EPROTO, "state in %s has map layout %u, written by an older l4split "
				"(this one uses layout %u)", pin_dir, cfg.layout_version,
				L4S_LAYOUT_VERSION);
			l4s_hint("'l4split attach DEV' with this l4split upgrades it in place "
				 "(services, backends, weights and flows are kept)");
			return -EPROTO;
		} else {
			l4s_err(EPROTO, "state in %s has map layout %u, which this l4split (layout "
				"%u) cannot read", pin_dir, cfg.layout_version, L4S_LAYOUT_VERSION);
			l4s_hint("use the l4split that wrote it or a newer one, or 'l4split detach "
				 "--all --purge' to start over (existing flows are lost)");
			return -EPROTO;
		}
	}
	st->flow_max = cfg.flow_max;
	return 0;
}

struct snap_ctx {
	void *arr;
	size_t vs;
	__u32 n;
};

static int snap_put(const void *k, const void *v, void *ctx)
{
	struct snap_ctx *c = ctx;
	__u32 key = *(const __u32 *)k;

	if (key < c->n)
		memcpy((char *)c->arr + (size_t)key * c->vs, v, c->vs);
	return 0;
}

/* The whole array through a mapping (layout 3's mmapable maps), or NULL. An array's
 * values are 8-byte aligned: the records here are multiples of 8, so the mapping is
 * the array itself. */
static void *snapshot_map(int fd, size_t vs, __u32 n)
{
	void *p;

	if (vs % 8)
		return NULL;
	p = mmap(NULL, vs * n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *snapshot(int fd, size_t vs, __u32 n, const char *what)
{
	struct snap_ctx c = { .arr = calloc(n, vs), .vs = vs, .n = n };
	int err;

	if (!c.arr) {
		l4s_err(ENOMEM, "out of memory");
		return NULL;
	}
	err = map_scan(fd, sizeof(__u32), vs, snap_put, &c);
	if (err) {
		free(c.arr);
		l4s_err(err, "cannot read %s: %s", what, strerror(-err));
		return NULL;
	}
	return c.arr;
}

const struct l4s_backend *state_backends(struct l4s_state *st)
{
	if (!st->be_snap) {
		st->be_snap = snapshot_map(st->backends, sizeof(struct l4s_backend),
					   st->be_max);
		st->be_mapped = st->be_snap != NULL;
	}
	if (!st->be_snap)
		st->be_snap = snapshot(st->backends, sizeof(struct l4s_backend), st->be_max,
				       "l4s_backends");
	return st->be_snap;
}

const struct l4s_service *state_services(struct l4s_state *st)
{
	if (!st->svc_snap) {
		st->svc_snap = snapshot_map(st->services, sizeof(struct l4s_service),
					    L4S_MAX_SERVICES);
		st->svc_mapped = st->svc_snap != NULL;
	}
	if (!st->svc_snap)
		st->svc_snap = snapshot(st->services, sizeof(struct l4s_service), L4S_MAX_SERVICES,
					"l4s_services");
	return st->svc_snap;
}

/* The index of frontends, tracks and backends per service (below). */
static void index_free(struct l4s_state *st);
static struct state_svc_index *index_bucket(struct l4s_state *st, __u32 id);
static int index_add_be(struct state_svc_index *x, __u32 id);
static void index_del_be(struct state_svc_index *x, __u32 id);

int state_put_backend(struct l4s_state *st, __u32 id, const struct l4s_backend *be)
{
	struct l4s_backend old = {};
	int was, now = (be->flags & L4S_BE_F_IN_USE) && be->svc_id < L4S_MAX_SERVICES;

	if (st->be_snap && id < st->be_max)
		old = st->be_snap[id]; /* before: a mapping shows the update at once */
	was = (old.flags & L4S_BE_F_IN_USE) && old.svc_id < L4S_MAX_SERVICES;
	if (bpf_map_update_elem(st->backends, &id, be, BPF_ANY))
		return -errno;
	if (st->be_snap && !st->be_mapped && id < st->be_max)
		st->be_snap[id] = *be;
	/* The per-service backend lists follow (the index was built from the snapshot). */
	if (st->index && st->be_snap && (was != now || (now && old.svc_id != be->svc_id))) {
		if (was)
			index_del_be(&st->index[old.svc_id], id);
		if (now && index_add_be(index_bucket(st, be->svc_id), id))
			index_free(st); /* out of memory: read again when next asked */
	}
	return 0;
}

#define W_WINDOW 1024 /* weights read at once around an id (state_weight's @many) */

/* Read window @win of the weights into w_snap (one batched lookup). 0 or -errno. */
static int weights_window(struct l4s_state *st, __u32 win)
{
	__u32 nwin = (st->be_max + W_WINDOW - 1) / W_WINDOW, start = win * W_WINDOW, out, prev;
	__u32 count = st->be_max - start < W_WINDOW ? st->be_max - start : W_WINDOW;
	__u32 *keys;
	int rc;

	if (!st->w_snap) {
		st->w_snap = calloc(st->be_max, sizeof(*st->w_snap));
		st->w_read = calloc(nwin, 1);
		if (!st->w_snap || !st->w_read) {
			free(st->w_snap);
			free(st->w_read);
			st->w_snap = NULL;
			st->w_read = NULL;
			return -ENOMEM;
		}
	}
	keys = malloc(sizeof(*keys) * W_WINDOW);
	if (!keys)
		return -ENOMEM;
	/* A batch starts after its in_batch key: the id before the window (none for 0). */
	prev = start - 1;
	rc = bpf_map_lookup_batch(st->weights, start ? &prev : NULL, &out, keys,
				  &st->w_snap[start], &count, NULL);
	free(keys);
	if (rc && errno != ENOENT)
		return -errno; /* no batches (an old kernel): one lookup per id */
	st->w_read[win] = 1;
	return 0;
}

int state_weight(struct l4s_state *st, __u32 id, __u64 *w, int many)
{
	struct l4s_weight v;

	if (id >= st->be_max)
		return -EINVAL;
	/* A window, not the whole array: a service's backends are mostly near each other,
	 * and 65,536 weights were most of a weight change of 100 backends. */
	if (many && (!st->w_read || !st->w_read[id / W_WINDOW]))
		weights_window(st, id / W_WINDOW);
	if (st->w_read && st->w_read[id / W_WINDOW]) {
		*w = st->w_snap[id].weight;
		return 0;
	}
	if (bpf_map_lookup_elem(st->weights, &id, &v))
		return -errno;
	*w = v.weight;
	return 0;
}

int state_require(struct l4s_state *st, enum state_feature what)
{
	static const char *const names[] = { "rollouts", "SNAT and DSR", "the socket path" };
	int have = what == STATE_HAS_ROLLOUTS ? st->rollouts >= 0 :
		   what == STATE_HAS_SNAT     ? st->node >= 0 && st->snat >= 0 && st->bindex >= 0 :
						st->sock_fwd >= 0 && st->sock_rev >= 0 &&
						st->sock_stats >= 0 && st->cgroups >= 0;

	if (have)
		return 0;
	l4s_err(EOPNOTSUPP, "the state in %s predates %s (written by an older l4split)",
		st->pin_dir, names[what]);
	l4s_hint("run 'l4split attach DEV' once with this version: it adds the maps in place "
		 "and keeps flows");
	return -EOPNOTSUPP;
}

int state_service(struct l4s_state *st, __u32 id, struct l4s_service *out)
{
	const struct l4s_service *all = state_services(st);

	if (!all)
		return -EIO;
	if (id >= L4S_MAX_SERVICES || !(all[id].flags & L4S_SVC_F_IN_USE))
		return -ENOENT;
	*out = all[id];
	out->name[L4S_NAME_LEN - 1] = 0;
	return 0;
}

int state_frontend_svc(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 *svc_id)
{
	struct l4s_frontend f;

	if (bpf_map_lookup_elem(st->frontends, k, &f))
		return -errno;
	*svc_id = f.svc_id;
	return 0;
}

int state_node_get(struct l4s_state *st, struct l4s_node *n)
{
	__u32 zero = 0;

	memset(n, 0, sizeof(*n));
	if (st->node < 0)
		return -EOPNOTSUPP;
	if (bpf_map_lookup_elem(st->node, &zero, n))
		return -errno;
	return 0;
}

int state_node_put(struct l4s_state *st, const struct l4s_node *n)
{
	__u32 zero = 0;

	if (st->node < 0)
		return -EOPNOTSUPP;
	return bpf_map_update_elem(st->node, &zero, n, BPF_ANY) ? -errno : 0;
}

int state_affinity_timeout(struct l4s_state *st, __u32 svc_id, __u32 *timeout_s)
{
	struct l4s_svc_aff a = {};

	*timeout_s = 0;
	if (st->svcaff < 0)
		return 0;
	if (bpf_map_lookup_elem(st->svcaff, &svc_id, &a))
		return -errno;
	*timeout_s = a.timeout_s;
	return 0;
}

int state_put_affinity_timeout(struct l4s_state *st, __u32 svc_id, __u32 timeout_s)
{
	struct l4s_svc_aff a = { .timeout_s = timeout_s };

	if (st->svcaff < 0)
		return timeout_s ? -EOPNOTSUPP : 0;
	return bpf_map_update_elem(st->svcaff, &svc_id, &a, BPF_ANY) ? -errno : 0;
}

int state_affinity_entry(struct l4s_state *st, const struct l4s_aff_key *k, struct l4s_aff *a)
{
	if (st->affinity < 0)
		return -EOPNOTSUPP;
	return bpf_map_lookup_elem(st->affinity, k, a) ? -errno : 0;
}

int state_rollout_get(struct l4s_state *st, __u32 svc_id, struct l4s_rollout *r)
{
	if (st->rollouts < 0)
		return -EOPNOTSUPP;
	return bpf_map_lookup_elem(st->rollouts, &svc_id, r) ? -errno : 0;
}

int state_rollout_put(struct l4s_state *st, __u32 svc_id, const struct l4s_rollout *r)
{
	if (st->rollouts < 0)
		return -EOPNOTSUPP;
	return bpf_map_update_elem(st->rollouts, &svc_id, r, BPF_ANY) ? -errno : 0;
}

int state_snat_scan(struct l4s_state *st, int (*fn)(const void *k, const void *v, void *ctx),
		    void *ctx)
{
	if (st->snat < 0)
		return -EOPNOTSUPP;
	return map_scan(st->snat, sizeof(struct l4s_flow_key), sizeof(struct l4s_snat), fn, ctx);
}

int state_attach_scan(struct l4s_state *st, int (*fn)(const void *k, const void *v, void *ctx),
		      void *ctx)
{
	return map_scan(st->attach, sizeof(struct l4s_attach_key), sizeof(struct l4s_attach), fn,
			ctx);
}

int state_put_weight(struct l4s_state *st, __u32 id, __u64 w)
{
	struct l4s_weight v = { .weight = w };

	if (bpf_map_update_elem(st->weights, &id, &v, BPF_ANY))
		return -errno;
	if (st->w_snap && id < st->be_max)
		st->w_snap[id] = v; /* read or not: a window read later overwrites it */
	return 0;
}

#define NAME_BUCKETS L4S_MAX_SERVICES

static __u32 name_hash(const char *name)
{
	__u32 h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < L4S_NAME_LEN && name[i]; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h % NAME_BUCKETS;
}

static void names_add(struct l4s_state *st, __u32 id, const char *name)
{
	__u32 b = name_hash(name);

	st->name_next[id] = st->name_head[b];
	st->name_head[b] = id + 1;
}

static void names_del(struct l4s_state *st, __u32 id, const char *name)
{
	__u32 *p = &st->name_head[name_hash(name)];

	while (*p && *p != id + 1)
		p = &st->name_next[*p - 1];
	if (*p)
		*p = st->name_next[id];
}

static void names_free(struct l4s_state *st)
{
	free(st->name_head);
	free(st->name_next);
	st->name_head = st->name_next = NULL;
}

int state_service_id(struct l4s_state *st, const char *name, __u32 skip_flags, __u32 *id)
{
	const struct l4s_service *all = state_services(st);

	if (!all)
		return -EIO;
	if (!st->name_head) {
		st->name_head = calloc(NAME_BUCKETS, sizeof(__u32));
		st->name_next = calloc(L4S_MAX_SERVICES, sizeof(__u32));
		if (!st->name_head || !st->name_next) {
			names_free(st);
			return l4s_err(ENOMEM, "out of memory");
		}
		for (__u32 i = L4S_MAX_SERVICES; i-- > 0;)
			if (all[i].flags & L4S_SVC_F_IN_USE) {
				char n[L4S_NAME_LEN];

				memcpy(n, all[i].name, L4S_NAME_LEN);
				n[L4S_NAME_LEN - 1] = 0;
				names_add(st, i, n);
			}
	}
	for (__u32 e = st->name_head[name_hash(name)]; e; e = st->name_next[e - 1])
		if ((all[e - 1].flags & L4S_SVC_F_IN_USE) && !(all[e - 1].flags & skip_flags) &&
		    !strncmp(all[e - 1].name, name, L4S_NAME_LEN)) {
			*id = e - 1;
			return 0;
		}
	return -ENOENT;
}

int state_put_service(struct l4s_state *st, __u32 id, const struct l4s_service *svc)
{
	struct l4s_service old = {};

	if (id >= L4S_MAX_SERVICES)
		return -(errno = EINVAL);
	if (st->svc_snap)
		old = st->svc_snap[id]; /* before: a mapping shows the update at once */
	if (bpf_map_update_elem(st->services, &id, svc, BPF_ANY))
		return -errno;
	if (st->svc_snap && !st->svc_mapped)
		st->svc_snap[id] = *svc;
	/* The names hash follows: out with the old name, in with the new one. */
	if (st->name_head && ((old.flags ^ svc->flags) & L4S_SVC_F_IN_USE ||
			      strncmp(old.name, svc->name, L4S_NAME_LEN))) {
		char n[L4S_NAME_LEN];

		memcpy(n, old.name, L4S_NAME_LEN);
		n[L4S_NAME_LEN - 1] = 0;
		if (old.flags & L4S_SVC_F_IN_USE)
			names_del(st, id, n);
		memcpy(n, svc->name, L4S_NAME_LEN);
		n[L4S_NAME_LEN - 1] = 0;
		if (svc->flags & L4S_SVC_F_IN_USE)
			names_add(st, id, n);
	}
	return 0;
}

static void index_free(struct l4s_state *st)
{
	if (!st->index)
		return;
	/* Only the buckets that have memory: reading all 16,384 would touch (fault in)
	 * the whole zeroed array for nothing, ~5 ms of a weight change here. */
	for (__u32 i = st->index_head; i < L4S_MAX_SERVICES; i = st->index[i].next) {
		free(st->index[i].fe);
		free(st->index[i].fe_order);
		free(st->index[i].tr);
		free(st->index[i].be);
	}
	free(st->index);
	st->index = NULL;
}

/* Bucket @id, about to be given memory: on the list of buckets to free. */
static struct state_svc_index *index_bucket(struct l4s_state *st, __u32 id)
{
	struct state_svc_index *x = &st->index[id];

	if (!x->used) {
		x->used = 1;
		x->next = st->index_head;
		st->index_head = id;
	}
	return x;
}

/* Frontends sort by their order, then by key (states from before the order: all 0). */
static int fe_before(__u32 oa, const struct l4s_frontend_key *a, __u32 ob,
		     const struct l4s_frontend_key *b)
{
	if (oa != ob)
		return oa < ob;
	return memcmp(a, b, sizeof(*a)) < 0;
}

static void index_del_fe(struct state_svc_index *x, const struct l4s_frontend_key *k)
{
	for (int i = 0; i < x->nfe; i++)
		if (!memcmp(&x->fe[i], k, sizeof(*k))) {
			memmove(&x->fe[i], &x->fe[i + 1], sizeof(*k) * (size_t)(x->nfe - i - 1));
			memmove(&x->fe_order[i], &x->fe_order[i + 1],
				sizeof(*x->fe_order) * (size_t)(x->nfe - i - 1));
			x->nfe--;
			return;
		}
}

static int index_add_fe(struct state_svc_index *x, const struct l4s_frontend_key *k, __u32 order)
{
	int pos;

	for (int i = 0; i < x->nfe; i++)
		if (!memcmp(&x->fe[i], k, sizeof(*k))) {
			if (x->fe_order[i] == order)
				return 0;
			index_del_fe(x, k); /* moved: put it where it goes now */
			break;
		}
	if (x->nfe == x->cap_fe) {
		int cap = x->cap_fe ? 2 * x->cap_fe : 2;
		struct l4s_frontend_key *tmp = realloc(x->fe, sizeof(*tmp) * (size_t)cap);
		__u32 *otmp;

		if (!tmp)
			return -ENOMEM;
		x->fe = tmp;
		otmp = realloc(x->fe_order, sizeof(*otmp) * (size_t)cap);
		if (!otmp)
			return -ENOMEM;
		x->fe_order = otmp;
		x->cap_fe = cap;
	}
	for (pos = x->nfe; pos > 0 && fe_before(order, k, x->fe_order[pos - 1], &x->fe[pos - 1]);
	     pos--)
		;
	memmove(&x->fe[pos + 1], &x->fe[pos], sizeof(*k) * (size_t)(x->nfe - pos));
	memmove(&x->fe_order[pos + 1], &x->fe_order[pos], sizeof(__u32) * (size_t)(x->nfe - pos));
	x->fe[pos] = *k;
	x->fe_order[pos] = order;
	x->nfe++;
	return 0;
}

static int index_put_tr(struct state_svc_index *x, const char *name, __u64 weight)
{
	for (int i = 0; i < x->ntr; i++)
		if (!strncmp(x->tr[i].name, name, L4S_NAME_LEN)) {
			x->tr[i].weight = weight;
			return 0;
		}
	if (x->ntr == x->cap_tr) {
		int cap = x->cap_tr ? 2 * x->cap_tr : 2;
		struct state_track *tmp = realloc(x->tr, sizeof(*tmp) * (size_t)cap);

		if (!tmp)
			return -ENOMEM;
		x->tr = tmp;
		x->cap_tr = cap;
	}
	memset(&x->tr[x->ntr], 0, sizeof(x->tr[0]));
	strncpy(x->tr[x->ntr].name, name, L4S_NAME_LEN - 1);
	x->tr[x->ntr++].weight = weight;
	return 0;
}

static void index_del_tr(struct state_svc_index *x, const char *name)
{
	for (int i = 0; i < x->ntr; i++)
		if (!strncmp(x->tr[i].name, name, L4S_NAME_LEN)) {
			x->tr[i] = x->tr[--x->ntr];
			return;
		}
}

/* Is service @id's entry one the index being read keeps? */
static int index_wants(const struct l4s_state *st, __u32 id)
{
	return id < L4S_MAX_SERVICES &&
	       (st->index_only == L4S_MAX_SERVICES || st->index_only == id);
}

static int index_fe_put(const void *k, const void *v, void *ctx)
{
	const struct l4s_frontend *f = v;
	struct l4s_state *st = ctx;

	return index_wants(st, f->svc_id) ?
		       index_add_fe(index_bucket(st, f->svc_id), k, f->order) : 0;
}

static int index_tr_put(const void *k, const void *v, void *ctx)
{
	const struct l4s_track_key *tk = k;
	const struct l4s_track *t = v;
	struct l4s_state *st = ctx;
	char name[L4S_NAME_LEN];

	if (!index_wants(st, tk->svc_id))
		return 0;
	memcpy(name, tk->name, L4S_NAME_LEN);
	name[L4S_NAME_LEN - 1] = 0;
	return index_put_tr(index_bucket(st, tk->svc_id), name, t->weight);
}

static int index_add_be(struct state_svc_index *x, __u32 id)
{
	if (x->nbe == x->cap_be) {
		int cap = x->cap_be ? 2 * x->cap_be : 4;
		__u32 *tmp = realloc(x->be, sizeof(*tmp) * (size_t)cap);

		if (!tmp)
			return -ENOMEM;
		x->be = tmp;
		x->cap_be = cap;
	}
	x->be[x->nbe++] = id;
	return 0;
}

static void index_del_be(struct state_svc_index *x, __u32 id)
{
	for (int i = 0; i < x->nbe; i++)
		if (x->be[i] == id) {
			x->be[i] = x->be[--x->nbe];
			return;
		}
}

/* ---- l4s_svcidx: each service's frontends and tracks, found by its id -------------------- */

#define IDX_SLOTS (L4S_SVCIDX_FE + L4S_SVCIDX_TR)

/* One service's l4s_svcidx entries as they are in the map (extras included). */
struct state_idx {
	__u64 used[IDX_SLOTS / 64];
	__u32 *slot;
	struct l4s_svcidx *v;
	int n, cap;
};

static int idx_is_fe(__u32 slot)
{
	return slot < L4S_SVCIDX_FE;
}

static int idx_bit(const struct state_idx *c, __u32 slot)
{
	return (int)((c->used[slot / 64] >> (slot % 64)) & 1);
}

static void idx_set(struct state_idx *c, __u32 slot, int on)
{
	if (on)
		c->used[slot / 64] |= 1ull << (slot % 64);
	else
		c->used[slot / 64] &= ~(1ull << (slot % 64));
}

static void idx_cache_free(struct l4s_state *st)
{
	if (!st->idxc)
		return;
	for (__u32 i = 0; i < L4S_MAX_SERVICES; i++)
		if (st->idxc[i]) {
			free(st->idxc[i]->slot);
			free(st->idxc[i]->v);
			free(st->idxc[i]);
		}
	free(st->idxc);
	st->idxc = NULL;
}

static int idx_push(struct state_idx *c, __u32 slot, const struct l4s_svcidx *v)
{
	if (c->n == c->cap) {
		int cap = c->cap ? 2 * c->cap : 4;
		__u32 *s = realloc(c->slot, sizeof(*s) * (size_t)cap);
		struct l4s_svcidx *nv;

		if (!s)
			return -ENOMEM;
		c->slot = s;
		nv = realloc(c->v, sizeof(*nv) * (size_t)cap);
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->slot[c->n] = slot;
	c->v[c->n++] = *v;
	return 0;
}

static void idx_pop(struct state_idx *c, int i)
{
	c->slot[i] = c->slot[c->n - 1];
	c->v[i] = c->v[--c->n];
}

/* An empty cache for service @id (none there yet), or NULL. */
static struct state_idx *idx_new(struct l4s_state *st, __u32 id)
{
	if (!st->idxc && !(st->idxc = calloc(L4S_MAX_SERVICES, sizeof(*st->idxc))))
		return NULL;
	if (!st->idxc[id])
		st->idxc[id] = calloc(1, sizeof(**st->idxc));
	return st->idxc[id];
}

/* Service @id's entries: the head, then each slot it lists (1 + n lookups, once). */
static struct state_idx *idx_get(struct l4s_state *st, __u32 id, int *err)
{
	struct l4s_svcidx_key k = { .svc_id = id, .slot = L4S_SVCIDX_HEAD };
	struct l4s_svcidx head, v;
	struct state_idx *c;

	if (st->idxc && st->idxc[id])
		return st->idxc[id];
	if (!(c = idx_new(st, id))) {
		*err = -ENOMEM;
		return NULL;
	}
	if (bpf_map_lookup_elem(st->svcidx, &k, &head)) {
		if (errno == ENOENT)
			return c; /* nothing listed */
		*err = -errno;
		goto fail;
	}
	memcpy(c->used, head.used, sizeof(c->used));
	for (k.slot = 0; k.slot < IDX_SLOTS; k.slot++) {
		if (!idx_bit(c, k.slot))
			continue;
		memset(&v, 0, sizeof(v)); /* listed, not there (cannot happen): matches nothing */
		if (bpf_map_lookup_elem(st->svcidx, &k, &v) && errno != ENOENT) {
			*err = -errno;
			goto fail;
		}
		if ((*err = idx_push(c, k.slot, &v)))
			goto fail;
	}
	return c;
fail:
	free(c->slot);
	free(c->v);
	free(c);
	st->idxc[id] = NULL;
	return NULL;
}

static int idx_head_put(struct l4s_state *st, __u32 id, const struct state_idx *c)
{
	struct l4s_svcidx_key k = { .svc_id = id, .slot = L4S_SVCIDX_HEAD };
	struct l4s_svcidx head = {};
	int any = 0;

	for (size_t i = 0; i < IDX_SLOTS / 64; i++)
		any |= c->used[i] != 0;
	if (!any)
		return bpf_map_delete_elem(st->svcidx, &k) && errno != ENOENT ? -errno : 0;
	memcpy(head.used, c->used, sizeof(head.used));
	return bpf_map_update_elem(st->svcidx, &k, &head, BPF_ANY) ? -errno : 0;
}

static int idx_same(__u32 slot, const struct l4s_svcidx *a, const struct l4s_svcidx *b)
{
	return idx_is_fe(slot) ? !memcmp(&a->fe, &b->fe, sizeof(a->fe)) :
				 !strncmp(a->track, b->track, L4S_NAME_LEN);
}

/* Is entry @i of service @id's cache what its map holds? */
static int idx_valid(struct l4s_state *st, __u32 id, const struct state_idx *c, int i,
		     __u32 *order, __u64 *weight)
{
	if (idx_is_fe(c->slot[i])) {
		struct l4s_frontend f;

		if (bpf_map_lookup_elem(st->frontends, &c->v[i].fe, &f) || f.svc_id != id)
			return 0;
		*order = f.order;
	} else {
		struct l4s_track_key tk = { .svc_id = id };
		struct l4s_track t;

		memcpy(tk.name, c->v[i].track, L4S_NAME_LEN);
		tk.name[L4S_NAME_LEN - 1] = 0;
		if (!tk.name[0] || bpf_map_lookup_elem(st->tracks, &tk, &t))
			return 0;
		*weight = t.weight;
	}
	return 1;
}

/* Unlist entry @i (head first, then the entry): the map entry it named is gone. */
static int idx_drop(struct l4s_state *st, __u32 id, struct state_idx *c, int i)
{
	struct l4s_svcidx_key k = { .svc_id = id, .slot = c->slot[i] };
	int err;

	idx_set(c, c->slot[i], 0);
	err = idx_head_put(st, id, c);
	if (err) {
		idx_set(c, c->slot[i], 1);
		return err;
	}
	bpf_map_delete_elem(st->svcidx, &k);
	idx_pop(c, i);
	return 0;
}

/* Drop the entries whose map entry is not there (what a killed writer left). */
static int idx_prune(struct l4s_state *st, __u32 id, struct state_idx *c)
{
	__u32 order;
	__u64 weight;

	for (int i = 0; i < c->n;) {
		int err;

		if (idx_valid(st, id, c, i, &order, &weight)) {
			i++;
			continue;
		}
		if ((err = idx_drop(st, id, c, i)))
			return err;
	}
	return 0;
}

/* List @v (a frontend key or a track name) for service @id before its map entry is
 * written: the entry, then the head. 0 or -errno. */
static int idx_add(struct l4s_state *st, __u32 id, int fe, const struct l4s_svcidx *v)
{
	__u32 lo = fe ? 0 : L4S_SVCIDX_FE, hi = fe ? L4S_SVCIDX_FE : IDX_SLOTS, slot;
	struct l4s_svcidx_key k = { .svc_id = id };
	struct state_idx *c;
	int err = 0, pruned = 0;

	if (st->svcidx < 0 || id >= L4S_MAX_SERVICES)
		return 0;
	if (!(c = idx_get(st, id, &err)))
		return err;
	for (int i = 0; i < c->n; i++)
		if (idx_is_fe(c->slot[i]) == fe && idx_same(c->slot[i], &c->v[i], v))
			return 0;
again:
	for (slot = lo; slot < hi && idx_bit(c, slot); slot++)
		;
	if (slot == hi) {
		if (pruned++ || (err = idx_prune(st, id, c)))
			return err ? err : -ENOSPC;
		goto again;
	}
	k.slot = slot;
	if (bpf_map_update_elem(st->svcidx, &k, v, BPF_ANY))
		return -errno;
	idx_set(c, slot, 1);
	if ((err = idx_head_put(st, id, c)) || (err = idx_push(c, slot, v))) {
		idx_set(c, slot, 0);
		return err;
	}
	return 0;
}

/* Unlist @v for service @id once its map entry is deleted. */
static void idx_del(struct l4s_state *st, __u32 id, int fe, const struct l4s_svcidx *v)
{
	struct state_idx *c;
	int err = 0;

	if (st->svcidx < 0 || id >= L4S_MAX_SERVICES || !(c = idx_get(st, id, &err)))
		return;
	for (int i = 0; i < c->n;)
		if (idx_is_fe(c->slot[i]) == fe && idx_same(c->slot[i], &c->v[i], v)) {
			if (idx_drop(st, id, c, i))
				return; /* listed still: an extra, dropped by the next sync */
		} else {
			i++;
		}
}

static struct l4s_svcidx idx_of_fe(const struct l4s_frontend_key *k)
{
	struct l4s_svcidx v;

	memset(&v, 0, sizeof(v));
	v.fe = *k;
	return v;
}

static struct l4s_svcidx idx_of_track(const char *name)
{
	struct l4s_svcidx v;

	memset(&v, 0, sizeof(v));
	strncpy(v.track, name, L4S_NAME_LEN - 1);
	return v;
}

/* Read service @id's frontends and tracks into its bucket through l4s_svcidx. */
static int index_read_one(struct l4s_state *st, __u32 id)
{
	struct state_idx *c;
	int err = 0;

	if (!(c = idx_get(st, id, &err)))
		return err;
	for (int i = 0; i < c->n && !err; i++) {
		__u32 order = 0;
		__u64 weight = 0;

		if (!idx_valid(st, id, c, i, &order, &weight))
			continue; /* an extra a killed writer left */
		if (idx_is_fe(c->slot[i]))
			err = index_add_fe(index_bucket(st, id), &c->v[i].fe, order);
		else
			err = index_put_tr(index_bucket(st, id), c->v[i].track, weight);
	}
	return err;
}

static int idx_scan_put(const void *kp, const void *vp, void *ctx)
{
	const struct l4s_svcidx_key *k = kp;
	const struct l4s_svcidx *v = vp;
	struct l4s_state *st = ctx;
	struct state_idx *c;

	if (k->svc_id >= L4S_MAX_SERVICES || (k->slot >= IDX_SLOTS && k->slot != L4S_SVCIDX_HEAD)) {
		bpf_map_delete_elem(st->svcidx, k); /* nothing this binary wrote */
		return 0;
	}
	if (!(c = idx_new(st, k->svc_id)))
		return -ENOMEM;
	if (k->slot == L4S_SVCIDX_HEAD) {
		memcpy(c->used, v->used, sizeof(c->used));
		return 0;
	}
	return idx_push(c, k->slot, v);
}

int state_svcidx_sync(struct l4s_state *st)
{
	int err;

	if (st->svcidx < 0)
		return 0;
	/* Every service's frontends and tracks, by scans; the index as it is, by a scan. */
	index_free(st);
	st->index = calloc(L4S_MAX_SERVICES, sizeof(*st->index));
	if (!st->index)
		return l4s_err(ENOMEM, "out of memory");
	st->index_head = L4S_MAX_SERVICES;
	st->index_only = L4S_MAX_SERVICES;
	err = index_scan(st);
	idx_cache_free(st);
	if (!err && !(st->idxc = calloc(L4S_MAX_SERVICES, sizeof(*st->idxc))))
		err = -ENOMEM;
	if (!err)
		err = map_scan(st->svcidx, sizeof(struct l4s_svcidx_key), sizeof(struct l4s_svcidx),
			       idx_scan_put, st);
	for (__u32 id = 0; !err && id < L4S_MAX_SERVICES; id++) {
		struct state_idx *c = st->idxc[id];
		const struct state_svc_index *x = &st->index[id];

		if (c) {
			/* Entries the head does not list (a writer killed between the two
			 * writes): not there as far as readers know. */
			for (int i = 0; i < c->n;) {
				struct l4s_svcidx_key k = { .svc_id = id, .slot = c->slot[i] };

				if (idx_bit(c, c->slot[i])) {
					i++;
					continue;
				}
				bpf_map_delete_elem(st->svcidx, &k);
				idx_pop(c, i);
			}
			/* Listed slots with no entry (cannot happen): listed as nothing. */
			for (__u32 s = 0; s < IDX_SLOTS && !err; s++) {
				int found = 0;
				struct l4s_svcidx none = {};

				if (!idx_bit(c, s))
					continue;
				for (int i = 0; i < c->n && !found; i++)
					found = c->slot[i] == s;
				if (!found)
					err = idx_push(c, s, &none);
			}
		}
		/* What the maps hold is listed (first), what they do not is not (then). */
		for (int i = 0; !err && i < x->nfe; i++) {
			struct l4s_svcidx v = idx_of_fe(&x->fe[i]);

			err = idx_add(st, id, 1, &v);
		}
		for (int i = 0; !err && i < x->ntr; i++) {
			struct l4s_svcidx v = idx_of_track(x->tr[i].name);

			err = idx_add(st, id, 0, &v);
		}
		for (int i = 0; !err && (c = st->idxc[id]) && i < c->n;) {
			int keep = 0;

			for (int j = 0; !keep && idx_is_fe(c->slot[i]) && j < x->nfe; j++)
				keep = !memcmp(&c->v[i].fe, &x->fe[j], sizeof(x->fe[j]));
			for (int j = 0; !keep && !idx_is_fe(c->slot[i]) && j < x->ntr; j++)
				keep = !strncmp(c->v[i].track, x->tr[j].name, L4S_NAME_LEN);
			if (keep)
				i++;
			else
				err = idx_drop(st, id, c, i);
		}
	}
	if (err) {
		idx_cache_free(st);
		return l4s_err(-err, "cannot rebuild l4s_svcidx: %s", strerror(-err));
	}
	return 0;
}

/* l4s_svcidx for a state that lacks it (a new one, or one made before it): created,
 * filled from the maps, then pinned, so no reader ever sees it half-filled. */
static void svcidx_create(struct l4s_state *st)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	char path[PATH_MAX];
	int fd;

	if (st->svcidx >= 0 || pin_path(path, sizeof(path), st->pin_dir, "l4s_svcidx"))
		return;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		st->svcidx = fd;
		return;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "l4s_svcidx", sizeof(struct l4s_svcidx_key),
			    sizeof(struct l4s_svcidx), L4S_SVCIDX_MAX, &o);
	if (fd < 0) {
		l4s_note("Warning: cannot create l4s_svcidx: %s; services are read by scans\n",
			 strerror(errno));
		return;
	}
	st->svcidx = fd;
	if ((st->frontends >= 0 && st->tracks >= 0 && state_svcidx_sync(st)) ||
	    bpf_obj_pin(fd, path)) {
		l4s_note("Warning: cannot make l4s_svcidx: %s; services are read by scans\n",
			 strerror(errno));
		close(fd);
		st->svcidx = -1;
	}
	idx_cache_free(st);
	index_free(st);
}

/* Read the frontends, tracks and backends of the services index_wants() into st->index. */
static int index_scan(struct l4s_state *st)
{
	int err;

	if (st->index_only < L4S_MAX_SERVICES && st->svcidx >= 0) {
		/* One service: its frontends and tracks are looked up, not walked for. */
		err = index_read_one(st, st->index_only);
	} else {
		err = map_scan(st->frontends, sizeof(struct l4s_frontend_key),
			       sizeof(struct l4s_frontend), index_fe_put, st);
		if (!err)
			err = map_scan(st->tracks, sizeof(struct l4s_track_key),
				       sizeof(struct l4s_track), index_tr_put, st);
	}
	if (!err && !state_backends(st))
		err = -EIO;
	for (__u32 i = 0; !err && i < st->be_max; i++) {
		const struct l4s_backend *b = &st->be_snap[i];

		if ((b->flags & L4S_BE_F_IN_USE) && index_wants(st, b->svc_id))
			err = index_add_be(index_bucket(st, b->svc_id), i);
	}
	return err;
}

const struct state_svc_index *state_index(struct l4s_state *st, __u32 svc_id)
{
	__u32 only;
	int err;

	if (svc_id >= L4S_MAX_SERVICES) {
		l4s_err(EINVAL, "service id %u out of range", svc_id);
		return NULL;
	}
	if (st->index && (st->index_only == L4S_MAX_SERVICES || st->index_only == svc_id))
		return &st->index[svc_id];
	/* The first service asked for: only its entries. A second one: every service's. */
	only = st->index ? L4S_MAX_SERVICES : svc_id;
	index_free(st);
	st->index = calloc(L4S_MAX_SERVICES, sizeof(*st->index));
	st->index_head = L4S_MAX_SERVICES;
	st->index_only = only;
	if (!st->index) {
		l4s_err(ENOMEM, "out of memory");
		return NULL;
	}
	err = index_scan(st);
	if (err) {
		index_free(st);
		l4s_err(err, "cannot read the frontends, tracks and backends: %s", strerror(-err));
		return NULL;
	}
	return &st->index[svc_id];
}

int state_put_frontend(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 svc_id,
		       __u32 order, __u64 flags)
{
	struct l4s_frontend f = { .svc_id = svc_id, .order = order };
	struct l4s_svcidx v = idx_of_fe(k);
	int err = idx_add(st, svc_id, 1, &v); /* listed before it is there */

	if (err)
		return err;
	if (bpf_map_update_elem(st->frontends, k, &f, flags))
		return -errno;
	if (st->index && svc_id < L4S_MAX_SERVICES &&
	    index_add_fe(index_bucket(st, svc_id), k, order))
		index_free(st); /* out of memory: read again when next asked */
	return 0;
}

int state_del_frontend(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 svc_id)
{
	int err = bpf_map_delete_elem(st->frontends, k) ? -errno : 0;
	struct l4s_svcidx v = idx_of_fe(k);

	if (!err || err == -ENOENT)
		idx_del(st, svc_id, 1, &v); /* unlisted once it is gone */
	if (st->index && svc_id < L4S_MAX_SERVICES)
		index_del_fe(&st->index[svc_id], k);
	return err;
}

int state_put_track(struct l4s_state *st, __u32 svc_id, const char *name, __u64 weight)
{
	struct l4s_track_key tk = { .svc_id = svc_id };
	struct l4s_track t = { .weight = weight };
	struct l4s_svcidx v = idx_of_track(name);
	int err = idx_add(st, svc_id, 0, &v); /* listed before it is there (once) */

	if (err)
		return err;
	strncpy(tk.name, name, L4S_NAME_LEN - 1);
	if (bpf_map_update_elem(st->tracks, &tk, &t, BPF_ANY))
		return -errno;
	if (st->index && svc_id < L4S_MAX_SERVICES &&
	    index_put_tr(index_bucket(st, svc_id), tk.name, weight))
		index_free(st);
	return 0;
}

int state_del_track(struct l4s_state *st, __u32 svc_id, const char *name)
{
	struct l4s_track_key tk = { .svc_id = svc_id };
	int err;

	strncpy(tk.name, name, L4S_NAME_LEN - 1);
	err = bpf_map_delete_elem(st->tracks, &tk) ? -errno : 0;
	if (!err || err == -ENOENT) {
		struct l4s_svcidx v = idx_of_track(name);

		idx_del(st, svc_id, 0, &v);
	}
	if (st->index && svc_id < L4S_MAX_SERVICES)
		index_del_tr(&st->index[svc_id], tk.name);
	return err;
}

void state_forget(struct l4s_state *st)
{
	if (st->be_mapped)
		munmap(st->be_snap, sizeof(struct l4s_backend) * st->be_max);
	else
		free(st->be_snap);
	if (st->svc_mapped)
		munmap(st->svc_snap, sizeof(struct l4s_service) * L4S_MAX_SERVICES);
	else
		free(st->svc_snap);
	free(st->w_snap);
	free(st->w_read);
	st->w_snap = NULL;
	st->w_read = NULL;
	names_free(st);
	st->be_snap = NULL;
	st->svc_snap = NULL;
	st->be_mapped = st->svc_mapped = 0;
	index_free(st);
	idx_cache_free(st);
}

void state_close(struct l4s_state *st)
{
	state_forget(st);
	for (size_t i = 0; i < N_STATE_MAPS; i++) {
		if (*map_fd(st, i) >= 0)
			close(*map_fd(st, i));
		*map_fd(st, i) = -1;
	}
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	st->lock_fd = -1;
}

int state_purge(const char *pin_dir)
{
	char path[PATH_MAX];
	int err = 0;

	/* The socket path's link pins live in PIN/cgroup/ (attach_cgroup.c); detach --all
	 * removed them, the directory goes here. */
	if (!pin_path(path, sizeof(path), pin_dir, "cgroup"))
		rmdir(path);
	for (size_t i = 0; i < N_STATE_MAPS + 2; i++) {
		/* and the forward programs' tail-call arrays (load_object fills them; no
		 * command reads them), which hold the slow programs loaded */
		const char *name = i < N_STATE_MAPS ? state_maps[i].name :
				   i == N_STATE_MAPS ? "l4s_xtail" : "l4s_ttail";

		if (pin_path(path, sizeof(path), pin_dir, name))
			return -ENAMETOOLONG;
		if (unlink(path) && errno != ENOENT)
			err = l4s_err(errno, "cannot remove %s: %s", path, strerror(errno));
	}
	/* The bpffs l4split mounted (bpffs_prepare): unmounted once nothing else is on it. */
	if (!err && !pin_path(path, sizeof(path), pin_dir, MOUNT_MARK) && !access(path, F_OK) &&
	    dir_empty(pin_dir) && !rmdir(path) && umount(pin_dir))
		mkdir(path, 0700); /* still in use: keep the mark for next time */
	return err;
}

static int percpu_sum(struct l4s_state *st, int fd, __u32 key, __u64 *out, int nwords)
{
	size_t n = (size_t)st->ncpus * (size_t)nwords;
	__u64 *vals = calloc(n, sizeof(__u64));

	if (!vals)
		return -ENOMEM;
	memset(out, 0, sizeof(__u64) * (size_t)nwords);
	if (bpf_map_lookup_elem(fd, &key, vals)) {
		free(vals);
		return -errno;
	}
	for (int c = 0; c < st->ncpus; c++)
		for (int w = 0; w < nwords; w++)
			out[w] += vals[(size_t)c * (size_t)nwords + (size_t)w];
	free(vals);
	return 0;
}

#define WORDS(x) ((int)(sizeof(x) / sizeof(__u64)))

int state_backend_stats(struct l4s_state *st, __u32 id, struct l4s_backend_stats *out)
{
	struct l4s_backend_pkts p;
	struct l4s_backend_counts c = {};
	int err = percpu_sum(st, st->bstats, id, (__u64 *)&p, WORDS(p));

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	/* A state the upgrade has not reached yet (no l4s_bcounts): packets only. */
	if (st->bcounts >= 0 && bpf_map_lookup_elem(st->bcounts, &id, &c))
		return -errno;
	*out = (struct l4s_backend_stats){ .packets = p.packets, .bytes = p.bytes,
					   .flows = c.flows, .rx_packets = c.rx_packets,
					   .rx_bytes = c.rx_bytes, .answered = c.answered,
					   .resets = c.resets, .syn_retries = c.syn_retries };
	return 0;
}

int state_zero_backend_counters(struct l4s_state *st, __u32 id)
{
	struct l4s_backend_counts c = {};
	struct l4s_sock_stats k = {};
	void *z = calloc((size_t)st->ncpus, sizeof(struct l4s_backend_pkts));
	int err = 0;

	if (!z)
		return -ENOMEM;
	if (bpf_map_update_elem(st->bstats, &id, z, BPF_ANY))
		err = -errno;
	free(z);
	if (st->bcounts >= 0 && bpf_map_update_elem(st->bcounts, &id, &c, BPF_ANY))
		err = -errno;
	if (st->sock_stats >= 0 && bpf_map_update_elem(st->sock_stats, &id, &k, BPF_ANY))
		err = -errno;
	if (st->bconnect >= 0) {
		struct l4s_connect_hist h = {};

		if (bpf_map_update_elem(st->bconnect, &id, &h, BPF_ANY))
			err = -errno;
	}
	return err;
}

int state_connect_hist(struct l4s_state *st, __u32 id, struct l4s_connect_hist *out)
{
	memset(out, 0, sizeof(*out));
	if (st->bconnect < 0)
		return -EOPNOTSUPP;
	/* One shared copy (atomic adds), not per CPU. */
	return bpf_map_lookup_elem(st->bconnect, &id, out) ? -errno : 0;
}

int state_sock_stats(struct l4s_state *st, __u32 id, struct l4s_sock_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (st->sock_stats < 0)
		return -EOPNOTSUPP;
	/* One shared copy since layout 4 (atomic adds), not per CPU. */
	return bpf_map_lookup_elem(st->sock_stats, &id, out) ? -errno : 0;
}

int state_service_stats(struct l4s_state *st, __u32 id, struct l4s_service_stats *out)
{
	return percpu_sum(st, st->sstats, id, (__u64 *)out, WORDS(*out));
}

int state_reasons(struct l4s_state *st, __u64 *out)
{
	for (__u32 k = 0; k < L4S_R_MAX; k++) {
		int err = percpu_sum(st, st->reasons, k, &out[k], 1);

		if (err)
			return err;
	}
	return 0;
}
