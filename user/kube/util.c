// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Shared pieces of the agent's parts (see util.h). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util.h"

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nap_or_stop(volatile int *stop, int stop_fd, double seconds)
{
	double end = mono_now() + seconds;

	while (!(stop && *stop)) {
		struct pollfd p = { .fd = stop_fd, .events = POLLIN };
		double left = end - mono_now();

		if (left <= 0)
			break;
		poll(&p, stop_fd >= 0 ? 1 : 0, (int)(left * 1000) + 1);
	}
}

size_t http_body_cb(char *p, size_t sz, size_t nm, void *ud)
{
	struct http_body *b = ud;
	size_t n = sz * nm;
	char *np;

	if (b->len + n > (b->max ? b->max : (size_t)64 << 20))
		return 0;
	np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, p, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

char *url_encode(const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) || (keep && strchr(keep, *p))) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}
