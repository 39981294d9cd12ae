/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which backend a flow gets, and why: the datapath's decision (bpf/select.h:
 * l4s_decide) redone from the state, read only. The flow key and the hash are the
 * programs' own (include/l4split_hash.h); the flow entry is looked up, never written.
 * No printing: the command layer (cmd_explain.c) renders the result.
 */
#ifndef L4S_EXPLAIN_H
#define L4S_EXPLAIN_H

#include "l4split.h"
#include "state.h"

/* The flow as a client sends it to one frontend of the service. */
struct explain_query {
	struct l4s_addr client;
	__u8 family;                  /* enum l4s_family */
	__u16 cport;                  /* host order */
	struct l4s_frontend_key fe;   /* the frontend it is sent to (proto and family set) */
};

/* Where the answer's backend comes from. */
enum explain_source {
	EXPLAIN_NONE = 0, /* dropped: no table, or the slot holds no usable backend */
	EXPLAIN_TABLE,    /* a new flow: the lookup table's slot */
	EXPLAIN_FLOW,     /* a live flow entry, followed */
};

/* How the flow reaches its backend. */
enum explain_path {
	EXPLAIN_PATH_NAT = 0,    /* destination rewrite only */
	EXPLAIN_PATH_SNAT,       /* destination and source (node address, a port) */
	EXPLAIN_PATH_DSR,        /* the remote backend replies directly */
	EXPLAIN_PATH_LOCAL_NAT_REMOTE_SNAT, /* auto: decided per flow by a FIB lookup */
	EXPLAIN_PATH_LOCAL_NAT_REMOTE_DSR,  /* dsr: decided per flow by a FIB lookup */
	EXPLAIN_PATH_DROP_NO_ADDR, /* snat without a node address (or node unset): dropped */
};

struct explain_result {
	__u32 svc_id;
	struct l4s_service svc;
	struct l4s_flow_key key;      /* the 5-tuple, as the datapath parses it */
	int affinity;                 /* hashed over the client address only */
	__u32 affinity_timeout;       /* seconds a client keeps its backend (0: none): a
				       * new flow may go to the one it was last given
				       * instead of the slot's (l4s_affinity) */
	__u32 hash;
	__u32 slot;                   /* hash % table_size */
	int has_table;
	__u32 slot_id;                /* backend id in the slot (L4S_NO_BACKEND: none) */
	int slot_ok;                  /* slot_id names a backend in use */
	struct l4s_backend slot_be;
	/* The flow table. */
	int flow_found;               /* an entry exists for the 5-tuple */
	struct l4s_flow flow;
	int flow_live;                /* its service and backend still hold: followed */
	const char *flow_stale;       /* when found but not followed: why */
	struct l4s_backend flow_be;   /* with flow_live */
	/* The answer. */
	enum explain_source source;
	__u32 backend_id;
	struct l4s_backend be;
	__u64 be_weight, track_weight; /* fixed point */
	double be_share, track_share;  /* percent of new flows, as configured */
	enum explain_path path;
	struct l4s_node node;          /* the node's SNAT settings (zero: none) */
	int node_known;                /* the state has l4s_node */
};

/* The 5-tuple of @q, laid out as bpf/parse.h fills it. Pure. */
void explain_key(const struct explain_query *q, struct l4s_flow_key *k);
/* The datapath's flow hash of @k: client address only with @affinity. Pure. */
__u32 explain_hash(const struct l4s_flow_key *k, int affinity);

/*
 * Explain the flow @q to service @svc_id: *r filled. Reads the service, its table,
 * its backends and weights, the node settings and the flow entry; writes nothing.
 * 0 or -errno with a message.
 */
int explain_flow(struct l4s_state *st, __u32 svc_id, const struct explain_query *q,
		 struct explain_result *r);

#endif
