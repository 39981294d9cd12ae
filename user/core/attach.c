// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "err.h"
#include "mapscan.h"
#include "l4split.skel.h"

__u64 netns_ino(void)
{
	struct stat sb;

	if (stat("/proc/self/ns/net", &sb))
		return 0;
	return sb.st_ino;
}

int netns_find(__u64 ino, char *name, size_t n)
{
	static const char *const named[] = { "/run/netns", "/var/run/netns" };
	char path[300];
	struct dirent *d;
	struct stat sb;
	DIR *dir;

	if (ino == netns_ino()) {
		snprintf(name, n, "this");
		return 1;
	}
	/* A name given with 'ip netns add' first, then the namespace of any process. */
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		dir = opendir(named[i]);
		while (dir && (d = readdir(dir))) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", named[i], d->d_name);
			if (!stat(path, &sb) && sb.st_ino == ino) {
				snprintf(name, n, "%s", d->d_name);
				closedir(dir);
				return 1;
			}
		}
		if (dir)
			closedir(dir);
	}
	dir = opendir("/proc");
	while (dir && (d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", d->d_name);
		if (!stat(path, &sb) && sb.st_ino == ino) {
			snprintf(name, n, "of pid %s", d->d_name);
			closedir(dir);
			return 1;
		}
	}
	if (dir)
		closedir(dir);
	snprintf(name, n, "inode %llu", (unsigned long long)ino);
	return 0;
}

static int prog_name_by_id(__u32 id, char *name, size_t n)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return -errno;
	}
	close(fd);
	snprintf(name, n, "%s", info.name);
	return 0;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* Id of the XDP program on @ifindex in @mode (0 if none), and whether it is ours. */
static __u32 xdp_current(int ifindex, __u32 mode_flag, int *ours)
{
	__u32 id = 0;
	char name[32] = "";

	*ours = 0;
	if (bpf_xdp_query_id(ifindex, (int)mode_flag, &id) || !id)
		return 0;
	if (!prog_name_by_id(id, name, sizeof(name)) && !strcmp(name, "l4s_xdp_fwd"))
		*ours = 1;
	return id;
}

static int tc_ours(int ifindex, enum bpf_tc_attach_point where, __u32 *id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = L4S_TC_HANDLE, .priority = L4S_TC_PRIO);
	char name[32] = "";
	libbpf_print_fn_t old = libbpf_set_print(NULL); /* "not found" is an answer here */
	int err = bpf_tc_query(&hook, &opts);

	libbpf_set_print(old);
	if (err)
		return 0;
	*id = opts.prog_id;
	return !prog_name_by_id(opts.prog_id, name, sizeof(name)) && !strncmp(name, "l4s_", 4);
}

static int tc_put(int ifindex, enum bpf_tc_attach_point where, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = L4S_TC_HANDLE, .priority = L4S_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);

	return bpf_tc_attach(&hook, &opts);
}

static void tc_remove(int ifindex, enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = L4S_TC_HANDLE, .priority = L4S_TC_PRIO);
	__u32 id;

	if (tc_ours(ifindex, where, &id))
		bpf_tc_detach(&hook, &opts);
}

static int set_redirect_flag(struct l4s_state *st)
{
	struct l4s_config cfg;
	__u32 zero = 0, k;
	int any = bpf_map_get_next_key(st->txports, NULL, &k) == 0;

	if (bpf_map_lookup_elem(st->config, &zero, &cfg))
		return -errno;
	if (any)
		cfg.flags |= L4S_CFG_F_REDIRECT;
	else
		cfg.flags &= ~L4S_CFG_F_REDIRECT;
	return bpf_map_update_elem(st->config, &zero, &cfg, BPF_ANY) ? -errno : 0;
}

/* Refuse to replace somebody else's XDP program, in either mode. */
static int check_foreign_xdp(int ifindex, const char *dev, const struct attach_opts *o)
{
	__u32 xdp_flag = o->mode == XDP_MODE_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	__u32 other_flag = o->mode == XDP_MODE_GENERIC ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	__u32 id;
	int ours;

	if (o->tc_only)
		return 0;
	id = xdp_current(ifindex, xdp_flag, &ours);
	if (id && !ours) {
		l4s_err(EBUSY, "%s already has another XDP program (id %u)", dev, id);
		l4s_hint("detach it first, or use --tc-only");
		return -EBUSY;
	}
	id = xdp_current(ifindex, other_flag, &ours);
	if (id && !ours) {
		l4s_err(EBUSY, "%s already has another XDP program (id %u) in %s mode", dev, id,
			o->mode == XDP_MODE_GENERIC ? "native" : "generic");
		l4s_hint("detach it first, or use --tc-only");
		return -EBUSY;
	}
	return 0;
}

/* The forward path: tc ingress (and ours off XDP), or XDP in the mode asked for (and
 * ours off the other mode and off tc ingress). Sets rec's flags and program id. */
static int attach_forward(struct l4split_bpf *skel, int ifindex, const char *dev,
			  const struct attach_opts *o, struct l4s_attach *rec)
{
	__u32 xdp_flag = o->mode == XDP_MODE_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	__u32 other_flag = o->mode == XDP_MODE_GENERIC ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	int err, ours;

	if (o->tc_only) {
		err = tc_put(ifindex, BPF_TC_INGRESS, bpf_program__fd(skel->progs.l4s_tc_fwd));
		if (err)
			return l4s_err(err, "cannot attach the forward program to %s ingress: %s", dev,
				       strerror(-err));
		rec->flags |= L4S_ATTACH_TC_IN;
		rec->tc_in_prog_id = prog_id(bpf_program__fd(skel->progs.l4s_tc_fwd));
		/* Switching from XDP to tc: the old XDP program must go. */
		if (xdp_current(ifindex, XDP_FLAGS_DRV_MODE, &ours) && ours)
			bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
		if (xdp_current(ifindex, XDP_FLAGS_SKB_MODE, &ours) && ours)
			bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL);
		return 0;
	}
	/* One mode at a time: remove ours from the other mode first. */
	if (xdp_current(ifindex, other_flag, &ours) && ours)
		bpf_xdp_detach(ifindex, (int)other_flag, NULL);
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.l4s_xdp_fwd), xdp_flag, NULL);
	if (err) {
		l4s_err(err, "cannot attach XDP to %s in %s mode: %s", dev,
			o->mode == XDP_MODE_GENERIC ? "generic" : "native", strerror(-err));
		if (o->mode == XDP_MODE_NATIVE)
			l4s_hint("the driver may not support native XDP: try --xdp-mode generic, or "
				 "--tc-only");
		else
			l4s_hint("try --tc-only");
		return err;
	}
	rec->flags |= o->mode == XDP_MODE_GENERIC ? L4S_ATTACH_XDP_SKB : L4S_ATTACH_XDP;
	rec->xdp_prog_id = prog_id(bpf_program__fd(skel->progs.l4s_xdp_fwd));
	tc_remove(ifindex, BPF_TC_INGRESS);
	return 0;
}

/* The clsact qdisc (ours when we create it: rec says so) and the reply program at egress. */
static int attach_reply(struct l4split_bpf *skel, struct bpf_tc_hook *hook, const char *dev,
			struct l4s_attach *rec)
{
	libbpf_print_fn_t old_print = libbpf_set_print(NULL);
	int err;

	/* "exists" is an answer here, not an error worth libbpf's log line. */
	err = bpf_tc_hook_create(hook);
	libbpf_set_print(old_print);
	if (!err)
		rec->flags |= L4S_ATTACH_OWN_QDISC;
	else if (err != -EEXIST) {
		l4s_err(err, "cannot create the clsact qdisc on %s: %s", dev, strerror(-err));
		l4s_hint("the kernel needs CONFIG_NET_CLS_ACT / sch_clsact");
		return err;
	}
	err = tc_put(hook->ifindex, BPF_TC_EGRESS, bpf_program__fd(skel->progs.l4s_tc_reply));
	if (err)
		return l4s_err(err, "cannot attach the reply program to %s egress: %s", dev,
			       strerror(-err));
	rec->flags |= L4S_ATTACH_TC_OUT;
	rec->tc_out_prog_id = prog_id(bpf_program__fd(skel->progs.l4s_tc_reply));
	return 0;
}

int attach_dev(struct l4s_state *st, const char *dev, const struct attach_opts *o)
{
	struct l4s_attach_key key = { .netns_ino = netns_ino() };
	struct l4s_attach rec = {}, old = {};
	struct l4split_bpf *skel = NULL;
	int ifindex = (int)if_nametoindex(dev), err, had = 0;
	LIBBPF_OPTS(bpf_tc_hook, hook);

	if (!ifindex) {
		l4s_err(ENODEV, "device \"%s\" not found in this network namespace", dev);
		l4s_hint("'ip link show' lists devices");
		return -ENODEV;
	}
	key.ifindex = (__u32)ifindex;
	had = bpf_map_lookup_elem(st->attach, &key, &old) == 0;
	err = check_foreign_xdp(ifindex, dev, o);
	if (err)
		return err;
	skel = state_load_object(st);
	if (!skel)
		return -EINVAL;

	snprintf(rec.ifname, sizeof(rec.ifname), "%s", dev);
	rec.attached_at = (__u64)time(NULL);
	rec.flags = had ? (old.flags & L4S_ATTACH_OWN_QDISC) : 0;
	hook.ifindex = ifindex;
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	err = attach_reply(skel, &hook, dev, &rec);
	if (!err)
		err = attach_forward(skel, ifindex, dev, o, &rec);
	if (err)
		goto out;

	if (o->redirect_target) {
		__u32 ifx = (__u32)ifindex;

		if (bpf_map_update_elem(st->txports, &ifx, &ifx, BPF_ANY)) {
			err = l4s_err(errno, "cannot add %s as a redirect target: %s", dev,
				      strerror(errno));
			l4s_hint("the device must support XDP redirect (ndo_xdp_xmit)");
			goto out;
		}
		set_redirect_flag(st);
	}

	if (bpf_map_update_elem(st->attach, &key, &rec, BPF_ANY)) {
		err = l4s_err(errno, "cannot record the attachment: %s", strerror(errno));
		goto out;
	}
	{
		struct l4s_node n = {};
		__u32 zero = 0;
		int nfd = bpf_map__fd(skel->maps.l4s_node);

		/* The default SNAT source: this namespace's device addresses, as now. */
		if (snat_devaddr_fill(bpf_map__fd(skel->maps.l4s_devaddr)))
			l4s_note("Warning: %s; SNAT without 'node set --snat-addr' has no "
				 "address to use\n", l4s_errmsg());
		/* SNAT is on (by default, or with an address set) unless 'node unset':
		 * this device must forward SNATed packets too. */
		if (!bpf_map_lookup_elem(nfd, &zero, &n) && !(n.flags & L4S_NODE_F_OFF) &&
		    snat_prepare_dev(dev))
			l4s_note("Warning: %s; SNAT needs them (net.ipv4.conf.%s.accept_local=1, "
				 "net.ipv4.conf.{all,%s}.rp_filter=0)\n", l4s_errmsg(), dev, dev);
	}
	err = 0;
out:
	if (err && !had) {
		/* A first attach that failed half way leaves the device as it found it. */
		if (rec.flags & L4S_ATTACH_TC_OUT)
			tc_remove(ifindex, BPF_TC_EGRESS);
		if (rec.flags & L4S_ATTACH_TC_IN)
			tc_remove(ifindex, BPF_TC_INGRESS);
		if (rec.flags & L4S_ATTACH_OWN_QDISC) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
	}
	l4split_bpf__destroy(skel);
	return err;
}

static int detach_ifindex(struct l4s_state *st, int ifindex, const struct l4s_attach *rec)
{
	struct l4s_attach_key key = { .netns_ino = netns_ino(), .ifindex = (__u32)ifindex };
	int ours;
	__u32 ifx = (__u32)ifindex;

	if (xdp_current(ifindex, XDP_FLAGS_DRV_MODE, &ours) && ours)
		bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (xdp_current(ifindex, XDP_FLAGS_SKB_MODE, &ours) && ours)
		bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL);
	tc_remove(ifindex, BPF_TC_INGRESS);
	tc_remove(ifindex, BPF_TC_EGRESS);
	if (rec && (rec->flags & L4S_ATTACH_OWN_QDISC)) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&hook);
	}
	bpf_map_delete_elem(st->txports, &ifx);
	set_redirect_flag(st);
	bpf_map_delete_elem(st->attach, &key);
	return 0;
}

int detach_dev(struct l4s_state *st, const char *dev)
{
	struct l4s_attach_key key = { .netns_ino = netns_ino() };
	struct l4s_attach rec;
	int ifindex = (int)if_nametoindex(dev), ours;
	__u32 id;

	if (!ifindex) {
		l4s_err(ENODEV, "device \"%s\" not found in this network namespace", dev);
		l4s_hint("'ip link show' lists devices; 'l4split status' lists attachments");
		return -ENODEV;
	}
	key.ifindex = (__u32)ifindex;
	if (bpf_map_lookup_elem(st->attach, &key, &rec)) {
		/* Not recorded: still remove our programs if they are there. */
		int found = (xdp_current(ifindex, XDP_FLAGS_DRV_MODE, &ours) && ours) ||
			    (xdp_current(ifindex, XDP_FLAGS_SKB_MODE, &ours) && ours) ||
			    tc_ours(ifindex, BPF_TC_INGRESS, &id) ||
			    tc_ours(ifindex, BPF_TC_EGRESS, &id);

		if (!found) {
			l4s_err(ENOENT, "l4split is not attached to %s", dev);
			l4s_hint("'l4split status' lists attachments");
			return -ENOENT;
		}
		return detach_ifindex(st, ifindex, NULL);
	}
	return detach_ifindex(st, ifindex, &rec);
}

struct all_ctx {
	__u64 ino;
	struct l4s_attach_key keys[L4S_MAX_ATTACH];
	struct l4s_attach recs[L4S_MAX_ATTACH];
	struct l4s_attach_key gone[L4S_MAX_ATTACH];
	int n, left, ngone;
	char *where;
	size_t wlen;
};

static int all_collect(const void *k, const void *v, void *ctx)
{
	const struct l4s_attach_key *key = k;
	const struct l4s_attach *rec = v;
	struct all_ctx *a = ctx;

	if (key->netns_ino != a->ino) {
		char ns[64];
		size_t used = strlen(a->where);

		/* A namespace that no longer exists took its devices (and our programs) along. */
		if (!netns_find(key->netns_ino, ns, sizeof(ns))) {
			if (a->ngone < L4S_MAX_ATTACH)
				a->gone[a->ngone++] = *key;
			return 0;
		}
		a->left++;
		snprintf(a->where + used, a->wlen - used, "%s%s in netns %s", used ? ", " : "",
			 rec->ifname, ns);
		return 0;
	}
	if (a->n < L4S_MAX_ATTACH) {
		a->keys[a->n] = *key;
		a->recs[a->n] = *(const struct l4s_attach *)v;
		a->n++;
	}
	return 0;
}

int detach_all(struct l4s_state *st, int *left, int *gone, char *where, size_t wlen)
{
	static struct all_ctx a;
	int err;

	memset(&a, 0, sizeof(a));
	a.ino = netns_ino();
	a.where = where;
	a.wlen = wlen;
	where[0] = 0;
	if (st->attach < 0) { /* the record is lost: our programs on any device here */
		struct if_nameindex *ifs = if_nameindex();

		for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
			int ours;
			__u32 id;

			if ((xdp_current((int)i->if_index, XDP_FLAGS_DRV_MODE, &ours) && ours) ||
			    (xdp_current((int)i->if_index, XDP_FLAGS_SKB_MODE, &ours) && ours) ||
			    tc_ours((int)i->if_index, BPF_TC_INGRESS, &id) ||
			    tc_ours((int)i->if_index, BPF_TC_EGRESS, &id))
				detach_ifindex(st, (int)i->if_index, NULL);
		}
		if (ifs)
			if_freenameindex(ifs);
		*left = *gone = 0;
		return 0;
	}
	err = map_scan(st->attach, sizeof(struct l4s_attach_key), sizeof(struct l4s_attach),
		       all_collect, &a);
	if (err)
		return l4s_err(err, "cannot read l4s_attach: %s", strerror(-err));
	for (int i = 0; i < a.n; i++) {
		char name[IF_NAMESIZE];

		/* The device may be gone; its programs went with it. */
		if (!if_indextoname(a.keys[i].ifindex, name)) {
			bpf_map_delete_elem(st->attach, &a.keys[i]);
			continue;
		}
		detach_ifindex(st, (int)a.keys[i].ifindex, &a.recs[i]);
	}
	for (int i = 0; i < a.ngone; i++)
		bpf_map_delete_elem(st->attach, &a.gone[i]);
	*left = a.left;
	*gone = a.ngone;
	return 0;
}

static int write_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fputs(val, f) >= 0;
	ok &= fclose(f) == 0;
	return ok ? 0 : -EIO;
}

int snat_prepare_dev(const char *dev)
{
	char path[128];
	int err;

	/*
	 * A SNATed packet leaves XDP/tc ingress with this node's own address as source,
	 * and a translated reply with the VIP, which the node has no route back to: the
	 * kernel forwards them only with accept_local and without reverse path filtering
	 * (the effective rp_filter is the larger of "all" and the device's).
	 */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/accept_local", dev);
	err = write_sysctl(path, "1");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", dev);
	if (!err)
		err = write_sysctl(path, "0");
	if (!err)
		err = write_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	if (err)
		return l4s_err(-err, "cannot set accept_local=1 and rp_filter=0 for %s: %s", dev,
			       strerror(-err));
	return 0;
}

struct snat_ctx {
	__u64 ino;
	int err;
	int n;
};

static int snat_each(const void *k, const void *v, void *ctx)
{
	const struct l4s_attach_key *key = k;
	const struct l4s_attach *a = v;
	struct snat_ctx *c = ctx;

	if (key->netns_ino != c->ino)
		return 0;
	c->n++;
	if (!c->err)
		c->err = snat_prepare_dev(a->ifname);
	return 0;
}

int snat_prepare_attached(struct l4s_state *st, int *n)
{
	struct snat_ctx c = { .ino = netns_ino() };

	map_scan(st->attach, sizeof(struct l4s_attach_key), sizeof(struct l4s_attach), snat_each,
		 &c);
	*n = c.n;
	return c.err;
}

/* Keep the first address of a device per family that may be a source: global scope, not
 * secondary, deprecated, tentative or failed DAD (the kernel lists primaries first). */
static void devaddr_take(struct l4s_devaddr *tab, size_t ntab, const struct nlmsghdr *h)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifa));
	const void *local = NULL, *addr = NULL;
	__u32 flags = ifa->ifa_flags;
	struct l4s_devaddr *d;

	if (len < 0 || ifa->ifa_index >= ntab || ifa->ifa_scope != RT_SCOPE_UNIVERSE ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return;
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_LOCAL)
			local = RTA_DATA(a);
		else if (a->rta_type == IFA_ADDRESS)
			addr = RTA_DATA(a);
		else if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) >= 4)
			memcpy(&flags, RTA_DATA(a), 4);
	}
	if (flags & (IFA_F_SECONDARY | IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED))
		return;
	d = &tab[ifa->ifa_index];
	if (ifa->ifa_family == AF_INET && !(d->flags & L4S_NODE_F_ADDR4) && (local || addr)) {
		memcpy(&d->addr4, local ? local : addr, 4);
		d->flags |= L4S_NODE_F_ADDR4;
	} else if (ifa->ifa_family == AF_INET6 && !(d->flags & L4S_NODE_F_ADDR6) && addr) {
		memcpy(&d->addr6, addr, 16);
		d->flags |= L4S_NODE_F_ADDR6;
	}
}

#define DEVADDR_MAX_IFINDEX 65536 /* devices past it keep no default SNAT address */

int snat_devaddr_fill(int map_fd)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg m;
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
			 .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			 .nlmsg_seq = 1 },
		  .m = { .ifa_family = AF_UNSPEC } };
	static char buf[32768];
	struct l4s_devaddr *tab;
	int fd, err = 0, done = 0;
	__u32 key, next, *prev = NULL;

	if (map_fd < 0)
		return l4s_err(EOPNOTSUPP, "no l4s_devaddr map (attach creates it)");
	tab = calloc(DEVADDR_MAX_IFINDEX, sizeof(*tab));
	if (!tab)
		return l4s_err(ENOMEM, "cannot list the device addresses: %s", strerror(ENOMEM));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || send(fd, &req, req.h.nlmsg_len, 0) < 0) {
		err = l4s_err(errno, "cannot list the device addresses (netlink): %s",
			      strerror(errno));
		goto out;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int len = (int)n;

		if (n < 0) {
			err = l4s_err(errno, "cannot list the device addresses (netlink): %s",
				      strerror(errno));
			goto out;
		}
		/* NLMSG_OK mixes signed and unsigned (clang's -Wsign-compare): the same test. */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf;
		     len >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) &&
		     h->nlmsg_len <= (__u32)len;
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == RTM_NEWADDR)
				devaddr_take(tab, DEVADDR_MAX_IFINDEX, h);
		}
	}
	/* Entries of devices gone or without an address go; the others are rewritten. */
	while (!bpf_map_get_next_key(map_fd, prev, &next)) {
		key = next;
		if (key >= DEVADDR_MAX_IFINDEX || !tab[key].flags)
			bpf_map_delete_elem(map_fd, &key);
		else
			prev = &key;
	}
	for (key = 1; key < DEVADDR_MAX_IFINDEX; key++)
		if (tab[key].flags && bpf_map_update_elem(map_fd, &key, &tab[key], BPF_ANY)) {
			err = l4s_err(errno, "cannot write l4s_devaddr: %s", strerror(errno));
			break;
		}
out:
	if (fd >= 0)
		close(fd);
	free(tab);
	return err;
}

struct devaddr_ctx {
	char *buf;
	size_t n;
};

static int devaddr_each(const void *k, const void *v, void *ctx)
{
	const __u32 *ifx = k;
	const struct l4s_devaddr *d = v;
	struct devaddr_ctx *c = ctx;
	char name[IF_NAMESIZE] = "?", a4[INET6_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";
	size_t used = strlen(c->buf);

	if (!if_indextoname(*ifx, name))
		snprintf(name, sizeof(name), "if%u", *ifx);
	if (d->flags & L4S_NODE_F_ADDR4)
		inet_ntop(AF_INET, &d->addr4, a4, sizeof(a4));
	if (d->flags & L4S_NODE_F_ADDR6)
		inet_ntop(AF_INET6, &d->addr6, a6, sizeof(a6));
	if (used + 1 < c->n)
		snprintf(c->buf + used, c->n - used, "%s%s %s%s%s", used ? ", " : "", name, a4,
			 a4[0] && a6[0] ? " " : "", a6);
	return 0;
}

int snat_devaddr_refresh(struct l4s_state *st, char *list, size_t n)
{
	struct devaddr_ctx c = { list, n };
	int err;

	if (n)
		list[0] = 0;
	if (st->devaddr < 0)
		return 0; /* state from before the default SNAT source: attach makes it */
	err = snat_devaddr_fill(st->devaddr);
	if (n)
		map_scan(st->devaddr, sizeof(__u32), sizeof(struct l4s_devaddr), devaddr_each, &c);
	return err;
}
