/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Make a service's backends match a list of endpoints (from a pod list, an
 * EndpointSlice list or the API), in memory; the caller commits the model.
 * Shared by `l4split sync` and the agent.
 */
#ifndef L4S_RECONCILE_H
#define L4S_RECONCILE_H

#include "spec.h"
#include "model.h"

struct reconcile_counts {
	int added, drained, restored, removed, moved, unchanged, ignored;
	int tracks_added, tracks_removed;
};

struct reconcile {
	__u32 *newids; /* backend ids allocated for added backends */
	int nnew;
	struct reconcile_counts c;
};

/*
 * Listed ready endpoints are added (weight 1) or restored; listed terminating or
 * unready ones are drained (weight 0); backends of the tracks in scope (@only_track,
 * or all when NULL) that are not listed are removed. Tracks that appear start at
 * weight 0. Returns 0 or -errno with a message.
 */
int reconcile_backends(struct l4s_state *st, struct model *m, const struct spec_endpoint *ep, int nep,
		       const char *only_track, struct reconcile *r);
/* Mark tracks left without backends as removed. */
void reconcile_prune_tracks(struct model *m, struct reconcile *r);
/* Anything to write? */
int reconcile_changed(const struct reconcile *r);
void reconcile_free(struct reconcile *r);

#endif
