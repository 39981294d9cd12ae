/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of l4split, pinned by name under the pin directory (L4SPLIT_PIN_DIR). */
#ifndef L4S_MAPS_H
#define L4S_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "l4split.h"

/* VIP:port/proto -> service id. Several frontends may name one service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_FRONTENDS);
	__type(key, struct l4s_frontend_key);
	__type(value, struct l4s_frontend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_frontends SEC(".maps");

/* Service id -> name, table size, flags. Mmapable (layout 3): userspace reads all
 * 16,384 records through a mapping instead of a batched copy (states upgraded from
 * layout 2 keep the plain map they have: see state_load_object()). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct l4s_service);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_services SEC(".maps");

/* Backend id -> address, port, service, track. Mmapable, as l4s_services. Every map
 * sized L4S_MAX_BACKENDS is sized to the state's backend capacity at load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_backend);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_backends SEC(".maps");

/* Backend id -> weight inside its track. Read by userspace to build tables. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_weight);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_weights SEC(".maps");

/* (service id, track) -> track weight. Read by userspace to build tables. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_TRACKS);
	__type(key, struct l4s_track_key);
	__type(value, struct l4s_track);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_tracks SEC(".maps");

/*
 * Service id -> lookup table (inner array: slot -> backend id). Userspace builds a
 * whole new inner map and swaps it in with one update: a packet sees either the
 * old table or the new one, never a mix. BPF_F_INNER_MAP lets tables differ in size;
 * BPF_F_MMAPABLE lets userspace fill a new table with one memcpy instead of a
 * syscall's worth of work per slot (layout 3; tables of states upgraded from layout
 * 2 keep the flags they were made with, see table_swap()).
 */
struct l4s_table_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_TABLE_DEFAULT);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, L4S_MAX_SERVICES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct l4s_table_inner);
} l4s_tables SEC(".maps");

/* Forward flows (client -> VIP): the backend a flow was given. Size set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_FLOWS_DEFAULT);
	__type(key, struct l4s_flow_key);
	__type(value, struct l4s_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_flows SEC(".maps");

/* Reverse flows (backend -> client): the VIP:port a reply must come from. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_FLOWS_DEFAULT);
	__type(key, struct l4s_flow_key);
	__type(value, struct l4s_rflow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_rflows SEC(".maps");

/* Devices XDP may redirect to (ifindex -> ifindex). Filled by userspace with
 * devices known to accept XDP frames; anything else goes through the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, L4S_MAX_ATTACH);
	__type(key, __u32);
	__type(value, __u32);
	/*
	 * Pinned by userspace, not LIBBPF_PIN_BY_NAME: the kernel adds BPF_F_RDONLY_PROG
	 * to every devmap and libbpf 1.1's reuse check then refuses the pinned map.
	 */
} l4s_txports SEC(".maps");

/* Per-backend counters (see struct l4s_backend_pkts): per packet, per CPU... */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_backend_pkts);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_bstats SEC(".maps");

/* ...and per flow or reply, shared (atomic adds). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_backend_counts);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_bcounts SEC(".maps");

/* Per-CPU counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4S_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct l4s_service_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_sstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4S_REASON_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_reasons SEC(".maps");

/*
 * The forward programs' rare paths, tail-called (slots: L4S_TAIL_*): filled by
 * userspace (load_object) with the program of the same hook, read by l4s_xdp_fwd and
 * l4s_tc_fwd. One array per hook: a program array belongs to one program type. Pinned:
 * the kernel empties a program array when its last user reference goes, and the
 * attached programs alone do not hold one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, L4S_TAIL_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_xtail SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, L4S_TAIL_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_ttail SEC(".maps");

/* Where the programs are attached (userspace bookkeeping, never read by BPF). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_ATTACH);
	__type(key, struct l4s_attach_key);
	__type(value, struct l4s_attach);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_attach SEC(".maps");

/* Rollout progress per service: written and read by userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct l4s_rollout);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_rollouts SEC(".maps");

/* Socket path (see struct l4s_sock_key): per-socket choices, forgotten by LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_SOCK_MAX);
	__type(key, struct l4s_sock_key);
	__type(value, struct l4s_sock_fwd);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_sock_fwd SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_SOCK_MAX);
	__type(key, struct l4s_sock_key);
	__type(value, struct l4s_sock_rev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_sock_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_sock_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_sock_stats SEC(".maps");

/* Cgroups the socket hooks are attached to (userspace bookkeeping, never read by BPF). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_ATTACH);
	__type(key, __u64);
	__type(value, struct l4s_cgroup);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_cgroups SEC(".maps");

/* SNAT flows by what the backend sends back (struct l4s_snat). Size set at load: a
 * quarter of the flow table. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_FLOWS_DEFAULT / 4);
	__type(key, struct l4s_flow_key);
	__type(value, struct l4s_snat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_snat SEC(".maps");

/* This node's SNAT address and port range (struct l4s_node), one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l4s_node);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_node SEC(".maps");

/* ifindex -> the device's primary addresses (struct l4s_devaddr): the default SNAT
 * source. Written by userspace (attach, node set), read by the forward path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct l4s_devaddr);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_devaddr SEC(".maps");

/* Backend address:port/proto -> its service and VIP:port (struct l4s_bindex). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, struct l4s_frontend_key);
	__type(value, struct l4s_bindex);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_bindex SEC(".maps");

/* Backend address:port/proto -> the service whose nat flows to it keep no reverse entry,
 * and the VIP:port they answer as (struct l4s_bindex; bpf/norev.h). Added without a
 * layout change: a state without it has every flow keep its reverse entry until
 * 'attach' creates it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, struct l4s_frontend_key);
	__type(value, struct l4s_bindex);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_norev SEC(".maps");

/* Client-IP affinity timeouts by service id (struct l4s_svc_aff): written by the
 * writer, read by the forward and socket paths. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct l4s_svc_aff);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_svcaff SEC(".maps");

/* (service, client) -> the backend it was last given and when (struct l4s_aff):
 * written and read by the forward and socket paths, forgotten by LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_AFFINITY_MAX);
	__type(key, struct l4s_aff_key);
	__type(value, struct l4s_aff);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_affinity SEC(".maps");

/* Start of each flow not answered yet (the forward 5-tuple -> bpf_ktime_get_ns() of its
 * first packet): written by the forward path on a new flow, taken out by the reply path
 * at the first answer; unanswered ones are forgotten by LRU. Sized by attach. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, L4S_CSTART_MIN);
	__type(key, struct l4s_flow_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_cstart SEC(".maps");

/* Connect-time histogram per backend id (struct l4s_connect_hist): added to by the
 * reply paths (atomic), read by /metrics, stats and rollout. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4S_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct l4s_connect_hist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_bconnect SEC(".maps");

/* Scratch space for a key too big for the stack where it is needed (affinity_pick's
 * track key), per CPU; not pinned, not state. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l4s_track_key);
} l4s_scratch SEC(".maps");

/* Layout version and global settings, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l4s_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4s_config SEC(".maps");

#endif
