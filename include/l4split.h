/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * l4split ABI: the one definition of every map key, map value and constant that
 * the BPF programs and the l4split binary share. No code here.
 *
 * Layout changes must bump L4S_LAYOUT_VERSION: the binary refuses to reuse pinned
 * maps written with another layout instead of misreading them.
 */
#ifndef L4SPLIT_H
#define L4SPLIT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define L4S_LAYOUT_VERSION 5
/*
 * Layout history (what 'l4split attach' upgrades in place, keeping every other map):
 *   1 -> 2: l4s_reasons grew from 18 counters to L4S_REASON_SLOTS (flow_lost added,
 *           room for more); the counters start again from 0.
 *           Flow values keep their size: the creation time nobody read became
 *           syn_seq, valid only with L4S_FLOW_F_SEQ, which layout-1 flows lack.
 *   2 -> 3: lookup tables, l4s_services and l4s_backends are BPF_F_MMAPABLE (tables
 *           filled, records read, through a mapping). Nothing is replaced: an upgraded
 *           state's l4s_tables keeps taking the tables it was made for (filled slot by
 *           slot), and its services and backends maps keep their flags (read by
 *           batches). The bump keeps binaries that cannot make such tables off
 *           layout-3 states.
 *   3 -> 4: per-backend counters cost per CPU only where they count per packet:
 *           l4s_bstats (per-CPU) keeps packets and bytes (16 bytes a CPU, was 64),
 *           the per-flow counters and the replies moved to l4s_bcounts (one shared
 *           array, atomic adds), and l4s_sock_stats became a shared array (its adds
 *           were atomic already). Both old maps are replaced; their sums carry over
 *           into the new ones. The backend capacity is the size of l4s_backends
 *           (attach --backends N when the state is created): an upgraded state keeps
 *           the 16,384 it was made with.
 *   4 -> 5: a reverse entry (struct l4s_rflow) grew from 24 to 32 bytes: it holds the
 *           connect-time start of its flow (start_ns), which a nat flow wrote into an
 *           l4s_cstart entry of its own before (issue 20: one LRU insert fewer per new
 *           flow). l4s_rflows is replaced; its entries are copied into the new map
 *           (without a start: those flows' first answers go untimed), and the reply
 *           path repairs any the old programs write in between (reply_miss).
 * Maps added without a layout change (a binary that does not know them ignores them;
 * one that does creates them on 'attach' and works without them until then):
 *   l4s_sock_fwd, l4s_sock_rev, l4s_sock_stats, l4s_cgroups (the socket path);
 *   l4s_snat, l4s_node, l4s_bindex (backends on other nodes, reverse entry repair). The service's pad byte
 *   became its mode (0, what layout 2 wrote, is auto).
 *   l4s_norev and flows without a reverse entry (L4S_FLOW_F_NOREV, L4S_BINDEX_F_ONE_FE):
 *   new flags in values of the same size (issue 20: one LRU insert fewer per new nat flow to a
 *   single-frontend service). An older binary's programs see such a flow as one whose
 *   reverse entry the LRU evicted, and repair it (reply_miss).
 *   l4s_devaddr (the SNAT source by default: each device's primary addresses). SNAT
 *   flows that use it carry L4S_FLOW_F_SNAT_DEV; their rcheck_s, unused by SNAT flows,
 *   holds the egress device.
 */
/*   l4s_svcaff, l4s_affinity (client-IP affinity with a timeout): a state without them
 *   has no timeouts (hash-only affinity) until 'attach' creates them.
 *   l4s_cstart, l4s_bconnect (the connect-time histogram per backend): a state without
 *   them measures nothing (empty histograms) until 'attach' creates them.
 *   l4s_svcidx (userspace only, see below): a state without it is read by scans until
 *   'attach' creates it.
 */
#define L4S_LAYOUT_UPGRADABLE 1 /* oldest layout attach can upgrade from */

/* Sizes of the pinned maps. */
#define L4S_MAX_SERVICES   16384 /* service ids (and lookup tables) */
#define L4S_MAX_FRONTENDS  65536 /* VIP:port/proto keys, several per service */
#define L4S_MAX_BACKENDS   65536 /* default backend capacity: backend ids, over all
				  * services (attach --backends N, up to the limit below);
				  * the size of every map indexed by backend id */
#define L4S_BACKENDS_MIN   1024
#define L4S_BACKENDS_LIMIT 1048576
#define L4S_MAX_TRACKS     65536 /* (service, track) weights */
#define L4S_MAX_ATTACH     256   /* devices the programs are attached to */
#define L4S_FLOWS_DEFAULT  1048576
#define L4S_NAME_LEN       32    /* service and track names, NUL included */
/* Not a map size: the most backends one service may have (a limit on what the API or
 * a document can ask for; the lookup table needs M well above it to stay fair). */
#define L4S_MAX_BACKENDS_PER_SVC 5000

/* Lookup table sizes: primes, so that Maglev permutations cover every slot. */
#define L4S_TABLE_DEFAULT  16381
#define L4S_TABLE_MAX      65521

/* Lookup table slot value meaning "no backend": the service takes no new flows. */
#define L4S_NO_BACKEND     0xffffffffu

/* Weights are fixed point: 1.0 == L4S_WEIGHT_ONE. */
#define L4S_WEIGHT_ONE     1000000ull
#define L4S_WEIGHT_MAX     (1000000ull * L4S_WEIGHT_ONE)

/* Fixed seed of the flow hash: every node must pick the same backend for a flow. */
#define L4S_HASH_SEED      0x4c345350u /* "L4SP" */

enum l4s_family {
	L4S_AF_INET = 4,
	L4S_AF_INET6 = 6,
};

/* Addresses are stored in 16 bytes; an IPv4 address uses addr[0] only. */
struct l4s_addr {
	__be32 addr[4];
};

/* l4s_frontends key: one VIP:port/proto a service is reached at. */
struct l4s_frontend_key {
	struct l4s_addr vip;
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* enum l4s_family */
};

struct l4s_frontend {
	__u32 svc_id;
	__u32 order; /* position among the service's frontends (0: the VIP); userspace only.
		      * States written before it hold 0 everywhere (ties: key order). */
};

/* Service flags. */
#define L4S_SVC_F_AFFINITY_CLIENT_IP (1u << 0) /* hash the client address only */
#define L4S_SVC_F_IN_USE             (1u << 1)
#define L4S_SVC_F_AGENT              (1u << 2) /* made by the agent from a Service */
/* Userspace only (the programs read IN_USE and AFFINITY): a writer's transaction. */
#define L4S_SVC_F_PENDING            (1u << 3) /* being created: not found by name; the
						* next writer deletes it if its writer died */
#define L4S_SVC_F_DIRTY              (1u << 4) /* being changed: the next writer finishes
						* it from its records if its writer died */

/*
 * Client-IP affinity with a timeout (Kubernetes sessionAffinity: ClientIP, with
 * timeoutSeconds): l4s_svcaff, by service id, holds the timeout (0: hash-only affinity,
 * clients move when weights change). With one, l4s_affinity remembers the backend each
 * client address (the socket path: each network namespace) was last given, and a new
 * flow of that client within timeout_s seconds of its last new flow goes to it again,
 * unless it is gone or drained (backend or track weight 0). Refreshed on every new
 * flow (as kube-proxy's `recent` match), not per packet.
 */
#define L4S_AFFINITY_TIMEOUT_MAX     86400
#define L4S_AFFINITY_TIMEOUT_DEFAULT 10800 /* Kubernetes' default timeoutSeconds */
#define L4S_AFFINITY_MAX             131072 /* clients remembered (LRU) */
#define L4S_AFF_F_NETNS 0 /* l4s_aff_key.family of the socket path: client = netns cookie */

struct l4s_svc_aff {
	__u32 timeout_s; /* 0: none */
	__u32 pad;
};

struct l4s_aff_key {
	__u32 svc_id;
	__u8 family; /* enum l4s_family, or L4S_AFF_F_NETNS */
	__u8 pad[3];
	struct l4s_addr client;
};

struct l4s_aff {
	__u32 backend_id;
	__u32 backend_gen;
	__u64 last_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the client's last new flow */
};

/* l4s_services value, indexed by service id. */
/* How a service reaches its backends (l4s_service.mode). */
enum l4s_mode {
	L4S_MODE_AUTO = 0, /* nat for local backends, snat for remote ones (once the node
			    * has a SNAT address; nat for all before) */
	L4S_MODE_NAT,      /* destination rewrite only: the client address is kept */
	L4S_MODE_SNAT,     /* destination and source rewrite (node address, a port) */
	L4S_MODE_DSR,      /* nat for local backends; remote ones reply directly, their
			    * node rewriting the source back to VIP:port */
	L4S_MODE_MAX,
};

struct l4s_service {
	char name[L4S_NAME_LEN];
	__u32 flags;
	__u32 table_size; /* slots in this service's lookup table */
	__u8 proto;
	__u8 family;
	__u8 mode; /* enum l4s_mode (layout 2 wrote 0 here: auto) */
	__u8 pad;
	__u32 gen; /* bumped on every table swap */
};

/* Backend flags. */
#define L4S_BE_F_IN_USE  (1u << 0)
#define L4S_BE_F_PENDING (1u << 1) /* written, not yet in a committed table */
#define L4S_BE_F_REMOVING (1u << 2) /* userspace only: goes once its service's change
				     * completes (see L4S_SVC_F_DIRTY) */

/* l4s_backends value, indexed by backend id. */
struct l4s_backend {
	struct l4s_addr addr;
	__be16 port;
	__u8 family;
	__u8 pad;
	__u32 svc_id;
	__u32 flags;
	__u32 gen; /* bumped when the id is freed; flows remember it */
	char track[L4S_NAME_LEN];
};

/* l4s_weights value, indexed by backend id: weight inside the track. */
struct l4s_weight {
	__u64 weight; /* fixed point, L4S_WEIGHT_ONE == 1 */
};

/* l4s_tracks: weight of one track of one service. */
struct l4s_track_key {
	__u32 svc_id;
	char name[L4S_NAME_LEN];
};

struct l4s_track {
	__u64 weight; /* fixed point */
};

/*
 * l4s_svcidx (userspace only: no program reads it), keyed by {service id, slot}: where
 * one service's frontends and tracks are, so that reading or changing one service
 * looks them up instead of walking l4s_frontends and l4s_tracks (~2 ms each at 10,000
 * services). Slot L4S_SVCIDX_HEAD holds the bitmap of the slots in use; slots 0 ..
 * L4S_SVCIDX_FE - 1 hold a frontend key, the L4S_SVCIDX_TR after them a track name.
 * It lists at least what the maps hold: a key is listed before its map entry is
 * written and unlisted after it is deleted, so a killed writer leaves extra entries
 * (readers check each against its map; the next writer's repair drops them), never a
 * missing one. A hash map without preallocation, created by userspace ('attach', or a
 * new state) from a scan of the maps; a state without it is read by scans.
 * Added without a layout change.
 */
#define L4S_SVCIDX_FE   64  /* frontends of one service, at most */
#define L4S_SVCIDX_TR   256 /* tracks of one service, at most */
#define L4S_SVCIDX_HEAD 0xffffffffu
/* Room for every service's head, frontend and track, and a service's worth more per
 * service for extras a killed writer left (until the next writer's repair). Entries
 * cost memory only when they exist (~100 bytes); the buckets (16 bytes each, for the
 * next power of two: 4 MiB) always. */
#define L4S_SVCIDX_MAX  (2 * L4S_MAX_SERVICES + L4S_MAX_FRONTENDS + L4S_MAX_TRACKS)

struct l4s_svcidx_key {
	__u32 svc_id;
	__u32 slot; /* L4S_SVCIDX_HEAD, or a slot */
};

struct l4s_svcidx {
	union {
		__u64 used[(L4S_SVCIDX_FE + L4S_SVCIDX_TR) / 64]; /* the head: slots in use */
		struct l4s_frontend_key fe;                        /* slot < L4S_SVCIDX_FE */
		char track[L4S_NAME_LEN];                          /* the others */
	};
};

/*
 * l4s_flows: forward flow table, client -> VIP, as seen at the frontend.
 * The reverse key (backend -> client) lives in l4s_rflows so the reply path
 * finds the VIP to restore.
 */
struct l4s_flow_key {
	struct l4s_addr src;
	struct l4s_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* Flow state flags. */
#define L4S_FLOW_F_CLOSED   (1u << 0) /* FIN or RST seen: a new SYN chooses again */
#define L4S_FLOW_F_ANSWERED (1u << 1) /* the backend replied at least once */
#define L4S_FLOW_F_SEQ      (1u << 2) /* syn_seq holds the opening SYN's sequence: a
				       * SYN with another one is a new connection */
#define L4S_FLOW_F_SNAT     (1u << 3) /* source rewritten too: snat_port, l4s_snat */
#define L4S_FLOW_F_DSR      (1u << 4) /* remote backend replies directly (its node) */
#define L4S_FLOW_F_SNAT_DEV (1u << 5) /* with L4S_FLOW_F_SNAT: the source is the egress
				       * device's address (l4s_devaddr), the device's
				       * ifindex in rcheck_s (low 16 bits) and in the top 16
				       * bits of flags */
#define L4S_FLOW_F_NOREV    (1u << 6) /* no reverse entry: its replies are found through
				       * l4s_bindex (the backend's one service and
				       * frontend) and this entry, which holds their
				       * state; start_us replaces snat_port/rcheck_s */
#define L4S_FLOW_F_TIMED    (1u << 7) /* with L4S_FLOW_F_NOREV: start_us holds the
				       * connect-time start, until the first answer */

struct l4s_flow {
	__u32 backend_id;
	__u32 backend_gen;
	__u32 svc_id;
	__u32 flags;
	__be32 syn_seq;  /* sequence number of the SYN that opened it (L4S_FLOW_F_SEQ) */
	union {
		struct {
			__be16 snat_port; /* with L4S_FLOW_F_SNAT: the node port the
					   * backend sees */
			__u16 rcheck_s;   /* coarse clock, seconds (low 16 bits): when a
					   * packet last made sure the reverse entry is
					   * there (once a second per flow) */
		};
		__u32 start_us; /* with L4S_FLOW_F_NOREV | L4S_FLOW_F_TIMED: when the
				 * flow's first packet came (bpf_ktime_get_ns / 1000, low 32
				 * bits: a connect time up to 71 minutes reads right) */
	};
};
/* Layout 1 wrote a creation time where snat_port and rcheck_s are: L4S_FLOW_F_SNAT,
 * which layout-1 flows lack, tells snat_port is meant, and a stale rcheck_s only
 * makes the next packet check once. */

/*
 * l4s_snat: the SNAT flows, keyed by what the backend sends back (backend:port ->
 * node address:snat port). A key that exists is a port in use for that backend: a new
 * flow takes a port only by inserting its key (BPF_NOEXIST), or by claiming the entry
 * of a closed or long idle flow with a BPF_NOEXIST claim on (key, seen_s) in
 * bpf/snat.h's l4s_snat_claim, so two live flows never share (node address, port,
 * backend).
 */
struct l4s_snat {
	struct l4s_addr client;
	struct l4s_addr vip;
	__be16 cport;
	__be16 vport;
	__u32 backend_id;
	__u32 flags;  /* L4S_FLOW_F_CLOSED, L4S_FLOW_F_ANSWERED */
	__u32 pad;
	__u64 seen_s; /* monotonic clock, seconds: last packet either way */
};

/* The node (l4s_node, one entry): what SNAT rewrites sources to. */
#define L4S_NODE_F_ADDR4 (1u << 0)
#define L4S_NODE_F_ADDR6 (1u << 1)
#define L4S_NODE_F_OFF   (1u << 2) /* 'node unset': no new SNAT flows; the address stays
				    * for the flows that have a port */
#define L4S_SNAT_PORT_MIN_DEFAULT 32768
#define L4S_SNAT_PORT_MAX_DEFAULT 60999
#define L4S_SNAT_TRIES 1024         /* distinct ports a new flow probes, from a hashed
				     * start with a hashed stride: the whole range when it
				     * is at most this big, else a miss at occupancy a has
				     * odds below a^1024 (1e-23 at 95%) */
#define L4S_SNAT_CLOSED_REUSE_S 60  /* a closed flow's port is free after this */
#define L4S_SNAT_UDP_IDLE_S 120     /* an idle UDP flow's port is free after this */
#define L4S_SNAT_TCP_IDLE_S 7200    /* an idle TCP flow's port is free after this */

struct l4s_node {
	struct l4s_addr addr6;
	__be32 addr4;
	__u16 port_min; /* host order */
	__u16 port_max;
	__u32 flags;
	__u32 pad;
};

/*
 * l4s_devaddr, keyed by ifindex: the primary addresses of each device of the node's
 * network namespace (the first non-secondary, non-deprecated address of global scope,
 * per family), written by 'attach' and 'node set' from netlink. With no 'node set
 * --snat-addr' for a family, SNAT uses the address of the device the packet leaves by,
 * as iptables MASQUERADE does. flags: L4S_NODE_F_ADDR4 / L4S_NODE_F_ADDR6.
 */
struct l4s_devaddr {
	struct l4s_addr addr6;
	__be32 addr4;
	__u32 flags;
};

/*
 * l4s_bindex value, keyed by backend address:port/proto (l4s_frontend_key shape): the
 * service a backend serves and the VIP:port it answers as (its first frontend of the
 * backend's family). The reply path uses it where it finds no reverse entry: a DSR
 * backend's direct replies get their source rewritten statelessly, and a nat flow
 * whose reverse entry the LRU evicted gets it back from the forward entry.
 */
#define L4S_BINDEX_F_DSR    (1u << 0)
#define L4S_BINDEX_F_ONE_FE (1u << 1) /* the service has no other frontend of this
				       * family: its nat flows through vip:vport keep no
				       * reverse entry (L4S_FLOW_F_NOREV); replies are
				       * matched to the forward entry (client, vip:vport) */

/*
 * l4s_norev, keyed as l4s_bindex, same value: the service whose nat flows to the
 * backend keep no reverse entry (flows L4S_FLOW_F_NOREV), and the VIP:port they answer
 * as. First come: while that service has the backend, no other takes the record over
 * (its flows' replies depend on it), whatever l4s_bindex (last writer's) says.
 * L4S_BINDEX_F_ONE_FE in its flags: new flows may go without (the service has one
 * frontend of the family, not DSR).
 */

struct l4s_bindex {
	struct l4s_addr vip;
	__be16 vport;
	__u16 flags; /* L4S_BINDEX_F_* */
	__u32 svc_id;
};

/* l4s_rflows value, keyed by the reply's 5-tuple (backend -> client):
 * what the reply path writes back as source. */
struct l4s_rflow {
	struct l4s_addr vip;
	__be16 vport;
	__u16 flags; /* L4S_FLOW_F_* as seen from the reply side */
	__u32 backend_id;
	__u64 start_ns; /* connect time: when the flow's first packet (SYN, first UDP
			 * datagram) came (bpf_ktime_get_ns), until its first answer;
			 * 0 once counted, or never timed (layout 5) */
};

/*
 * Counters per backend (indexed by backend id), split by what they cost: per packet,
 * per CPU (l4s_bstats: struct l4s_backend_pkts, 16 bytes a CPU); per flow or per
 * reply, one shared copy with atomic adds (l4s_bcounts: struct l4s_backend_counts).
 * With l4s_sock_stats, a backend costs 16 x CPUs + 88 bytes of kernel memory: 65,536
 * backends on 64 CPUs take 69.5 MiB (layout 3's per-CPU 64 + 32 bytes: 385 MiB).
 */
struct l4s_backend_pkts {
	__u64 packets;   /* client -> backend */
	__u64 bytes;
};

struct l4s_backend_counts {
	__u64 flows;     /* new flows assigned */
	__u64 answered;  /* flows that got a first reply (SYN-ACK / first UDP reply) */
	__u64 resets;    /* TCP RST sent by the backend */
	__u64 syn_retries; /* client SYNs repeated on a flow the backend never answered */
	__u64 rx_packets; /* backend -> client replies */
	__u64 rx_bytes;
};

/* What readers see (state_backend_stats): both maps' counters of a backend, summed
 * over CPUs. Userspace only: the layout-3 per-CPU record had this shape. */
struct l4s_backend_stats {
	__u64 packets;   /* client -> backend */
	__u64 bytes;
	__u64 flows;     /* new flows assigned */
	__u64 rx_packets; /* backend -> client replies */
	__u64 rx_bytes;
	__u64 answered;  /* flows that got a first reply (SYN-ACK / first UDP reply) */
	__u64 resets;    /* TCP RST sent by the backend */
	__u64 syn_retries; /* client SYNs repeated on a flow the backend never answered */
};

/*
 * Connect time per backend: from a flow's first packet (the SYN, the first UDP
 * datagram) at the node to the backend's first answer through the node (SYN-ACK, first
 * UDP reply), counted once per flow. The forward path writes the start into the flow's
 * reverse entry (l4s_rflow.start_ns, a nat flow), or into l4s_cstart (LRU, keyed by the
 * forward 5-tuple, struct l4s_flow_key: a SNAT flow, which has no reverse entry); the
 * reply path takes it out at the first answer and adds the time to l4s_bconnect (by backend id, one shared copy,
 * atomic adds: 136 bytes a backend, 8.5 MiB for 65,536). A reset is not an answer. DSR
 * replies and the socket path do not cross the node's reply path: not measured.
 * Bucket i counts times in (bound[i-1], bound[i]] microseconds; the last is +Inf.
 * Prometheus' cumulative le buckets are sums of these, made in userspace.
 */
#define L4S_CONNECT_BUCKETS 16
#define L4S_CONNECT_BOUNDS_US                                                              \
	{ 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, \
	  1000000, 2500000 }
#define L4S_CSTART_MIN 16384 /* l4s_cstart entries: a quarter of the flow table, at least */

struct l4s_connect_hist {
	__u64 count[L4S_CONNECT_BUCKETS];
	__u64 sum_ns; /* of every time counted */
};

/* Per-CPU counters, per service (indexed by service id). */
struct l4s_service_stats {
	__u64 packets;
	__u64 bytes;
	__u64 flows;
	__u64 no_backend; /* new flows dropped: no backend with weight > 0 */
};

/* Per-CPU counters by reason (l4s_reasons, indexed by enum l4s_reason). */
enum l4s_reason {
	L4S_R_PASS_NOT_IP = 0,   /* not IPv4/IPv6: untouched */
	L4S_R_PASS_NOT_SERVICE,  /* no frontend matched: untouched */
	L4S_R_PASS_FRAGMENT,     /* IP fragment: ports unknown, untouched */
	L4S_R_PASS_MALFORMED,    /* bad or truncated headers, not for a service */
	L4S_R_PASS_PROTO,        /* IP but neither TCP nor UDP */
	L4S_R_DROP_TRUNCATED,    /* service packet shorter than its headers say */
	L4S_R_DROP_MALFORMED,    /* service packet with invalid L4 header */
	L4S_R_DROP_NO_BACKEND,   /* no backend with weight > 0 */
	L4S_R_DROP_NO_TABLE,     /* service without a lookup table (being set up) */
	L4S_R_TX_REDIRECT,       /* forwarded with bpf_redirect_map */
	L4S_R_TX_KERNEL,         /* rewritten and handed to the kernel to route */
	L4S_R_TX_KERNEL_NO_NEIGH, /* fib lookup: neighbour unknown, kernel resolves */
	L4S_R_TX_KERNEL_NOT_TARGET, /* egress device is not a redirect target */
	L4S_R_FLOW_HIT,          /* packet of a known flow */
	L4S_R_FLOW_NEW,          /* new flow chose a backend */
	L4S_R_FLOW_RECHOSEN,     /* known 5-tuple, closed or stale: chose again */
	L4S_R_REPLY_NAT,         /* reply rewritten to VIP:port */
	L4S_R_DROP_ADJUST,       /* packet could not be rewritten (helper failed) */
	L4S_R_FLOW_LOST,         /* TCP packet past the handshake without a flow entry
				  * (evicted from a full table, or older than the
				  * state): chosen again through the table, which gives
				  * the same backend unless the weights changed since */
	L4S_R_SOCK_FWD,          /* socket path: connect/sendmsg to a VIP given a backend */
	L4S_R_SOCK_REV,          /* socket path: recvmsg/getpeername shown the VIP */
	L4S_R_SOCK_NO_BACKEND,   /* socket path: connect/sendmsg refused, no backend */
	L4S_R_REPLY_STALE,       /* SYN-ACK through a reverse entry its flow does not
				  * explain (a connection that never went through the VIP
				  * reusing the 5-tuple): entry forgotten, untouched */
	L4S_R_SNAT_NEW,          /* new flow given a SNAT port */
	L4S_R_SNAT_REPLY,        /* SNAT reply rewritten back to VIP -> client */
	L4S_R_DROP_SNAT_EXHAUSTED, /* no free SNAT port for the backend: dropped */
	L4S_R_DROP_SNAT_NO_ADDR, /* snat mode without a node address: dropped */
	L4S_R_ICMP_NAT,          /* ICMP error about a translated flow, translated */
	L4S_R_DSR_NEW,           /* new flow to a remote backend in DSR mode */
	L4S_R_DSR_REPLY,         /* direct reply of a local DSR backend, source rewritten */
	L4S_R_REPLY_REPAIRED,    /* reply of a flow whose reverse entry was gone: written
				  * again from the forward entry, and translated */
	L4S_R_NO_SLOW,           /* a rare path (reject, SNAT port, ICMP translation) found
				  * no program in its l4s_xtail/l4s_ttail slot: dropped
				  * (ICMP: passed untranslated) */
	L4S_R_MAX,
};
#define L4S_REASON_SLOTS 32 /* size of l4s_reasons: new reasons need no layout change */

/* The forward programs' tail-call slots (l4s_xtail for XDP, l4s_ttail for tc): the
 * rare paths, out of the hot path (issue 20). Filled by load_object() with the
 * program of the same hook. */
#define L4S_TAIL_SLOW  0 /* l4s_xdp_slow / l4s_tc_slow: the whole forward path */
#define L4S_TAIL_SLOTS 1

/* Attach modes recorded in l4s_attach (keyed by ifindex). */
#define L4S_ATTACH_XDP       (1u << 0) /* native XDP */
#define L4S_ATTACH_TC_IN     (1u << 1)
#define L4S_ATTACH_TC_OUT    (1u << 2)
#define L4S_ATTACH_XDP_SKB   (1u << 3) /* generic XDP */
#define L4S_ATTACH_OWN_QDISC (1u << 4) /* l4split created the clsact qdisc */

/* l4s_attach key: an ifindex is only unique inside its network namespace. */
struct l4s_attach_key {
	__u64 netns_ino;
	__u32 ifindex;
	__u32 pad;
};

struct l4s_attach {
	char ifname[16];
	__u32 flags;
	__u32 xdp_prog_id;
	__u32 tc_in_prog_id;
	__u32 tc_out_prog_id;
	__u64 attached_at; /* CLOCK_REALTIME seconds */
};

/*
 * l4s_rollouts: the progressive rollout of a service (keyed by service id), written
 * by the `l4split rollout` process at every step so other shells can follow it.
 * Userspace metadata only; the datapath never reads it.
 */
#define L4S_ROLLOUT_MAX_STEPS 16

enum l4s_rollout_state {
	L4S_RO_RUNNING = 1,
	L4S_RO_DONE,        /* every step passed */
	L4S_RO_ROLLED_BACK, /* TRACK failed: starting weights restored */
	L4S_RO_ABORTED,     /* interrupted: weights of the last completed step (or start) */
};

struct l4s_rollout {
	char track[L4S_NAME_LEN];
	__u32 pid;            /* of the process driving it */
	__u32 state;          /* enum l4s_rollout_state */
	__u32 step;           /* index of the step in progress (or where it ended) */
	__u32 nsteps;
	__u32 steps[L4S_ROLLOUT_MAX_STEPS]; /* TRACK's share, parts per million */
	__u64 started_at;     /* CLOCK_REALTIME ms */
	__u64 step_started_at;
	__u64 updated_at;
	__u64 interval_ms;
	__u32 max_failure_ppm;
	__u32 min_flows;
	__u32 share_ppm;      /* TRACK's observed share of new flows in this step */
	__u32 failure_ppm;    /* TRACK's failure ratio in this step */
	__u32 others_failure_ppm;
	__u32 pad;
	__u64 flows;          /* TRACK's new flows in this step */
	__u64 others_flows;
	char reason[128];     /* how it ended */
};

/*
 * The socket path (cgroup sock_addr hooks, for clients on the node itself): a socket
 * that connects or sends to a VIP is given a backend once and talks to it directly.
 * What a socket was given is kept per socket cookie (cookies are never reused):
 *   l4s_sock_fwd  (cookie, VIP:port)     -> backend: unconnected UDP keeps its backend
 *   l4s_sock_rev  (cookie, backend:port) -> VIP:port: what recvmsg/getpeername show
 */
struct l4s_sock_key {
	__u64 cookie;
	struct l4s_addr addr;
	__be16 port;
	__u8 proto;
	__u8 family;
	__u32 pad;
};

struct l4s_sock_fwd {
	__u32 backend_id;
	__u32 backend_gen;
	__u32 svc_id;
	__u32 pad;
};

struct l4s_sock_rev {
	struct l4s_addr vip;
	__be16 vport;
	__u16 pad;
	__u32 backend_id;
};

#define L4S_SOCK_MAX 131072 /* entries of l4s_sock_fwd and l4s_sock_rev (LRU) */

/* Counters of the socket path, per backend (l4s_sock_stats, by backend id): one shared
 * copy, atomic adds (per-CPU before layout 4). Apart from l4s_backend_stats: these
 * flows never cross the node's NAT. */
struct l4s_sock_stats {
	__u64 flows;           /* sockets given this backend (connect or first sendmsg) */
	__u64 tcp_flows;       /* of them TCP connects */
	__u64 tcp_established; /* TCP connects that completed the handshake */
	__u64 tcp_failed;      /* TCP connects closed before completing (refused, timed out) */
};

/* Cgroup hooks (l4s_cgroups, keyed by cgroup id): userspace bookkeeping. */
enum l4s_cg_hook {
	L4S_CG_CONNECT4 = 0,
	L4S_CG_CONNECT6,
	L4S_CG_SENDMSG4,
	L4S_CG_SENDMSG6,
	L4S_CG_RECVMSG4,
	L4S_CG_RECVMSG6,
	L4S_CG_GETPEERNAME4,
	L4S_CG_GETPEERNAME6,
	L4S_CG_SOCKOPS,
	L4S_CG_HOOKS,
};

struct l4s_cgroup {
	char path[232];
	__u32 hooks;       /* 1 << enum l4s_cg_hook */
	__u32 pad;
	__u64 attached_at; /* CLOCK_REALTIME seconds */
	__u64 reserved;
};

/* l4s_config flags. */
#define L4S_CFG_F_REDIRECT (1u << 0) /* l4s_txports is not empty: try bpf_fib_lookup */

/* l4s_config, one entry. */
struct l4s_config {
	__u32 layout_version;
	__u32 flags;
	__u64 flow_max;
};

_Static_assert(sizeof(struct l4s_frontend_key) == 20, "frontend key layout");
_Static_assert(L4S_R_MAX <= L4S_REASON_SLOTS, "l4s_reasons has a slot per reason");
_Static_assert(sizeof(struct l4s_service) == 48, "service layout");
_Static_assert(sizeof(struct l4s_backend) == 64, "backend layout");
_Static_assert(sizeof(struct l4s_svcidx) == 40, "service index layout");
_Static_assert(sizeof(struct l4s_flow_key) == 40, "flow key layout");
_Static_assert(sizeof(struct l4s_flow) == 24, "flow layout");
_Static_assert(sizeof(struct l4s_rflow) == 32, "rflow layout");
_Static_assert(sizeof(struct l4s_backend_stats) == 64, "backend stats layout");
_Static_assert(sizeof(struct l4s_backend_pkts) == 16, "backend packet counters layout");
_Static_assert(sizeof(struct l4s_backend_counts) == 48, "backend counters layout");
_Static_assert(sizeof(struct l4s_track_key) == 36, "track key layout");
_Static_assert(sizeof(struct l4s_attach) == 40, "attach layout");
_Static_assert(sizeof(struct l4s_attach_key) == 16, "attach key layout");
_Static_assert(sizeof(struct l4s_rollout) == 312, "rollout layout");
_Static_assert(sizeof(struct l4s_sock_key) == 32, "sock key layout");
_Static_assert(sizeof(struct l4s_sock_fwd) == 16, "sock fwd layout");
_Static_assert(sizeof(struct l4s_sock_rev) == 24, "sock rev layout");
_Static_assert(sizeof(struct l4s_sock_stats) == 32, "sock stats layout");
_Static_assert(sizeof(struct l4s_cgroup) == 256, "cgroup layout");
_Static_assert(sizeof(struct l4s_snat) == 56, "snat layout");
_Static_assert(sizeof(struct l4s_node) == 32, "node layout");
_Static_assert(sizeof(struct l4s_bindex) == 24, "backend index layout");
_Static_assert(sizeof(struct l4s_devaddr) == 24, "device address layout");
_Static_assert(sizeof(struct l4s_svc_aff) == 8, "service affinity layout");
_Static_assert(sizeof(struct l4s_aff_key) == 24, "affinity key layout");
_Static_assert(sizeof(struct l4s_aff) == 16, "affinity layout");
_Static_assert(sizeof(struct l4s_connect_hist) == 136, "connect histogram layout");

#endif /* L4SPLIT_H */
