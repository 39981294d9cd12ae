// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include "err.h"

/* Per thread: the agent lists and watches from several threads. */
static __thread char errbuf[512];
static __thread char hintbuf[512];
int l4s_json;
int l4s_debug;

int l4s_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	hintbuf[0] = 0;
	return err > 0 ? -err : err;
}

void l4s_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hintbuf, sizeof(hintbuf), fmt, ap);
	va_end(ap);
}

const char *l4s_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

const char *l4s_errhint(void)
{
	return hintbuf[0] ? hintbuf : NULL;
}

void l4s_err_clear(void)
{
	errbuf[0] = 0;
	hintbuf[0] = 0;
}

void l4s_note(const char *fmt, ...)
{
	va_list ap;

	if (l4s_json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
