// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"

#define ERR_LEN 512

/* Per thread: the agent lists and watches from several threads. */
static __thread char errbuf[ERR_LEN];
static __thread char hintbuf[ERR_LEN];
static __thread int errcode;
int l4s_json;
int l4s_debug;

/*
 * Every setter formats into a scratch buffer first and then copies it in, so an
 * argument that points at the current message or hint (l4s_errmsg(),
 * l4s_errhint()) is read whole before it is overwritten.
 */
static void set_buf(char *buf, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void set_buf(char *buf, const char *fmt, va_list ap)
{
	char tmp[ERR_LEN];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(buf, tmp, sizeof(tmp));
}

int l4s_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_buf(errbuf, fmt, ap);
	va_end(ap);
	hintbuf[0] = 0;
	errcode = err > 0 ? -err : err;
	return errcode;
}

int l4s_err_prefix(const char *fmt, ...)
{
	char pre[ERR_LEN], tmp[2 * ERR_LEN + 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof(tmp), "%s: %s", pre, l4s_errmsg());
	tmp[sizeof(errbuf) - 1] = 0;
	memcpy(errbuf, tmp, sizeof(errbuf));
	if (!errcode)
		errcode = -EIO;
	return errcode;
}

void l4s_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_buf(hintbuf, fmt, ap);
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
	errcode = 0;
}

/* Length of the valid UTF-8 sequence at @s (1-4), 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t l4s_escape(char *dst, size_t size, const char *src, int ctl)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	if (!size)
		return 0;
	while (*s) {
		char esc[16];
		int n = utf8_len(s);
		size_t len;

		if (n == 1 && ctl && (*s < 0x20 || *s == 0x7f)) {
			switch (*s) {
			case '\n': len = (size_t)snprintf(esc, sizeof(esc), "\\n"); break;
			case '\r': len = (size_t)snprintf(esc, sizeof(esc), "\\r"); break;
			case '\t': len = (size_t)snprintf(esc, sizeof(esc), "\\t"); break;
			case 033: len = (size_t)snprintf(esc, sizeof(esc), "\\e"); break;
			default: len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s);
			}
		} else if (n == 2 && ctl && s[0] == 0xc2 && s[1] < 0xa0) {
			/* C1 controls (U+0080..U+009F): CSI and friends for some terminals */
			len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[1]);
		} else if (n == 0) {
			len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s);
			n = 1;
		} else {
			memcpy(esc, s, (size_t)n);
			len = (size_t)n;
		}
		if (o + len >= size)
			break;
		memcpy(dst + o, esc, len);
		o += len;
		s += n;
	}
	dst[o] = 0;
	return o;
}

void l4s_note(const char *fmt, ...)
{
	char msg[2048], out[4096];
	size_t len;
	va_list ap;

	if (l4s_json)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A note is one line: a newline inside it (from a name, a file) is shown escaped. */
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = 0;
	l4s_escape(out, sizeof(out), msg, 1);
	fprintf(stderr, "%s\n", out);
}
