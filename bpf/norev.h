/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flows without a reverse entry (issue 20). A nat flow to a backend whose service has
 * one frontend of the flow's family is the only thing a reply from that backend to
 * that client can belong to, so the reply path finds it without a second table: the
 * backend's no-reverse-entry record (l4s_norev: backend -> service, VIP:port) gives the
 * VIP, and the forward entry (client -> VIP:port) the rest. The forward path then writes one LRU
 * entry per new flow instead of two; the forward entry holds what the reverse entry
 * held (answered, closed, the connect-time start). Flows through any other frontend,
 * or to a backend the index gives to another service, keep their reverse entry.
 */
#ifndef L4S_NOREV_H
#define L4S_NOREV_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "l4split.h"
#include "maps.h"
#include "parse.h"

/* The no-reverse-entry record of backend @addr:@port (@proto, @family) (l4s_norev), or
 * NULL. */
static __always_inline struct l4s_bindex *norev_of(const struct l4s_addr *addr, __be16 port,
						   __u8 proto, __u8 family)
{
	struct l4s_frontend_key k = {};

	k.vip = *addr;
	k.port = port;
	k.proto = proto;
	k.family = family;
	return bpf_map_lookup_elem(&l4s_norev, &k);
}

/* Is @ix (the no-reverse-entry record of a new nat flow @p's backend) for the
 * frontend the client used, of service @svc_id? */
static __always_inline int norev_same_fe(const struct l4s_bindex *ix, const struct l4s_pkt *p,
					 __u32 svc_id)
{
	return ix->svc_id == svc_id && ix->vport == p->key.dport &&
	       l4s_addr_eq(&ix->vip, &p->key.dst);
}

/* May new nat flow @p of service @svc_id keep no reverse entry, given its backend's
 * record @ix (or NULL)? Only when the record is this service's, answering as exactly
 * the frontend the client used, and the service has no other frontend of its family. */
static __always_inline int norev_ok(const struct l4s_bindex *ix, const struct l4s_pkt *p,
				   __u32 svc_id)
{
	return ix && (ix->flags & L4S_BINDEX_F_ONE_FE) && norev_same_fe(ix, p, svc_id);
}

/*
 * New nat flow @p, with a reverse entry, to backend @be, whose record @ix is another
 * frontend's: a flow without a reverse entry of that frontend from the same client
 * address and port to the same backend had this backend 4-tuple before. The backend
 * now talks to the new flow, so the old entry goes (the reply path looks at flows
 * without a reverse entry first: it would take the new flow's replies).
 */
static __always_inline void norev_evict(const struct l4s_bindex *ix, const struct l4s_pkt *p,
					const struct l4s_backend *be)
{
	struct l4s_flow_key fk = {};
	struct l4s_backend *ob;
	struct l4s_flow *f;
	__u32 id;

	fk.src = p->key.src;
	fk.dst = ix->vip;
	fk.sport = p->key.sport;
	fk.dport = ix->vport;
	fk.proto = p->key.proto;
	fk.family = p->key.family;
	f = bpf_map_lookup_elem(&l4s_flows, &fk);
	if (!f || !(f->flags & L4S_FLOW_F_NOREV))
		return;
	id = f->backend_id;
	ob = bpf_map_lookup_elem(&l4s_backends, &id);
	if (ob && ob->port == be->port && l4s_addr_eq(&ob->addr, &be->addr))
		bpf_map_delete_elem(&l4s_flows, &fk);
}

/* The forward key of the flow a reply with key @rk (backend -> client) belongs to,
 * when its backend answers as @vip:@vport. */
static __always_inline void norev_fkey(const struct l4s_flow_key *rk, const struct l4s_addr *vip,
				       __be16 vport, struct l4s_flow_key *fk)
{
	fk->src = rk->dst;
	fk->dst = *vip;
	fk->sport = rk->dport;
	fk->dport = vport;
	fk->proto = rk->proto;
	fk->family = rk->family;
}

/*
 * The forward entry that reply key @rk (backend -> client) belongs to through index
 * entry @ix, with its key in @fk: a flow of the index's service, given exactly this
 * backend (address, port, and the generation of its id). NULL when there is none.
 * Any flow mode: the caller looks at the flags.
 */
static __always_inline struct l4s_flow *forward_by_index(const struct l4s_flow_key *rk,
							 const struct l4s_bindex *ix,
							 struct l4s_flow_key *fk)
{
	struct l4s_backend *be;
	struct l4s_flow *f;
	__u32 bid;

	norev_fkey(rk, &ix->vip, ix->vport, fk);
	f = bpf_map_lookup_elem(&l4s_flows, fk);
	if (!f || f->svc_id != ix->svc_id)
		return 0;
	bid = f->backend_id;
	be = bpf_map_lookup_elem(&l4s_backends, &bid);
	if (!be || be->gen != f->backend_gen || be->port != rk->sport ||
	    !l4s_addr_eq(&be->addr, &rk->src))
		return 0;
	return f;
}

/* The VIP:port a nat flow's reply with key @rk answers as, when its flow has no reverse
 * entry (the ICMP errors about it). 0 when found. */
static __always_inline int norev_vip(const struct l4s_flow_key *rk, struct l4s_addr *vip,
				     __be16 *vport)
{
	struct l4s_flow_key fk = {};
	struct l4s_bindex *ix = norev_of(&rk->src, rk->sport, rk->proto, rk->family);
	struct l4s_flow *f;

	if (!ix)
		return -1;
	f = forward_by_index(rk, ix, &fk);
	if (!f || !(f->flags & L4S_FLOW_F_NOREV))
		return -1;
	*vip = ix->vip;
	*vport = ix->vport;
	return 0;
}

#endif
