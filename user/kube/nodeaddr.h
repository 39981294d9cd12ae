/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node's addresses a Service's nodePort is reachable on, the way kube-proxy
 * chooses them:
 *
 *   by default ("primary"): the node's primary address of each family, from its Node
 *     object: the first InternalIP of the family, else its first ExternalIP
 *     (kube-proxy's and the kubelet's GetNodeHostIPs);
 *   with --nodeport-addresses CIDR[,CIDR...]: every address of a local interface that
 *     one of the CIDRs contains (kube-proxy's --nodeport-addresses). Loopback
 *     addresses only when a CIDR other than 0.0.0.0/0 or ::/0 contains them; addresses
 *     that cannot be a frontend (fe80::/10 needs a zone; see addr_check) never.
 *
 * nodeaddr_from_node and nodeaddr_match are pure (no I/O); nodeaddr_local reads the
 * interfaces with getifaddrs(3) of the calling thread's network namespace.
 */
#ifndef L4S_NODEADDR_H
#define L4S_NODEADDR_H

#include <ifaddrs.h>
#include <jansson.h>
#include "l4split.h"

#define NODEADDR_MAX   32
#define NODEADDR_CIDRS 16

struct nodeaddr {
	struct l4s_addr a[NODEADDR_MAX];
	__u8 family[NODEADDR_MAX]; /* L4S_AF_INET or L4S_AF_INET6 */
	int n;
};

struct nodeaddr_cidr {
	struct l4s_addr net; /* host bits cleared */
	__u8 family;
	__u8 prefix;
};

/* What --nodeport-addresses says: "primary" (or empty): the Node object's primary
 * addresses; otherwise CIDRs matched against local interfaces. */
struct nodeaddr_filter {
	int primary;
	struct nodeaddr_cidr c[NODEADDR_CIDRS];
	int n;
};

/* Parse "primary", "" or NULL (primary), or "10.0.0.0/8,fd00::/64". 0, or -EINVAL with
 * a message naming the CIDR that is wrong. */
int nodeaddr_filter_parse(const char *s, struct nodeaddr_filter *f);

/* The primary address of each family from a Node object's status.addresses. 0 (n may be
 * 0: a node without addresses yet), or -EINVAL with a message naming the field. */
int nodeaddr_from_node(json_t *node, struct nodeaddr *out);

/* The addresses of @list (a getifaddrs list, or one a test builds) that @f's CIDRs
 * contain, each once, in list order. 0 or -E2BIG (more than NODEADDR_MAX). */
int nodeaddr_match(const struct nodeaddr_filter *f, const struct ifaddrs *list,
		   struct nodeaddr *out);

/* nodeaddr_match on this network namespace's interfaces. 0 or -errno with a message. */
int nodeaddr_local(const struct nodeaddr_filter *f, struct nodeaddr *out);

/* Does @cidr contain @a? */
int nodeaddr_cidr_contains(const struct nodeaddr_cidr *cidr, const struct l4s_addr *a,
			   __u8 family);

#endif
