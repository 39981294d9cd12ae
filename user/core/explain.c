// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Explain a flow: the datapath's choice (bpf/select.h) redone from the state, read only. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "err.h"
#include "explain.h"
#include "l4split_hash.h"
#include "model.h"

void explain_key(const struct explain_query *q, struct l4s_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->src = q->client;
	k->dst = q->fe.vip;
	k->sport = htons(q->cport);
	k->dport = q->fe.port;
	k->proto = q->fe.proto;
	k->family = q->fe.family;
	if (k->family == L4S_AF_INET) { /* IPv4 uses addr[0] only (bpf/parse.h) */
		k->src.addr[1] = k->src.addr[2] = k->src.addr[3] = 0;
		k->dst.addr[1] = k->dst.addr[2] = k->dst.addr[3] = 0;
	}
}

__u32 explain_hash(const struct l4s_flow_key *k, int affinity)
{
	/* As l4s_decide: client-ip affinity hashes the source address only. */
	return affinity ? l4s_hash_addr(&k->src, L4S_HASH_SEED) : l4s_hash_flow(k, L4S_HASH_SEED);
}

/* The backend record of @id as the programs see it; 0 when in use. */
static int backend_read(struct l4s_state *st, __u32 id, struct l4s_backend *be)
{
	const struct l4s_backend *all;

	memset(be, 0, sizeof(*be));
	if (id >= st->be_max)
		return -ENOENT;
	all = state_backends(st);
	if (!all)
		return -EIO;
	*be = all[id];
	return be->flags & L4S_BE_F_IN_USE ? 0 : -ENOENT;
}

/* The flow entry of the 5-tuple, and whether the datapath would follow it
 * (bpf/select.h flow_backend, for a packet that is not a new connection). */
static int flow_read(struct l4s_state *st, struct explain_result *r)
{
	if (bpf_map_lookup_elem(st->flows, &r->key, &r->flow)) {
		if (errno == ENOENT)
			return 0;
		return l4s_err(errno, "cannot read the flow table: %s", strerror(errno));
	}
	r->flow_found = 1;
	if (r->flow.svc_id != r->svc_id) {
		r->flow_stale = "it belongs to another service (deleted since): chosen again";
		return 0;
	}
	if (backend_read(st, r->flow.backend_id, &r->flow_be) ||
	    r->flow_be.gen != r->flow.backend_gen) {
		r->flow_stale = "its backend was deleted since: chosen again";
		return 0;
	}
	r->flow_live = 1;
	return 0;
}

/* The configured weights and shares of the answer's backend and its track. */
static int shares_read(struct l4s_state *st, struct explain_result *r)
{
	unsigned __int128 total = 0, track = 0, mine = 0;
	struct model m;
	int err = model_load(st, r->svc_id, &m);

	if (err)
		return err;
	for (int i = 0; i < m.nbe; i++) {
		total += m.be[i].effective;
		if (!strcmp(m.be[i].be.track, r->be.track))
			track += m.be[i].effective;
		if (m.be[i].id == r->backend_id) {
			mine = m.be[i].effective;
			r->be_weight = m.be[i].weight;
		}
	}
	for (int t = 0; t < m.ntr; t++)
		if (!strcmp(m.tr[t].name, r->be.track))
			r->track_weight = m.tr[t].weight;
	if (total) {
		r->be_share = (double)mine * 100.0 / (double)total;
		r->track_share = (double)track * 100.0 / (double)total;
	}
	model_free(&m);
	return 0;
}

/* How a new flow to a backend goes (bpf/select.h flow_mode): what the state decides,
 * and what is left to the FIB lookup at the first packet. */
static enum explain_path path_new(const struct explain_result *r)
{
	int addr;

	switch (r->svc.mode) {
	case L4S_MODE_DSR:
		return EXPLAIN_PATH_LOCAL_NAT_REMOTE_DSR;
	case L4S_MODE_SNAT:
	case L4S_MODE_AUTO:
		/* SNAT is on unless 'node unset': with the address set, or the egress
		 * device's (a device without one is known only at the first packet). */
		addr = r->node_known && !(r->node.flags & L4S_NODE_F_OFF);
		if (r->svc.mode == L4S_MODE_SNAT)
			return addr ? EXPLAIN_PATH_SNAT : EXPLAIN_PATH_DROP_NO_ADDR;
		return addr ? EXPLAIN_PATH_LOCAL_NAT_REMOTE_SNAT : EXPLAIN_PATH_NAT;
	default: /* nat, and modes this binary does not know (the datapath: nat) */
		return EXPLAIN_PATH_NAT;
	}
}

int explain_flow(struct l4s_state *st, __u32 svc_id, const struct explain_query *q,
		 struct explain_result *r)
{
	__u32 *slots = NULL;
	struct model m;
	int err;

	memset(r, 0, sizeof(*r));
	r->svc_id = svc_id;
	r->slot_id = L4S_NO_BACKEND;
	err = state_service(st, svc_id, &r->svc);
	if (err)
		return l4s_err(-err, "cannot read service %u: %s", svc_id, strerror(-err));
	explain_key(q, &r->key);
	r->affinity = !!(r->svc.flags & L4S_SVC_F_AFFINITY_CLIENT_IP);
	if (r->affinity)
		state_affinity_timeout(st, svc_id, &r->affinity_timeout);
	r->hash = explain_hash(&r->key, r->affinity);
	r->node_known = !state_node_get(st, &r->node);

	/* The slot, from the live table (as table_pick reads it). */
	memset(&m, 0, sizeof(m));
	m.id = svc_id;
	m.svc = r->svc;
	if (r->svc.table_size) {
		r->slot = r->hash % r->svc.table_size;
		err = model_read_table(st, &m, &slots);
		if (err)
			return err;
	}
	if (slots) {
		r->has_table = 1;
		r->slot_id = slots[r->slot];
		free(slots);
		r->slot_ok = r->slot_id != L4S_NO_BACKEND &&
			     !backend_read(st, r->slot_id, &r->slot_be);
	}

	err = flow_read(st, r);
	if (err)
		return err;

	/* A live entry is followed; one whose connection closed (FIN/RST) is followed by
	 * that connection's last packets, but a new SYN chooses again. */
	if (r->flow_live && !(r->flow.flags & L4S_FLOW_F_CLOSED)) {
		r->source = EXPLAIN_FLOW;
		r->backend_id = r->flow.backend_id;
		r->be = r->flow_be;
		r->path = r->flow.flags & L4S_FLOW_F_SNAT ? EXPLAIN_PATH_SNAT :
			  r->flow.flags & L4S_FLOW_F_DSR  ? EXPLAIN_PATH_DSR :
							    EXPLAIN_PATH_NAT;
	} else if (r->slot_ok) {
		r->source = EXPLAIN_TABLE;
		r->backend_id = r->slot_id;
		r->be = r->slot_be;
		r->path = path_new(r);
	} else {
		r->source = EXPLAIN_NONE;
		return 0;
	}
	return shares_read(st, r);
}
