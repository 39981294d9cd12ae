/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The state: maps pinned under the pin directory. Opening creates them on first
 * use (by loading the embedded object once), checks the layout version, and can
 * take the advisory lock that serialises changes.
 */
#ifndef L4S_STATE_H
#define L4S_STATE_H

#include "l4split.h"

#define L4S_PIN_DIR_DEFAULT "/sys/fs/bpf/l4split"

struct l4s_state {
	char pin_dir[256];
	int lock_fd;
	int ncpus;
	__u64 flow_max;
	int frontends, services, backends, weights, tracks, tables, flows, rflows;
	int txports, bstats, sstats, reasons, attach, config;
	int rollouts; /* -1 in state written before rollouts existed (until attach) */
	/* The socket path; -1 in state written before it existed (until attach). */
	int sock_fwd, sock_rev, sock_stats, cgroups;
	/* Backends on other nodes; -1 in state written before (until attach). */
	int snat, node, bindex, norev;
	int devaddr; /* the default SNAT source per device; -1 until attach */
	int bcounts; /* layout 4: -1 in an older state (until attach upgrades it) */
	int svcaff, affinity; /* client-IP affinity timeouts; -1 until attach */
	int cstart, bconnect; /* the connect-time histogram; -1 until attach */
	int svcidx; /* each service's frontends and tracks (l4s_svcidx); -1 until attach */
	struct state_idx **idxc; /* l4s_svcidx as written, per service id (state.c) */
	__u32 be_max; /* backend capacity: backend ids 0 .. be_max - 1 (l4s_backends' size) */
	int old_bstats, old_sock_stats; /* layout-3 counters, during the upgrade only */
	int old_rflows; /* layout-4 reverse entries, during the upgrade only */
	struct l4s_backend *be_snap;  /* see state_backends() */
	struct l4s_service *svc_snap; /* see state_services() */
	struct l4s_weight *w_snap;    /* see state_weight() */
	__u32 *name_head, *name_next; /* see state_service_id(): chains of ids + 1 by name */
	int be_mapped, svc_mapped;    /* the snapshot is the map itself (mmap), live */
	struct state_svc_index *index; /* see state_index() */
	__u32 index_head;              /* first bucket with memory, or L4S_MAX_SERVICES */
	__u32 index_only;              /* the index holds this service only (scans filtered
					* to it), or L4S_MAX_SERVICES: every service */
	__u8 *w_read;                  /* per window of weights: read into w_snap */
	__u32 be_hint;                /* where backend_alloc looks first */
	int tables_plain;             /* l4s_tables takes tables without BPF_F_MMAPABLE */
	int tables_known;             /* a table_install succeeded: tables_plain is right */
	__u32 upgrade_from;           /* older layout state_load_object() upgrades, or 0 */
	int repaired;                 /* service_repair() ran (writer.c) */
};

enum {
	STATE_CREATE = 1 << 0, /* create the maps when they are not pinned yet */
	STATE_LOCK = 1 << 1,   /* hold the exclusive lock until state_close() */
	STATE_UPGRADE = 1 << 2, /* accept an older, upgradable layout: the caller loads
				 * the programs (state_load_object), which upgrades it */
	STATE_PARTIAL = 1 << 3, /* open what is there: missing maps stay -1 (to tear down) */
};

/* Pin directory from --pin-dir, else $L4SPLIT_PIN_DIR, else the default. */
const char *state_pin_dir(const char *opt);
/* Flow table size used when the maps are created (0 = default). */
void state_set_flow_max(__u64 n);
/* Backend capacity used when the maps are created (0 = L4S_MAX_BACKENDS). */
void state_set_backend_max(__u32 n);

int state_open(struct l4s_state *st, const char *pin_dir, int flags);
void state_close(struct l4s_state *st);
/* Remove every pinned map (after detaching everything). */
int state_purge(const char *pin_dir);
/* Make sure @dir exists and is on a bpffs (mounting one if needed). */
int bpffs_prepare(const char *dir);

/*
 * Counters, summed over CPUs: the one decoder of the per-CPU maps, for status, stats,
 * rollout samples and /metrics. A map the state predates reads as zeros (-EOPNOTSUPP).
 * 0 or -errno.
 */
int state_backend_stats(struct l4s_state *st, __u32 id, struct l4s_backend_stats *out);
int state_sock_stats(struct l4s_state *st, __u32 id, struct l4s_sock_stats *out);
/* Backend @id's connect-time histogram (zeros and -EOPNOTSUPP in a state from before it). */
int state_connect_hist(struct l4s_state *st, __u32 id, struct l4s_connect_hist *out);
int state_service_stats(struct l4s_state *st, __u32 id, struct l4s_service_stats *out);
/* A fresh backend id's counters start at zero (every map that counts per backend). */
int state_zero_backend_counters(struct l4s_state *st, __u32 id);
/* Every datapath reason (enum l4s_reason), out[L4S_R_MAX]. */
int state_reasons(struct l4s_state *st, __u64 *out);


/*
 * The backends and services arrays, read once (batched lookups) and kept in step
 * by the two writers below, which every change goes through: thousands of
 * services or backends in one command cost one read, not one syscall per slot
 * per question. NULL on error (with a message).
 */
const struct l4s_backend *state_backends(struct l4s_state *st);
const struct l4s_service *state_services(struct l4s_state *st);
int state_put_backend(struct l4s_state *st, __u32 id, const struct l4s_backend *be);
/* The weight of backend @id (inside its track). With @many, the weights around @id are
 * read in one batch (a window of ids; every window, at most, once) and kept in step by
 * state_put_weight: for a caller about to ask for hundreds. 0 or -errno. */
int state_weight(struct l4s_state *st, __u32 id, __u64 *w, int many);
int state_put_weight(struct l4s_state *st, __u32 id, __u64 w);
int state_put_service(struct l4s_state *st, __u32 id, const struct l4s_service *svc);
/*
 * Frontends, tracks and backend ids of one service, kept in step by the writers below
 * (state_put_backend too). The first service asked for is read alone: its frontends and
 * tracks looked up from l4s_svcidx (a state without it: one scan of each map keeping
 * only its entries), so a weight change reads nothing of the 10,000 others; a second one
 * reads every service, grouped, so loading the models of thousands of services costs
 * two scans, not two per service. NULL on error (with a message).
 */
struct state_track {
	char name[L4S_NAME_LEN];
	__u64 weight;
};
struct state_svc_index {
	struct l4s_frontend_key *fe; /* in their order (l4s_frontend.order, then key) */
	__u32 *fe_order;
	int nfe, cap_fe;
	struct state_track *tr;
	int ntr, cap_tr;
	__u32 *be;     /* ids of the backends whose record names this service (in use) */
	int nbe, cap_be;
	int used;      /* has memory; on the list of such buckets */
	__u32 next;    /* the next bucket with memory (freeing walks only those) */
};
const struct state_svc_index *state_index(struct l4s_state *st, __u32 svc_id);
/* Map writes that keep the index in step (flags as for bpf_map_update_elem). 0 or -errno. */
int state_put_frontend(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 svc_id,
		       __u32 order, __u64 flags);
int state_del_frontend(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 svc_id);
int state_put_track(struct l4s_state *st, __u32 svc_id, const char *name, __u64 weight);
int state_del_track(struct l4s_state *st, __u32 svc_id, const char *name);
/* Make l4s_svcidx list exactly what l4s_frontends and l4s_tracks hold (a scan of
 * each; writes only where they differ): after a writer was killed (service_repair),
 * and on 'attach' (a new index, or one an older l4split's changes went past). No-op
 * without the map. 0 or -errno with a message. */
int state_svcidx_sync(struct l4s_state *st);
/* Maps a state written by an older l4split may lack (until 'attach' adds them): 0 when
 * the state has what @what needs, else -EOPNOTSUPP with a message and a hint. */
enum state_feature { STATE_HAS_ROLLOUTS, STATE_HAS_SNAT, STATE_HAS_SOCKET };
int state_require(struct l4s_state *st, enum state_feature what);

/* Typed accessors: the commands and the agent read and write the maps through these,
 * never by fd. 0 or -errno (-ENOENT: no entry; -EOPNOTSUPP: a state from before the map,
 * until attach adds it). */
int state_service(struct l4s_state *st, __u32 id, struct l4s_service *out);
/* The id of the service record named @name that is in use and has none of @skip_flags,
 * from a hash of the names built once and kept in step by state_put_service. 0, or
 * -ENOENT. */
int state_service_id(struct l4s_state *st, const char *name, __u32 skip_flags, __u32 *id);
int state_frontend_svc(struct l4s_state *st, const struct l4s_frontend_key *k, __u32 *svc_id);
int state_node_get(struct l4s_state *st, struct l4s_node *n);
int state_node_put(struct l4s_state *st, const struct l4s_node *n);
int state_rollout_get(struct l4s_state *st, __u32 svc_id, struct l4s_rollout *r);
/* A service's client-IP affinity timeout in seconds (0: none; a state from before the
 * map reads 0, and takes only 0: -EOPNOTSUPP else). */
int state_affinity_timeout(struct l4s_state *st, __u32 svc_id, __u32 *timeout_s);
int state_put_affinity_timeout(struct l4s_state *st, __u32 svc_id, __u32 timeout_s);
/* The backend a client (struct l4s_aff_key) was last given: 0, -ENOENT, -EOPNOTSUPP. */
int state_affinity_entry(struct l4s_state *st, const struct l4s_aff_key *k, struct l4s_aff *a);
int state_rollout_put(struct l4s_state *st, __u32 svc_id, const struct l4s_rollout *r);
/* Walk the SNAT entries (key struct l4s_flow_key, value struct l4s_snat) or the
 * attachment records (key struct l4s_attach_key, value struct l4s_attach); @fn returns
 * non-zero to stop. 0, @fn's value, or -errno. */
int state_snat_scan(struct l4s_state *st, int (*fn)(const void *k, const void *v, void *ctx),
		    void *ctx);
int state_attach_scan(struct l4s_state *st, int (*fn)(const void *k, const void *v, void *ctx),
		      void *ctx);

/* Drop the snapshots and the index: a long-running reader (watch, rollout) sees other
 * writers again. (A mapped snapshot, layout 3, is live already; the index is not.) */
void state_forget(struct l4s_state *st);

/* Open (libbpf) the embedded object with maps reused from @st's pin dir; when the
 * state has an older layout (STATE_UPGRADE), replace the maps that changed and
 * record the new layout once the programs are loaded. */
struct l4split_bpf;
struct l4split_bpf *state_load_object(struct l4s_state *st);
/* The same with the programs of @sets only (user/core/load.h: L4S_LOAD_*; 0: maps);
 * state_load_object() loads the node path's (L4S_LOAD_NODE). */
struct l4split_bpf *state_load_progs(struct l4s_state *st, unsigned int sets);

#endif
