// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "reconcile.h"

static int in_scope(const char *track, const char *only)
{
	return !only || !strcmp(track, only);
}

int reconcile_backends(struct l4s_state *st, struct model *m, const struct spec_endpoint *ep, int nep,
		       const char *only_track, struct reconcile *r)
{
	struct reconcile_counts *c = &r->c;

	if (nep > L4S_MAX_BACKENDS_PER_SVC) /* checked before anything changes */
		return l4s_err(E2BIG, "%d endpoints for service \"%s\": a service may have at most "
			       "%d backends", nep, m->svc.name, L4S_MAX_BACKENDS_PER_SVC);
	r->newids = calloc((size_t)nep + 1, sizeof(*r->newids));
	if (!r->newids)
		return l4s_err(ENOMEM, "out of memory");
	for (int i = 0; i < nep; i++) {
		const struct spec_endpoint *e = &ep[i];
		struct model_backend *b = model_backend_find(m, &e->addr, e->family, e->port);

		if (b) {
			if (b->removed == -1)
				continue; /* listed twice (a pod in two slices) */
			b->removed = -1; /* seen: keep */
			if (strcmp(b->be.track, e->track)) {
				snprintf(b->be.track, sizeof(b->be.track), "%s", e->track);
				c->moved++;
			}
			if (e->state == EP_DRAIN && b->weight) {
				b->weight = 0;
				c->drained++;
			} else if (e->state == EP_READY && !b->weight) {
				b->weight = L4S_WEIGHT_ONE;
				c->restored++;
			} else {
				c->unchanged++;
			}
		} else if (e->state == EP_READY) {
			struct model_backend *tmp = realloc(m->be, sizeof(*tmp) * (size_t)(m->nbe + 1));
			int err;

			if (!tmp)
				return l4s_err(ENOMEM, "out of memory");
			m->be = tmp;
			b = &m->be[m->nbe];
			memset(b, 0, sizeof(*b));
			err = backend_alloc(st, &b->id, r->newids, r->nnew);
			if (err)
				return err;
			r->newids[r->nnew++] = b->id;
			b->be.addr = e->addr;
			b->be.port = htons(e->port);
			b->be.family = e->family;
			snprintf(b->be.track, sizeof(b->be.track), "%s", e->track);
			b->weight = L4S_WEIGHT_ONE;
			b->removed = -1;
			m->nbe++;
			c->added++;
		} else {
			c->ignored++; /* terminating or unready, and not a backend yet */
		}
	}
	/* Backends in scope that the list no longer has go. */
	for (int i = 0; i < m->nbe; i++) {
		if (m->be[i].removed == -1)
			m->be[i].removed = 0;
		else if (in_scope(m->be[i].be.track, only_track)) {
			m->be[i].removed = 1;
			c->removed++;
		}
	}
	/* Tracks that appear start at weight 0. */
	for (int i = 0; i < m->nbe; i++) {
		if (m->be[i].removed || model_track(m, m->be[i].be.track))
			continue;
		if (!model_track_add(m, m->be[i].be.track, 0))
			return l4s_err(ENOMEM, "out of memory");
		c->tracks_added++;
	}
	return 0;
}

void reconcile_prune_tracks(struct model *m, struct reconcile *r)
{
	for (int t = 0; t < m->ntr; t++) {
		int used = 0;

		for (int i = 0; i < m->nbe; i++)
			if (!m->be[i].removed && !strcmp(m->be[i].be.track, m->tr[t].name))
				used = 1;
		if (!used && !m->tr[t].removed) { /* a track without backends is noise */
			m->tr[t].removed = 1;
			r->c.tracks_removed++;
		}
	}
}

int reconcile_changed(const struct reconcile *r)
{
	const struct reconcile_counts *c = &r->c;

	return c->added || c->drained || c->restored || c->removed || c->moved ||
	       c->tracks_added || c->tracks_removed;
}

void reconcile_free(struct reconcile *r)
{
	free(r->newids);
	r->newids = NULL;
	r->nnew = 0;
}
