/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The desired state of one service: what every input fills (the CLI, an apply
 * document, a pod or EndpointSlice list, the agent's annotations) and what the one
 * writer (writer.h: service_apply) makes the live state equal to. Pure data.
 */
#ifndef L4S_SPEC_H
#define L4S_SPEC_H

#include "l4split.h"

/* An endpoint as a reader found it (pod list, EndpointSlice, document). */
enum ep_state {
	EP_READY = 0, /* serving: a backend with weight */
	EP_DRAIN,     /* terminating, or not ready: no new flows, keep existing ones */
};

struct spec_endpoint {
	struct l4s_addr addr;
	__u8 family;
	__u16 port;       /* host order */
	enum ep_state state;
	char track[L4S_NAME_LEN];
	char name[64];    /* pod name, for messages */
};

struct spec_backend {
	struct l4s_addr addr;
	__u8 family;
	__u16 port;     /* host order */
	char track[L4S_NAME_LEN];
	__u64 weight;   /* inside its track (fixed point, L4S_WEIGHT_ONE); 0 drains */
};

struct spec_track {
	char name[L4S_NAME_LEN];
	__u64 weight;   /* fixed point, L4S_WEIGHT_ONE */
};

struct svc_spec {
	char name[L4S_NAME_LEN];
	struct l4s_frontend_key *fe; /* in the order the user wrote them: the first is the VIP */
	int nfe;
	__u32 flags;      /* L4S_SVC_F_AFFINITY_CLIENT_IP, L4S_SVC_F_AGENT */
	__u8 mode;        /* enum l4s_mode */
	__u32 table_size; /* a prime; fixed once the service exists */
	__u32 affinity_timeout; /* seconds a client keeps its backend (client-IP affinity
				 * only; 1..L4S_AFFINITY_TIMEOUT_MAX); 0: hash-only affinity */
	struct spec_track *tr; /* every track, with or without backends */
	int ntr;
	struct spec_backend *be;
	int nbe;
};

void spec_init(struct svc_spec *s, const char *name);
void spec_free(struct svc_spec *s);
/* Deep copy. 0 or -ENOMEM. */
int spec_copy(struct svc_spec *dst, const struct svc_spec *src);

int spec_add_frontend(struct svc_spec *s, const struct l4s_frontend_key *k);
struct spec_track *spec_track(const struct svc_spec *s, const char *name);
/* Add a track (or return the one of that name, weight unchanged). NULL: no memory. */
struct spec_track *spec_track_add(struct svc_spec *s, const char *name, __u64 weight);
/* Remove a track; its backends stay (a backend's track must be listed to be written). */
void spec_track_del(struct spec_track *t, struct svc_spec *s);
struct spec_backend *spec_backend(const struct svc_spec *s, const struct l4s_addr *a,
				  __u8 family, __u16 port_host);
struct spec_backend *spec_backend_add(struct svc_spec *s, const struct l4s_addr *a, __u8 family,
				      __u16 port_host, const char *track, __u64 weight);
void spec_backend_del(struct spec_backend *b, struct svc_spec *s);
/* Do any backends use track @name? */
int spec_track_used(const struct svc_spec *s, const char *name);

/* Share (percent) of new flows each track and each backend get (either array may be
 * NULL; @track_share has ntr entries, @be_share nbe). All 0 when nothing has weight. */
void spec_shares(const struct svc_spec *s, double *track_share, double *be_share);

/* What merging endpoints into a spec did (for the messages of sync and the agent). */
struct merge_counts {
	int added, drained, restored, removed, moved, unchanged, ignored;
	int tracks_added;
};

/*
 * Make the backends of @s match a list of endpoints: ready ones are added (weight 1)
 * or restored, drained ones kept at weight 0, backends of the tracks in scope
 * (@only_track, or every track when NULL) that the list does not have are removed.
 * A track that appears is added at @new_track_weight. When two endpoints share an
 * address and port, a ready one wins over a drained one whatever the order; two
 * ready ones on different tracks are an error (-EEXIST with a message).
 * 0 or -errno with a message.
 */
int spec_merge_endpoints(struct svc_spec *s, const struct spec_endpoint *ep, int n,
			 const char *only_track, __u64 new_track_weight, struct merge_counts *c);

#endif
