// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "parse.h"

int parse_addr(const char *s, struct l4s_addr *a, __u8 *family)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->addr[0]) == 1) {
		*family = L4S_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		*family = L4S_AF_INET6;
		return 0;
	}
	return l4s_err(EINVAL, "address \"%s\" is wrong: not an IPv4 or IPv6 address", s);
}

int parse_port(const char *s, __u16 *port)
{
	char *end;
	unsigned long v;

	if (!*s || !isdigit((unsigned char)*s))
		return l4s_err(EINVAL, "port \"%s\" is wrong: expected a number from 1 to 65535", s);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return l4s_err(EINVAL, "port \"%s\" is wrong: expected a number from 1 to 65535", s);
	*port = (__u16)v;
	return 0;
}

int parse_port_or_name(const char *what, const char *s, __u16 *port)
{
	if (!*s)
		return l4s_err(EINVAL, "%s \"\" is wrong: expected a port number or a port name",
			       what);
	if (strspn(s, "0123456789") != strlen(s))
		return 0; /* a name */
	if (strlen(s) > 5 || strtoul(s, NULL, 10) < 1 || strtoul(s, NULL, 10) > 65535)
		return l4s_err(EINVAL, "%s \"%s\" is wrong: a port number is 1 to 65535", what, s);
	*port = (__u16)strtoul(s, NULL, 10);
	return 1;
}

int addr_check(const struct l4s_addr *a, __u8 family)
{
	static const __u8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const __u8 *b = (const __u8 *)a->addr;
	char buf[L4S_ADDRSTRLEN];
	const char *why = NULL;

	if (family == L4S_AF_INET) {
		__u32 v = ntohl(a->addr[0]);

		if (v == 0)
			why = "the unspecified address";
		else if (v == 0xffffffffu)
			why = "the broadcast address";
		else if ((v >> 28) == 0xe)
			why = "a multicast address (224.0.0.0/4)";
	} else {
		static const __u8 zero[16];

		if (!memcmp(b, zero, 16))
			why = "the unspecified address";
		else if (b[0] == 0xff)
			why = "a multicast address (ff00::/8)";
		else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
			why = "a link-local address (fe80::/10), which needs a zone";
		else if (!memcmp(b, mapped, sizeof(mapped)))
			why = "an IPv4-mapped address (::ffff:0:0/96)";
	}
	if (!why)
		return 0;
	l4s_err(EINVAL, "address %s is wrong: %s is not a service, backend or node address",
		fmt_addr(buf, a, family), why);
	if (family == L4S_AF_INET6 && !memcmp(b, mapped, sizeof(mapped)))
		l4s_hint("write the IPv4 address as it is, in an IPv4 service");
	return -EINVAL;
}

/* Label value syntax (without its length): [A-Za-z0-9._-], first and last alnum. */
static int label_value_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return 0;
	return 1;
}

int track_name(char out[L4S_NAME_LEN], const char *value)
{
	size_t n = strlen(value);
	__u32 h = 2166136261u; /* FNV-1a, as svc_k8s_name */

	if (n < L4S_NAME_LEN) {
		if (parse_name("track", value))
			return -EINVAL;
		memcpy(out, value, n + 1);
		return 0;
	}
	if (n > L4S_LABEL_VALUE_MAX || !label_value_ok(value))
		return l4s_err(EINVAL, "track \"%.70s\" is wrong: expected a label value (at most "
			       "%d letters, digits, '.', '-' and '_', starting and ending with a "
			       "letter or digit)", value, L4S_LABEL_VALUE_MAX);
	for (const char *p = value; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, L4S_NAME_LEN, "%.22s~%08x", value, h);
	return 1;
}

int parse_addr_port(const char *s, struct l4s_addr *a, __u8 *family, __u16 *port)
{
	char buf[128];
	const char *host, *p;
	size_t n = strlen(s);

	if (n >= sizeof(buf))
		return l4s_err(EINVAL, "\"%.40s...\" is wrong: too long for ADDR:PORT", s);
	memcpy(buf, s, n + 1);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':') {
			l4s_err(EINVAL, "\"%s\" is wrong: IPv6 is written [ADDR]:PORT", s);
			l4s_hint("for example [fd00::10]:80");
			return -EINVAL;
		}
		*close = 0;
		host = buf + 1;
		p = close + 2;
		if (parse_addr(host, a, family))
			return -EINVAL;
		if (*family != L4S_AF_INET6)
			return l4s_err(EINVAL, "\"%s\" is wrong: brackets are for IPv6 addresses", s);
	} else {
		char *colon = strrchr(buf, ':');

		if (!colon) {
			l4s_err(EINVAL, "\"%s\" is wrong: expected ADDR:PORT", s);
			l4s_hint("for example 10.0.0.1:80 or [fd00::1]:80");
			return -EINVAL;
		}
		if (strchr(buf, ':') != colon) {
			l4s_err(EINVAL, "\"%s\" is wrong: IPv6 is written [ADDR]:PORT", s);
			l4s_hint("for example [fd00::10]:80");
			return -EINVAL;
		}
		*colon = 0;
		host = buf;
		p = colon + 1;
		if (parse_addr(host, a, family))
			return -EINVAL;
	}
	if (addr_check(a, *family))
		return -EINVAL;
	return parse_port(p, port);
}

int parse_frontend(const char *s, struct l4s_frontend_key *k)
{
	char buf[128];
	char *slash;
	__u16 port;
	__u8 family;
	size_t n = strlen(s);

	memset(k, 0, sizeof(*k));
	if (n >= sizeof(buf))
		return l4s_err(EINVAL, "frontend \"%.40s...\" is wrong: too long", s);
	memcpy(buf, s, n + 1);
	slash = strrchr(buf, '/');
	if (!slash) {
		l4s_err(EINVAL, "frontend \"%s\" is wrong: expected VIP:PORT/tcp or VIP:PORT/udp", s);
		l4s_hint("for example 10.96.0.10:80/tcp or [fd00::10]:53/udp");
		return -EINVAL;
	}
	*slash = 0;
	if (!strcasecmp(slash + 1, "tcp"))
		k->proto = IPPROTO_TCP;
	else if (!strcasecmp(slash + 1, "udp"))
		k->proto = IPPROTO_UDP;
	else
		return l4s_err(EINVAL, "frontend \"%s\" is wrong: protocol \"%s\" is not tcp or udp", s,
			       slash + 1);
	if (parse_addr_port(buf, &k->vip, &family, &port))
		return -EINVAL;
	k->family = family;
	k->port = htons(port);
	return 0;
}

int parse_weight(const char *s, __u64 *w)
{
	__u64 ip = 0, frac = 0, scale = L4S_WEIGHT_ONE;
	const char *p = s;
	int digits = 0;

	if (!*p)
		return l4s_err(EINVAL, "weight \"\" is wrong: empty");
	for (; isdigit((unsigned char)*p); p++, digits++) {
		ip = ip * 10 + (__u64)(*p - '0');
		if (ip > L4S_WEIGHT_MAX / L4S_WEIGHT_ONE)
			goto range;
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			if (scale == 1)
				return l4s_err(EINVAL,
					       "weight \"%s\" is wrong: at most 6 decimal places", s);
			scale /= 10;
			frac += (__u64)(*p - '0') * scale;
		}
	}
	if (*p || !digits) {
		l4s_err(EINVAL, "weight \"%s\" is wrong: expected a non-negative decimal number", s);
		l4s_hint("weights are relative, for example old=99 new=1 or new=0.5");
		return -EINVAL;
	}
	*w = ip * L4S_WEIGHT_ONE + frac;
	if (*w > L4S_WEIGHT_MAX)
		goto range;
	return 0;
range:
	return l4s_err(ERANGE, "weight \"%s\" is wrong: at most %llu", s,
		       (unsigned long long)(L4S_WEIGHT_MAX / L4S_WEIGHT_ONE));
}

int parse_name(const char *what, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= L4S_NAME_LEN)
		return l4s_err(EINVAL, "%s name \"%s\" is wrong: must be 1 to %d characters", what, s,
			       L4S_NAME_LEN - 1);
	if (!isalnum((unsigned char)s[0]))
		return l4s_err(EINVAL, "%s name \"%s\" is wrong: must start with a letter or digit",
			       what, s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* '~': tracks shortened from long label values (track_name) */
		if (!isalnum(c) && c != '-' && c != '_' && c != '.' &&
		    !(c == '~' && !strcmp(what, "track")))
			return l4s_err(EINVAL,
				       "%s name \"%s\" is wrong: only letters, digits, '.', '-' and '_'",
				       what, s);
	}
	return 0;
}

int parse_u64(const char *what, const char *s, __u64 min, __u64 max, __u64 *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		goto bad;
	x = strtoull(s, &end, 10);
	if (errno || *end || x < min || x > max)
		goto bad;
	*v = x;
	return 0;
bad:
	return l4s_err(EINVAL, "%s \"%s\" is wrong: expected a number from %llu to %llu", what, s,
		       (unsigned long long)min, (unsigned long long)max);
}

const char *fmt_addr(char *buf, const struct l4s_addr *a, __u8 family)
{
	inet_ntop(family == L4S_AF_INET6 ? AF_INET6 : AF_INET,
		  family == L4S_AF_INET6 ? (const void *)a->addr : (const void *)&a->addr[0], buf,
		  L4S_ADDRSTRLEN);
	return buf;
}

const char *fmt_addr_port(char *buf, const struct l4s_addr *a, __u8 family, __u16 port)
{
	char tmp[L4S_ADDRSTRLEN];

	fmt_addr(tmp, a, family);
	snprintf(buf, L4S_ADDRSTRLEN, family == L4S_AF_INET6 ? "[%s]:%u" : "%s:%u", tmp, port);
	return buf;
}

const char *proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

const char *fmt_frontend(char *buf, const struct l4s_frontend_key *k)
{
	char tmp[L4S_ADDRSTRLEN];

	fmt_addr_port(tmp, &k->vip, k->family, ntohs(k->port));
	snprintf(buf, L4S_ADDRSTRLEN + 8, "%s/%s", tmp, proto_name(k->proto));
	return buf;
}

const char *fmt_weight(char *buf, __u64 w)
{
	__u64 ip = w / L4S_WEIGHT_ONE, frac = w % L4S_WEIGHT_ONE;
	int len;

	if (!frac) {
		snprintf(buf, 32, "%llu", (unsigned long long)ip);
		return buf;
	}
	len = snprintf(buf, 32, "%llu.%06llu", (unsigned long long)ip, (unsigned long long)frac);
	while (len > 0 && buf[len - 1] == '0')
		buf[--len] = 0;
	return buf;
}

int is_prime(__u32 n)
{
	if (n < 2)
		return 0;
	for (__u32 d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

/* The first @n characters of @s as a decimal, fixed point (L4S_WEIGHT_ONE); no message. */
static int decimal_n(const char *s, size_t n, __u64 *v)
{
	char num[32];

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = 0;
	return parse_weight(num, v) ? -1 : 0;
}

int parse_duration_ms(const char *what, const char *s, __u64 *ms)
{
	static const struct {
		const char *suffix;
		__u64 ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "", 1000 } };
	size_t n = strspn(s, "0123456789.");
	__u64 v;

	if (decimal_n(s, n, &v)) /* in millionths */
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].ms)
			goto bad;
		*ms = v * units[i].ms / L4S_WEIGHT_ONE;
		if (*ms == 0 || *ms > 7 * 24 * 3600000ull)
			goto bad;
		return 0;
	}
bad:
	l4s_err_clear();
	return l4s_err(EINVAL, "%s \"%s\" is wrong: expected a duration such as 500ms, 30s, 5m "
		       "(at most 7 days)", what, s);
}

int parse_ratio_ppm(const char *what, const char *s, __u32 *ppm)
{
	size_t n = strlen(s);
	__u64 v;
	int pct = n > 0 && s[n - 1] == '%';

	if (decimal_n(s, pct ? n - 1 : n, &v))
		goto bad;
	if (pct)
		v /= 100;
	if (v > L4S_WEIGHT_ONE)
		goto bad;
	*ppm = (__u32)v;
	return 0;
bad:
	l4s_err_clear();
	return l4s_err(EINVAL, "%s \"%s\" is wrong: expected a ratio from 0 to 1 (0.05) or a "
		       "percentage (5%%)", what, s);
}

int parse_steps(const char *s, __u32 *steps, int max, int *n)
{
	const char *p = s;

	*n = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		__u64 v;

		if (decimal_n(p, len, &v) || v == 0 || v > 100 * L4S_WEIGHT_ONE)
			goto bad;
		if (*n == max) {
			l4s_err_clear();
			return l4s_err(E2BIG, "steps \"%s\" are wrong: at most %d steps", s, max);
		}
		steps[*n] = (__u32)(v / 100); /* percent -> parts per million */
		if (*n > 0 && steps[*n] <= steps[*n - 1]) {
			l4s_err_clear();
			return l4s_err(EINVAL, "steps \"%s\" are wrong: each step must be larger "
				       "than the one before", s);
		}
		(*n)++;
		p += len;
		if (*p == ',' && *++p == 0)
			goto bad;
	}
	if (*n == 0)
		goto bad;
	return 0;
bad:
	l4s_err_clear();
	return l4s_err(EINVAL, "steps \"%s\" are wrong: expected percentages of traffic for "
		       "TRACK, comma-separated and increasing, each above 0 and at most 100 "
		       "(e.g. 1,5,25,50,100)", s);
}

static const char *const reason_names[L4S_R_MAX] = {
	[L4S_R_PASS_NOT_IP] = "pass_not_ip",
	[L4S_R_PASS_NOT_SERVICE] = "pass_not_service",
	[L4S_R_PASS_FRAGMENT] = "pass_fragment",
	[L4S_R_PASS_MALFORMED] = "pass_malformed",
	[L4S_R_PASS_PROTO] = "pass_other_protocol",
	[L4S_R_DROP_TRUNCATED] = "drop_truncated",
	[L4S_R_DROP_MALFORMED] = "drop_malformed",
	[L4S_R_DROP_NO_BACKEND] = "drop_no_backend",
	[L4S_R_DROP_NO_TABLE] = "drop_no_table",
	[L4S_R_TX_REDIRECT] = "tx_redirect",
	[L4S_R_TX_KERNEL] = "tx_kernel",
	[L4S_R_TX_KERNEL_NO_NEIGH] = "tx_kernel_no_neigh",
	[L4S_R_TX_KERNEL_NOT_TARGET] = "tx_kernel_not_target",
	[L4S_R_FLOW_HIT] = "flow_hit",
	[L4S_R_FLOW_NEW] = "flow_new",
	[L4S_R_FLOW_RECHOSEN] = "flow_rechosen",
	[L4S_R_REPLY_NAT] = "reply_nat",
	[L4S_R_DROP_ADJUST] = "drop_rewrite_failed",
	[L4S_R_FLOW_LOST] = "flow_lost",
	[L4S_R_SOCK_FWD] = "sock_forward",
	[L4S_R_SOCK_REV] = "sock_reverse",
	[L4S_R_SOCK_NO_BACKEND] = "sock_no_backend",
	[L4S_R_REPLY_STALE] = "reply_stale",
	[L4S_R_SNAT_NEW] = "snat_new",
	[L4S_R_SNAT_REPLY] = "snat_reply",
	[L4S_R_DROP_SNAT_EXHAUSTED] = "drop_snat_exhausted",
	[L4S_R_DROP_SNAT_NO_ADDR] = "drop_snat_no_address",
	[L4S_R_ICMP_NAT] = "icmp_nat",
	[L4S_R_DSR_NEW] = "dsr_new",
	[L4S_R_DSR_REPLY] = "dsr_reply",
	[L4S_R_REPLY_REPAIRED] = "reply_repaired",
	[L4S_R_NO_SLOW] = "slow_path_missing",
};

const char *reason_name(unsigned int r)
{
	return r < L4S_R_MAX && reason_names[r] ? reason_names[r] : "unknown";
}

static const char *const mode_names[L4S_MODE_MAX] = {
	[L4S_MODE_AUTO] = "auto",
	[L4S_MODE_NAT] = "nat",
	[L4S_MODE_SNAT] = "snat",
	[L4S_MODE_DSR] = "dsr",
};

const char *mode_name(unsigned int m)
{
	return m < L4S_MODE_MAX ? mode_names[m] : "unknown";
}

int parse_mode(const char *s, __u8 *mode)
{
	for (unsigned int m = 0; m < L4S_MODE_MAX; m++)
		if (!strcmp(s, mode_names[m])) {
			*mode = (__u8)m;
			return 0;
		}
	l4s_err(EINVAL, "mode \"%s\" is wrong: expected auto, nat, snat or dsr", s);
	l4s_hint("auto: nat for backends on this node, snat for the others");
	return -EINVAL;
}
