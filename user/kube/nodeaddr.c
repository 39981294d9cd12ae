// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The node's addresses for nodePort frontends (see nodeaddr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "err.h"
#include "nodeaddr.h"
#include "parse.h"

static void mask_to(struct l4s_addr *a, __u8 family, unsigned int prefix)
{
	__u8 *b = (__u8 *)a->addr;
	unsigned int bits = family == L4S_AF_INET ? 32 : 128;

	for (unsigned int i = prefix; i < bits; i++)
		b[i / 8] &= (__u8)~(0x80u >> (i % 8));
}

int nodeaddr_cidr_contains(const struct nodeaddr_cidr *cidr, const struct l4s_addr *a,
			   __u8 family)
{
	struct l4s_addr m = *a;

	if (family != cidr->family)
		return 0;
	mask_to(&m, family, cidr->prefix);
	return !memcmp(&m, &cidr->net, sizeof(m));
}

int nodeaddr_filter_parse(const char *s, struct nodeaddr_filter *f)
{
	char buf[1024], *save = NULL;

	memset(f, 0, sizeof(*f));
	if (!s || !*s || !strcmp(s, "primary")) {
		f->primary = 1;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return l4s_err(EINVAL, "--nodeport-addresses is too long (at most %d CIDRs)",
			       NODEADDR_CIDRS);
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct nodeaddr_cidr *c = &f->c[f->n];
		char *slash = strchr(t, '/'), *end;
		unsigned long p;

		if (f->n == NODEADDR_CIDRS)
			return l4s_err(E2BIG, "--nodeport-addresses: more than %d CIDRs",
				       NODEADDR_CIDRS);
		if (!strcmp(t, "primary"))
			return l4s_err(EINVAL, "--nodeport-addresses \"%s\" is wrong: primary "
				       "stands alone (it cannot be mixed with CIDRs)", s);
		if (!slash)
			goto bad;
		*slash = 0;
		if (parse_addr(t, &c->net, &c->family))
			goto bad;
		errno = 0;
		p = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end ||
		    p > (c->family == L4S_AF_INET ? 32u : 128u))
			goto bad;
		*slash = '/';
		c->prefix = (__u8)p;
		mask_to(&c->net, c->family, c->prefix);
		f->n++;
		continue;
bad:
		if (slash)
			*slash = '/';
		l4s_err_clear();
		l4s_err(EINVAL, "--nodeport-addresses: \"%s\" is wrong: expected a CIDR such as "
			"10.0.0.0/8 or fd00::/64", t);
		l4s_hint("give CIDRs separated by commas, or primary (the Node's InternalIP "
			 "of each family)");
		return -EINVAL;
	}
	if (!f->n)
		return l4s_err(EINVAL, "--nodeport-addresses \"%s\" is wrong: no CIDR in it", s);
	return 0;
}

static int add(struct nodeaddr *out, const struct l4s_addr *a, __u8 family)
{
	for (int i = 0; i < out->n; i++)
		if (out->family[i] == family && !memcmp(&out->a[i], a, sizeof(*a)))
			return 0;
	if (out->n == NODEADDR_MAX)
		return l4s_err(E2BIG, "more than %d node addresses", NODEADDR_MAX);
	out->a[out->n] = *a;
	out->family[out->n++] = family;
	return 0;
}

int nodeaddr_from_node(json_t *node, struct nodeaddr *out)
{
	json_t *addrs = json_object_get(json_object_get(node, "status"), "addresses"), *x;
	static const char *const types[] = { "InternalIP", "ExternalIP" };
	static const __u8 fams[] = { L4S_AF_INET, L4S_AF_INET6 };
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(node))
		return l4s_err(EINVAL, "Node: expected a JSON object");
	if (addrs && !json_is_array(addrs))
		return l4s_err(EINVAL, "Node status.addresses: expected a list");
	/* Every entry is checked, then the first of each family is taken. */
	json_array_foreach(addrs, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		const char *addr = json_string_value(json_object_get(x, "address"));
		struct l4s_addr a;
		__u8 fam;

		if (!type || !addr)
			return l4s_err(EINVAL, "Node status.addresses[%zu]: expected type and "
				       "address strings", i);
		if (strcmp(type, "InternalIP") && strcmp(type, "ExternalIP"))
			continue; /* Hostname, InternalDNS, ExternalDNS */
		if (parse_addr(addr, &a, &fam) || addr_check(&a, fam))
			return l4s_err_prefix("Node status.addresses[%zu].address", i);
	}
	for (size_t f = 0; f < 2; f++)
		for (size_t t = 0; t < 2; t++) {
			int found = 0;

			json_array_foreach(addrs, i, x) {
				const char *type = json_string_value(json_object_get(x, "type"));
				struct l4s_addr a;
				__u8 fam;

				if (strcmp(type, types[t]) ||
				    parse_addr(json_string_value(json_object_get(x, "address")),
					       &a, &fam) || fam != fams[f])
					continue;
				add(out, &a, fam);
				found = 1;
				break;
			}
			if (found)
				break; /* an InternalIP of the family: no ExternalIP */
		}
	return 0;
}

static int is_loopback(const struct l4s_addr *a, __u8 family)
{
	static const __u8 one[16] = { [15] = 1 };

	if (family == L4S_AF_INET)
		return (ntohl(a->addr[0]) >> 24) == 127;
	return !memcmp(a->addr, one, sizeof(one));
}

int nodeaddr_match(const struct nodeaddr_filter *f, const struct ifaddrs *list,
		   struct nodeaddr *out)
{
	memset(out, 0, sizeof(*out));
	for (const struct ifaddrs *i = list; i; i = i->ifa_next) {
		struct l4s_addr a = {};
		__u8 fam;
		int want = 0;

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.addr[0] = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
			fam = L4S_AF_INET;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(a.addr, &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
			fam = L4S_AF_INET6;
		} else {
			continue;
		}
		if (addr_check(&a, fam)) { /* fe80::/10 and the like: not a frontend */
			l4s_err_clear();
			continue;
		}
		for (int c = 0; c < f->n && !want; c++)
			want = nodeaddr_cidr_contains(&f->c[c], &a, fam) &&
			       (!is_loopback(&a, fam) || f->c[c].prefix > 0);
		if (want && add(out, &a, fam))
			return -E2BIG;
	}
	return 0;
}

int nodeaddr_local(const struct nodeaddr_filter *f, struct nodeaddr *out)
{
	struct ifaddrs *list;
	int err;

	if (getifaddrs(&list))
		return l4s_err(errno, "cannot list the node's addresses: %s", strerror(errno));
	err = nodeaddr_match(f, list, out);
	freeifaddrs(list);
	return err;
}
