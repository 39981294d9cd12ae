// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sample.h"

__u64 sample_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

int sample_take(struct l4s_state *st, const struct model *m, struct sample *s)
{
	s->at_ms = sample_clock_ms();
	s->nbe = 0;
	s->be = calloc((size_t)(m->nbe ? m->nbe : 1), sizeof(*s->be));
	if (!s->be)
		return -ENOMEM;
	for (int i = 0; i < m->nbe; i++) {
		struct sample_be *b = &s->be[s->nbe];

		b->id = m->be[i].id;
		b->gen = m->be[i].be.gen;
		struct l4s_sock_stats k;

		if (state_backend_stats(st, b->id, &b->c))
			continue;
		/* TCP sockets of the socket path count as flows too: sockops saw whether
		 * each one's handshake completed (its "answer"). Its UDP sockets carry no
		 * answer signal and stay out of the health judgement. */
		if (!state_sock_stats(st, b->id, &k)) {
			b->c.flows += k.tcp_flows;
			b->c.answered += k.tcp_established;
		}
		s->nbe++;
	}
	return 0;
}

void sample_free(struct sample *s)
{
	free(s->be);
	s->be = NULL;
	s->nbe = 0;
}

const struct l4s_backend_stats *sample_find(const struct sample *s, __u32 id, __u32 gen)
{
	for (int i = 0; i < s->nbe; i++)
		if (s->be[i].id == id && s->be[i].gen == gen)
			return &s->be[i].c;
	return NULL;
}

void sample_delta(const struct sample *from, const struct sample *to, __u32 id, __u32 gen,
		  struct l4s_backend_stats *d)
{
	const struct l4s_backend_stats *a = sample_find(from, id, gen);
	const struct l4s_backend_stats *b = sample_find(to, id, gen);
	const __u64 *pa = (const __u64 *)a, *pb = (const __u64 *)b;
	__u64 *pd = (__u64 *)d;

	memset(d, 0, sizeof(*d));
	if (!b)
		return;
	for (size_t w = 0; w < sizeof(*d) / sizeof(__u64); w++)
		pd[w] = a && pb[w] >= pa[w] ? pb[w] - pa[w] : a ? 0 : pb[w];
}

void health_finish(struct health *h)
{
	__u64 unanswered = h->flows > h->answered ? h->flows - h->answered : 0;

	h->failed = unanswered > h->resets ? unanswered : h->resets;
	if (h->failed > h->flows)
		h->failed = h->flows;
}

__u32 health_ratio_ppm(const struct health *h)
{
	if (!h->flows)
		return 0;
	return (__u32)(h->failed * 1000000ull / h->flows);
}
