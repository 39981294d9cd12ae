/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Small pieces every long-running part of the agent uses: the monotonic clock, a sleep
 * that ends when its owner stops, an HTTP body collected by libcurl, and a URL query
 * value's percent-encoding.
 */
#ifndef L4S_KUBE_UTIL_H
#define L4S_KUBE_UTIL_H

#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double mono_now(void);
/* Sleep @seconds, or less: it ends when *@stop is set and @stop_fd (-1: none) turns
 * readable (an owner's stop pipe, which it writes once and never reads). */
void nap_or_stop(volatile int *stop, int stop_fd, double seconds);

/* A response body grown by http_body_cb (libcurl's CURLOPT_WRITEFUNCTION with the body
 * as CURLOPT_WRITEDATA): NUL-terminated; @max bytes at most (0: 64 MiB), beyond which
 * the transfer fails. */
struct http_body {
	char *p;
	size_t len, max;
};
size_t http_body_cb(char *p, size_t sz, size_t nm, void *ud);

/* RFC 3986 percent-encoding of @s, keeping unreserved characters and those in @keep
 * (NULL: none): a malloc'd string, or NULL. */
char *url_encode(const char *s, const char *keep);

#endif
