// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach_cgroup.h"
#include "err.h"
#include "mapscan.h"
#include "l4split.skel.h"
#include "load.h"

static const struct {
	const char *name;
	enum bpf_attach_type type;
} hooks[L4S_CG_HOOKS] = {
	[L4S_CG_CONNECT4] = { "connect4", BPF_CGROUP_INET4_CONNECT },
	[L4S_CG_CONNECT6] = { "connect6", BPF_CGROUP_INET6_CONNECT },
	[L4S_CG_SENDMSG4] = { "sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	[L4S_CG_SENDMSG6] = { "sendmsg6", BPF_CGROUP_UDP6_SENDMSG },
	[L4S_CG_RECVMSG4] = { "recvmsg4", BPF_CGROUP_UDP4_RECVMSG },
	[L4S_CG_RECVMSG6] = { "recvmsg6", BPF_CGROUP_UDP6_RECVMSG },
	[L4S_CG_GETPEERNAME4] = { "getpeername4", BPF_CGROUP_INET4_GETPEERNAME },
	[L4S_CG_GETPEERNAME6] = { "getpeername6", BPF_CGROUP_INET6_GETPEERNAME },
	[L4S_CG_SOCKOPS] = { "sockops", BPF_CGROUP_SOCK_OPS },
};

static struct bpf_program *hook_prog(struct l4split_bpf *skel, int h)
{
	switch (h) {
	case L4S_CG_CONNECT4: return skel->progs.l4s_connect4;
	case L4S_CG_CONNECT6: return skel->progs.l4s_connect6;
	case L4S_CG_SENDMSG4: return skel->progs.l4s_sendmsg4;
	case L4S_CG_SENDMSG6: return skel->progs.l4s_sendmsg6;
	case L4S_CG_RECVMSG4: return skel->progs.l4s_recvmsg4;
	case L4S_CG_RECVMSG6: return skel->progs.l4s_recvmsg6;
	case L4S_CG_GETPEERNAME4: return skel->progs.l4s_getpeername4;
	case L4S_CG_GETPEERNAME6: return skel->progs.l4s_getpeername6;
	default: return skel->progs.l4s_sockops;
	}
}

static int is_cgroup2(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Where cgroup2 is mounted already, for hints ("" if nowhere). */
static void cgroup2_mounts(char *buf, size_t n)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[1024], dir[512], type[64];
	size_t used = 0;

	buf[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %511s %63s", dir, type) == 2 && !strcmp(type, "cgroup2") &&
		    used < n)
			used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", dir);
	}
	if (f)
		fclose(f);
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int not_cgroup2(const char *path)
{
	char where[512];

	cgroup2_mounts(where, sizeof(where));
	l4s_err(ENOTDIR, "%s is not a cgroup v2 directory (and not an empty directory to mount "
		"cgroup2 on)", path);
	if (where[0])
		l4s_hint("cgroup2 is mounted at %s: give a cgroup there (its root covers every "
			 "process), or an empty directory", where);
	else
		l4s_hint("give an empty directory (e.g. /run/l4split/cgroupv2): l4split mounts "
			 "cgroup2 on it");
	return -ENOTDIR;
}

/* Make @path a cgroup v2 directory: as it is, or by mounting cgroup2 on it (creating
 * it first) when it is outside every cgroup2 hierarchy. */
static int cgroup_prepare(const char *path)
{
	char parent[PATH_MAX];
	struct stat sb;

	if (is_cgroup2(path))
		return 0;
	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode) || !dir_is_empty(path))
			return not_cgroup2(path);
	} else if (errno == ENOENT) {
		/* Inside a cgroup2 hierarchy a missing directory is a missing cgroup: making one
		 * is the administrator's call (mkdir), not ours. */
		snprintf(parent, sizeof(parent), "%s", path);
		for (char *s = strrchr(parent, '/'); s; s = strrchr(parent, '/')) {
			*s = 0;
			if (!parent[0] || stat(parent, &sb) == 0)
				break;
		}
		if (is_cgroup2(parent[0] ? parent : "/")) {
			l4s_err(ENOENT, "cgroup %s does not exist", path);
			l4s_hint("create it (mkdir %s) and move the client processes into it, or "
				 "give an existing cgroup", path);
			return -ENOENT;
		}
		for (char *s = strchr(parent[0] ? path + 1 : path, '/');; s = strchr(s + 1, '/')) {
			snprintf(parent, sizeof(parent), "%.*s", s ? (int)(s - path) : (int)strlen(path),
				 path);
			if (mkdir(parent, 0755) && errno != EEXIST)
				return l4s_err(errno, "cannot create %s: %s", parent, strerror(errno));
			if (!s)
				break;
		}
	} else {
		return l4s_err(errno, "cannot read %s: %s", path, strerror(errno));
	}
	if (mount("cgroup2", path, "cgroup2", 0, NULL))
		return l4s_err(errno, "cannot mount cgroup2 on %s: %s", path, strerror(errno));
	l4s_note("Note: mounted cgroup2 on %s\n", path);
	return 0;
}

static int pins_dir(char *buf, size_t n, const char *pin_dir, __u64 id)
{
	if ((size_t)snprintf(buf, n, "%s/cgroup/%llu", pin_dir, (unsigned long long)id) >= n)
		return l4s_err(ENAMETOOLONG, "pin directory %s: path too long", pin_dir);
	return 0;
}

/* Remove the hooks pinned for cgroup @id (what is there of them). */
static void unpin_hooks(const char *pin_dir, __u64 id, const int *only)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	if (pins_dir(dir, sizeof(dir), pin_dir, id))
		return;
	for (int h = 0; h < L4S_CG_HOOKS; h++) {
		int fd;

		if (only && !only[h])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, hooks[h].name);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			bpf_link_detach(fd); /* now, even if something else holds the link */
			close(fd);
		}
		unlink(path);
	}
	rmdir(dir);
}

/* The cgroups map, created by the load when the state predates the socket path. */
static int cgroups_map(struct l4s_state *st)
{
	char path[PATH_MAX];

	if (st->cgroups >= 0)
		return st->cgroups;
	snprintf(path, sizeof(path), "%s/l4s_cgroups", st->pin_dir);
	st->cgroups = bpf_obj_get(path);
	return st->cgroups;
}

int attach_cgroup(struct l4s_state *st, const char *path, __u64 *id)
{
	struct l4s_cgroup rec = {};
	struct l4split_bpf *skel = NULL;
	int added[L4S_CG_HOOKS] = { 0 }, cgfd = -1, err;
	char dir[PATH_MAX], pin[PATH_MAX + 32], real[PATH_MAX];
	struct stat sb;

	if (!path[0])
		return l4s_err(EINVAL, "--cgroup needs a path");
	err = cgroup_prepare(path);
	if (err)
		return err;
	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	if (strlen(real) >= sizeof(rec.path))
		return l4s_err(ENAMETOOLONG, "cgroup path %s is too long (at most %zu bytes)", real,
			       sizeof(rec.path) - 1);
	cgfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0 || fstat(cgfd, &sb)) {
		err = l4s_err(errno, "cannot open cgroup %s: %s", real, strerror(errno));
		goto out;
	}
	*id = sb.st_ino; /* a cgroup v2 directory's inode number is the cgroup id */

	skel = state_load_progs(st, L4S_LOAD_SOCK);
	if (!skel) {
		err = -EINVAL;
		goto out;
	}
	if (cgroups_map(st) < 0) {
		err = l4s_err(errno, "cannot open %s/l4s_cgroups: %s", st->pin_dir, strerror(errno));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/cgroup", st->pin_dir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = l4s_err(errno, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	err = pins_dir(dir, sizeof(dir), st->pin_dir, *id);
	if (err)
		goto out;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = l4s_err(errno, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	for (int h = 0; h < L4S_CG_HOOKS; h++) {
		int prog = bpf_program__fd(hook_prog(skel, h)), link;

		snprintf(pin, sizeof(pin), "%s/%s", dir, hooks[h].name);
		link = bpf_obj_get(pin);
		if (link >= 0) {
			/* Attached before: swap the program in place, no moment without a hook. */
			err = bpf_link_update(link, prog, NULL);
			close(link);
			if (!err) {
				rec.hooks |= 1u << h;
				continue;
			}
			/* A link whose cgroup went away cannot be updated: make a new one. */
			bpf_link_detach(link);
			unlink(pin);
		}
		link = bpf_link_create(prog, cgfd, hooks[h].type, NULL);
		if (link < 0) {
			err = l4s_err(errno, "cannot attach the %s hook to cgroup %s: %s",
				      hooks[h].name, real, strerror(errno));
			if (errno == EINVAL || errno == EOPNOTSUPP)
				l4s_hint("the kernel needs cgroup v2 socket hooks (Linux 5.8 or newer)");
			else if (errno == EPERM)
				l4s_hint("l4split needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN to "
					 "attach to cgroups)");
			goto out;
		}
		if (bpf_obj_pin(link, pin)) {
			err = l4s_err(errno, "cannot pin %s: %s", pin, strerror(errno));
			bpf_link_detach(link);
			close(link);
			goto out;
		}
		close(link);
		added[h] = 1;
		rec.hooks |= 1u << h;
	}
	snprintf(rec.path, sizeof(rec.path), "%s", real);
	rec.attached_at = (__u64)time(NULL);
	if (bpf_map_update_elem(st->cgroups, id, &rec, BPF_ANY)) {
		err = l4s_err(errno, "cannot record the attachment: %s", strerror(errno));
		goto out;
	}
	err = 0;
out:
	if (err)
		unpin_hooks(st->pin_dir, *id, added); /* leave the cgroup as it was */
	l4split_bpf__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
	return err;
}

struct find_ctx {
	const char *path;
	__u64 id;
	int found;
};

static int find_by_path(const void *k, const void *v, void *ctx)
{
	const struct l4s_cgroup *rec = v;
	struct find_ctx *f = ctx;

	if (strcmp(rec->path, f->path))
		return 0;
	f->id = *(const __u64 *)k;
	f->found = 1;
	return 1;
}

int detach_cgroup(struct l4s_state *st, const char *path)
{
	struct find_ctx f = { .path = path };
	char real[PATH_MAX], dir[PATH_MAX];
	struct l4s_cgroup rec;
	struct stat sb;
	int recorded;

	if (cgroups_map(st) < 0) {
		l4s_err(ENOENT, "l4split is not attached to cgroup %s", path);
		l4s_hint("'l4split status' lists attachments");
		return -ENOENT;
	}
	if (realpath(path, real) && is_cgroup2(real) && !stat(real, &sb)) {
		f.id = sb.st_ino;
		f.found = 1;
	} else {
		/* The cgroup is gone (or unreachable from here): find it by its recorded path. */
		map_scan(st->cgroups, sizeof(__u64), sizeof(struct l4s_cgroup), find_by_path, &f);
	}
	recorded = f.found && !bpf_map_lookup_elem(st->cgroups, &f.id, &rec);
	if (!f.found || (!recorded && (pins_dir(dir, sizeof(dir), st->pin_dir, f.id) ||
				       access(dir, F_OK)))) {
		l4s_err(ENOENT, "l4split is not attached to cgroup %s", path);
		l4s_hint("'l4split status' lists attachments");
		return -ENOENT;
	}
	unpin_hooks(st->pin_dir, f.id, NULL);
	bpf_map_delete_elem(st->cgroups, &f.id);
	return 0;
}

int detach_cgroups_all(struct l4s_state *st)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	/* The pins are the truth (a crash may have pinned without recording). */
	snprintf(dir, sizeof(dir), "%s/cgroup", st->pin_dir);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char *end;
		unsigned long long id = strtoull(e->d_name, &end, 10);

		if (e->d_name[0] != '.' && !*end)
			unpin_hooks(st->pin_dir, id, NULL);
	}
	if (d)
		closedir(d);
	if (cgroups_map(st) >= 0) {
		__u64 key;

		while (!bpf_map_get_next_key(st->cgroups, NULL, &key))
			if (bpf_map_delete_elem(st->cgroups, &key))
				break;
	}
	return 0;
}

struct status_ctx {
	const char *pin_dir;
	json_t *arr;
};

static int status_one(const void *k, const void *v, void *ctx)
{
	const struct l4s_cgroup *rec = v;
	__u64 id = *(const __u64 *)k;
	struct status_ctx *sc = ctx;
	json_t *j = json_object(), *hs = json_array();
	char dir[PATH_MAX], pin[PATH_MAX + 32];
	int live = 0, n = 0;

	pins_dir(dir, sizeof(dir), sc->pin_dir, id);
	for (int h = 0; h < L4S_CG_HOOKS; h++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd;

		snprintf(pin, sizeof(pin), "%s/%s", dir, hooks[h].name);
		fd = bpf_obj_get(pin);
		if (fd < 0)
			continue;
		n++;
		json_array_append_new(hs, json_string(hooks[h].name));
		/* A link outlives its cgroup: then it no longer names one. */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.cgroup.cgroup_id == id)
			live++;
		close(fd);
	}
	json_object_set_new(j, "path", json_string(rec->path));
	json_object_set_new(j, "cgroup_id", json_integer((json_int_t)id));
	json_object_set_new(j, "hooks", hs);
	json_object_set_new(j, "live", json_boolean(n > 0 && live == n));
	json_object_set_new(j, "attached_at", json_integer((json_int_t)rec->attached_at));
	json_array_append_new(sc->arr, j);
	return 0;
}

json_t *cgroup_status(struct l4s_state *st)
{
	struct status_ctx sc = { .pin_dir = st->pin_dir, .arr = json_array() };

	if (cgroups_map(st) >= 0)
		map_scan(st->cgroups, sizeof(__u64), sizeof(struct l4s_cgroup), status_one, &sc);
	return sc.arr;
}
