/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Errors below the command layer: functions return 0 or -errno and leave a
 * message (what failed: why) and an optional hint here; only the command layer
 * prints them.
 */
#ifndef L4S_ERR_H
#define L4S_ERR_H

#include <stdarg.h>

/* Record the error message; returns -@err so callers can `return l4s_err(...)`. */
int l4s_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void l4s_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *l4s_errmsg(void);
const char *l4s_errhint(void);
void l4s_err_clear(void);

/* Messages for the user: notes go to stderr in human mode, never in JSON mode. */
extern int l4s_json;
extern int l4s_debug;
void l4s_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
