/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Errors below the command layer: functions return 0 or -errno and leave a
 * message (what failed: why) and an optional hint here; only the command layer
 * prints them.
 */
#ifndef L4S_ERR_H
#define L4S_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Record the error message; returns -@err so callers can `return l4s_err(...)`. */
int l4s_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Put "PREFIX: " before the current message (keeping its hint), for a caller that
 * says where an error from below happened: `return l4s_err_prefix("services[%d]", i);`.
 * Returns the current error (-errno; -EIO when none was recorded).
 */
int l4s_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void l4s_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *l4s_errmsg(void);
const char *l4s_errhint(void);
void l4s_err_clear(void);

/*
 * Copy @src to @dst (at most @size bytes with the NUL) so it is safe to show:
 * bytes that are not UTF-8 become \xNN; with @ctl, control characters too
 * (\n, \r, \t, \e, \xNN, C1 as \u00NN), so untrusted text cannot forge lines or
 * drive a terminal. Returns the length written.
 */
size_t l4s_escape(char *dst, size_t size, const char *src, int ctl);

/* Messages for the user: notes go to stderr in human mode, never in JSON mode. */
extern int l4s_json;
extern int l4s_debug;
void l4s_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
