/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Parsers for what users type: addresses, frontends, weights, names. Pure. */
#ifndef L4S_UPARSE_H
#define L4S_UPARSE_H

#include <stdint.h>
#include "l4split.h"

/* ADDR:PORT, with IPv6 as [ADDR]:PORT. */
int parse_addr_port(const char *s, struct l4s_addr *a, __u8 *family, __u16 *port);
/* ADDR only (IPv4 or IPv6, no brackets needed). */
int parse_addr(const char *s, struct l4s_addr *a, __u8 *family);
/* VIP:PORT/tcp|udp */
int parse_frontend(const char *s, struct l4s_frontend_key *k);
/* Non-negative decimal weight, e.g. 99, 0.5, 99.5 -> fixed point (L4S_WEIGHT_ONE). */
int parse_weight(const char *s, __u64 *w);
/* Service or track name: 1..31 of [A-Za-z0-9._-], starting with alnum. */
int parse_name(const char *what, const char *s);
/* Port 1..65535. */
int parse_port(const char *s, __u16 *port);
/*
 * A target port as sync's --port and a Service's targetPort give it: a string of digits
 * is a number and must be 1..65535 (error otherwise); anything else non-empty is a port
 * name. 1: a number (in @port), 0: a name, -EINVAL with a message.
 */
int parse_port_or_name(const char *what, const char *s, __u16 *port);
/*
 * Is @a usable as a VIP, a backend or a node address? Refuses the unspecified address
 * (0.0.0.0, ::), 255.255.255.255, multicast (224.0.0.0/4, ff00::/8), IPv6 link-local
 * (fe80::/10: meaningless without a zone, which l4split cannot carry) and IPv4-mapped
 * IPv6 (::ffff:0:0/96: write the IPv4 address). IPv4 link-local (169.254.0.0/16) is
 * allowed: it needs no zone, and node-local services use it (NodeLocal DNSCache's
 * 169.254.20.10). 0 or -EINVAL with a message naming the address.
 */
int addr_check(const struct l4s_addr *a, __u8 family);
/*
 * Track name from a Kubernetes label value (or a weights annotation naming one): values
 * of up to L4S_NAME_LEN - 1 bytes are taken as they are; longer ones (label values go to
 * 63) become their first 22 bytes + "~" + 8 hex digits of an FNV-1a hash of the whole
 * value, the same on every node ('~' is never in a label value, so a shortened name
 * cannot equal a real one). 0: as is, 1: shortened, -EINVAL: not a usable value.
 */
#define L4S_LABEL_VALUE_MAX 63
int track_name(char out[L4S_NAME_LEN], const char *value);
/* Unsigned integer in [min, max]. */
int parse_u64(const char *what, const char *s, __u64 min, __u64 max, __u64 *v);
/* Duration: 500ms, 30s, 5m, 1h, or plain seconds; decimals allowed. */
int parse_duration_ms(const char *what, const char *s, __u64 *ms);
/* Ratio 0..1 (0.05) or percentage (5%) -> parts per million. */
int parse_ratio_ppm(const char *what, const char *s, __u32 *ppm);
/* Increasing percentages "1,5,25,50,100" -> parts per million, at most @max. */
int parse_steps(const char *s, __u32 *steps, int max, int *n);

/* Formatting. buf must hold at least L4S_ADDRSTRLEN. */
#define L4S_ADDRSTRLEN 64
const char *fmt_addr(char *buf, const struct l4s_addr *a, __u8 family);
const char *fmt_addr_port(char *buf, const struct l4s_addr *a, __u8 family, __u16 port);
const char *fmt_frontend(char *buf, const struct l4s_frontend_key *k);
const char *fmt_weight(char *buf, __u64 w); /* shortest decimal */
const char *proto_name(__u8 proto);
/* Name of a datapath verdict (enum l4s_reason), as stats and /metrics print it. */
const char *reason_name(unsigned int r);
/* Service modes (enum l4s_mode): auto, nat, snat, dsr. */
const char *mode_name(unsigned int m);
int parse_mode(const char *s, __u8 *mode);

int is_prime(__u32 n);

#endif
