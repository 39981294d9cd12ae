// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "k8s.h"
#include "parse.h"

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* One reading of one document: the options, the result, and what the port search saw. */
struct rd {
	const struct k8s_opts *o;
	struct k8s_result *r;
	__u8 proto;          /* IPPROTO_TCP or IPPROTO_UDP */
	int by_name;         /* o->port is a port name (not a number) */
	__u16 num;           /* o->port when it is a number */
	int pods_asked;      /* pods searched for the named port */
	int pods_with_port;  /* ... and that had it */
	int slices_asked;    /* slices with endpoints searched for the named port */
	int slices_with_port; /* ... and that had it */
	char names[160];     /* names of the ports of this protocol that were there instead */
	int *slot;           /* r->ep by address and port: index + 1, 0 free (open addressing) */
	size_t nslot;        /* a power of two, at least twice r->n */
	int cap;             /* room in r->ep */
};

static const char *proto_str(__u8 proto)
{
	return proto == IPPROTO_UDP ? "UDP" : "TCP";
}

/* Is a port entry (containerPort or EndpointSlice port) of the service's protocol?
 * "protocol" defaults to TCP in both. */
static int proto_is(json_t *p, __u8 proto)
{
	const char *s = jstr(p, "protocol");

	return !strcmp(s ? s : "TCP", proto_str(proto));
}

static void add_name(struct rd *c, const char *n)
{
	size_t len = strlen(c->names), nl = strlen(n);
	const char *hit = strstr(c->names, n);

	if (!*n || (hit && (hit == c->names || hit[-1] == ' ') && (hit[nl] == ',' || !hit[nl])))
		return;
	if (len + nl + 3 < sizeof(c->names))
		snprintf(c->names + len, sizeof(c->names) - len, "%s%s", len ? ", " : "", n);
}

int k8s_port(json_t *v, const char *field, __u16 *port)
{
	json_int_t x;

	if (!v || json_is_null(v))
		return l4s_err(EINVAL, "%s: missing: expected a port number", field);
	if (json_is_string(v))
		return l4s_err(EINVAL, "%s: \"%.20s\" is a string: expected a port number (1 to "
			       "65535)", field, json_string_value(v));
	if (!json_is_integer(v))
		return l4s_err(EINVAL, "%s: not an integer: expected a port number (1 to 65535)",
			       field);
	x = json_integer_value(v);
	if (x < 1 || x > 65535)
		return l4s_err(EINVAL, "%s: %lld is not a port number (1 to 65535)", field,
			       (long long)x);
	*port = (__u16)x;
	return 0;
}

static size_t ep_hash(const struct spec_endpoint *e)
{
	const unsigned char *p = (const unsigned char *)&e->addr;
	size_t h = 2166136261u ^ e->family ^ ((size_t)e->port << 8); /* FNV-1a */

	for (size_t i = 0; i < sizeof(e->addr); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Room for twice the endpoints there are: a new table, every endpoint in it again. */
static int ep_rehash(struct rd *c)
{
	size_t n = c->nslot ? 2 * c->nslot : 64;
	int *slot = calloc(n, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	free(c->slot);
	c->slot = slot;
	c->nslot = n;
	for (int i = 0; i < c->r->n; i++) {
		size_t h = ep_hash(&c->r->ep[i]) & (n - 1);

		while (slot[h])
			h = (h + 1) & (n - 1);
		slot[h] = i + 1;
	}
	return 0;
}

static int add_ep(struct rd *c, const char *ip, __u16 port, enum ep_state state,
		  const char *track, const char *name)
{
	struct k8s_result *r = c->r;
	struct spec_endpoint ep = { .port = port, .state = state };
	struct spec_endpoint *tmp;

	if (parse_addr(ip, &ep.addr, &ep.family)) {
		l4s_err_clear();
		r->skipped_bad_addr++;
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning), "%s: address \"%.64s\" is not an "
				 "IP: skipped", name, ip);
		return 0;
	}
	if (ep.family != c->o->family) {
		r->skipped_family++;
		return 0;
	}
	if (addr_check(&ep.addr, ep.family)) {
		r->skipped_bad_addr++;
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning), "%s: %s: skipped", name,
				 l4s_errmsg());
		l4s_err_clear();
		return 0;
	}
	snprintf(ep.track, sizeof(ep.track), "%s", track);
	snprintf(ep.name, sizeof(ep.name), "%s", name);
	/*
	 * The same address:port twice (two slices, duplicate podIPs, a terminating pod whose
	 * IP a new pod already has): whatever the order, a ready one wins over a drained one;
	 * of two drained ones the first by track and name; two ready ones are one backend
	 * when on one track and an error on two (which pod's track is it?). Found by hash:
	 * a scan of the ones before was most of the reading of 5,000 pods.
	 */
	if ((size_t)r->n * 2 >= c->nslot && ep_rehash(c))
		return -ENOMEM;
	for (size_t h = ep_hash(&ep) & (c->nslot - 1);; h = (h + 1) & (c->nslot - 1)) {
		struct spec_endpoint *e;
		char buf[L4S_ADDRSTRLEN];
		int cmp;

		if (!c->slot[h]) {
			c->slot[h] = r->n + 1; /* where it goes, below */
			break;
		}
		e = &r->ep[c->slot[h] - 1];
		if (e->family != ep.family || e->port != port ||
		    memcmp(&e->addr, &ep.addr, sizeof(ep.addr)))
			continue;
		cmp = strcmp(ep.track, e->track);
		if (!cmp)
			cmp = strcmp(ep.name, e->name);
		if (e->state == EP_READY && state == EP_READY) {
			if (!strcmp(ep.track, e->track))
				return 0;
			l4s_err(EINVAL, "%s is ready in two places on different tracks: %s (track "
				"%s) and %s (track %s)", fmt_addr_port(buf, &ep.addr, ep.family, port),
				e->name, e->track, ep.name, ep.track);
			l4s_hint("one address is one backend on one track: check for stale objects "
				 "or hostNetwork pods sharing a port");
			return -EINVAL;
		}
		if (state == EP_READY || (e->state != EP_READY && cmp < 0))
			*e = ep;
		return 0;
	}
	if (r->n == c->cap) {
		int cap = c->cap ? 2 * c->cap : 16;

		tmp = realloc(r->ep, sizeof(*tmp) * (size_t)cap);
		if (!tmp)
			return -ENOMEM; /* its slot names an entry past r->n: never read */
		r->ep = tmp;
		c->cap = cap;
	}
	r->ep[r->n++] = ep;
	return 0;
}

/* The track of an object from its labels, or the fixed track, into @out. 0: it has none. */
static int track_of(struct rd *c, json_t *meta, const char *name, char out[L4S_NAME_LEN])
{
	const struct k8s_opts *o = c->o;
	struct k8s_result *r = c->r;
	const char *t;
	int rc;

	if (!o->track_label) {
		snprintf(out, L4S_NAME_LEN, "%s", o->track ? o->track : "");
		return 1;
	}
	t = jstr(json_object_get(meta, "labels"), o->track_label);
	if (!t) {
		r->skipped_no_track++;
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning), "%s has no label %s: skipped",
				 name, o->track_label);
		return 0;
	}
	rc = track_name(out, t);
	if (rc < 0) {
		l4s_err_clear();
		r->skipped_no_track++;
		snprintf(r->warning, sizeof(r->warning),
			 "%s: label %s=\"%.40s\" is not a usable track name: skipped", name,
			 o->track_label, t);
		return 0;
	}
	if (rc == 1) {
		r->tracks_shortened++;
		if (!r->note[0])
			snprintf(r->note, sizeof(r->note), "label %s=\"%s\" is longer than %d "
				 "characters: its track is \"%s\"", o->track_label, t,
				 L4S_NAME_LEN - 1, out);
	}
	return 1;
}

/* Port of a pod: the number asked for, or a containerPort of the service's protocol
 * found by name. 1: found, 0: this pod has no such port, -EINVAL: a bad containerPort. */
static int pod_port(struct rd *c, json_t *pod, const char *at, __u16 *port)
{
	json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers"), *ct, *p;
	size_t i, j;

	if (!c->o->port) {
		*port = c->o->default_port;
		return 1;
	}
	if (!c->by_name) {
		*port = c->num;
		return 1;
	}
	c->pods_asked++;
	json_array_foreach(containers, i, ct) {
		json_array_foreach(json_object_get(ct, "ports"), j, p) {
			const char *n = jstr(p, "name");
			char field[96];

			if (!n || !proto_is(p, c->proto))
				continue;
			if (strcmp(n, c->o->port)) {
				add_name(c, n);
				continue;
			}
			snprintf(field, sizeof(field), "%sspec.containers[%zu].ports[%zu].containerPort",
				 at, i, j);
			if (k8s_port(json_object_get(p, "containerPort"), field, port))
				return -EINVAL;
			c->pods_with_port++;
			return 1;
		}
	}
	return 0;
}

static int parse_pod(struct rd *c, json_t *pod, const char *at, size_t idx)
{
	struct k8s_result *r = c->r;
	json_t *meta = json_object_get(pod, "metadata"), *status = json_object_get(pod, "status");
	json_t *ips = json_object_get(status, "podIPs"), *cond, *ipo;
	const char *name = jstr(meta, "name"), *ip;
	enum ep_state state = EP_DRAIN;
	char label[80], track[L4S_NAME_LEN];
	size_t i;
	__u16 port;
	int err;

	if (!json_is_object(pod) || !json_is_object(meta)) {
		l4s_err(EINVAL, "items[%zu]: not a Pod object", idx);
		return -EINVAL;
	}
	snprintf(label, sizeof(label), "pod %s", name ? name : "(unnamed)");
	json_array_foreach(json_object_get(status, "conditions"), i, cond) {
		const char *t = jstr(cond, "type"), *s = jstr(cond, "status");

		if (t && s && !strcmp(t, "Ready") && !strcmp(s, "True"))
			state = EP_READY;
	}
	if (json_object_get(meta, "deletionTimestamp") &&
	    !json_is_null(json_object_get(meta, "deletionTimestamp")))
		state = EP_DRAIN; /* terminating: drain even if still Ready */

	if (!track_of(c, meta, label, track))
		return 0;
	err = pod_port(c, pod, at, &port);
	if (err < 0)
		return err;
	ip = jstr(status, "podIP");
	if (!json_array_size(ips) && (!ip || !*ip)) {
		r->skipped_no_ip++; /* Pending, or not scheduled yet */
		return 0;
	}
	if (!err) {
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning),
				 "%s has no %s container port named \"%s\": skipped", label,
				 proto_str(c->proto), c->o->port);
		return 0;
	}
	if (json_array_size(ips)) {
		json_array_foreach(ips, i, ipo) {
			ip = jstr(ipo, "ip");
			if (ip && (err = add_ep(c, ip, port, state, track, label)))
				return err;
		}
		return 0;
	}
	return add_ep(c, ip, port, state, track, label);
}

/* EndpointSlice conditions (discovery.k8s.io/v1 contract): ready nil means ready;
 * serving nil means ready's value; terminating nil means false. A terminating endpoint
 * drains, unless @fallback (no endpoint of the service is ready: KEP-1669) and it serves. */
enum ep_state k8s_slice_state(json_t *conds, int fallback, int *serving_term)
{
	json_t *ready = json_object_get(conds, "ready");
	json_t *serving = json_object_get(conds, "serving");
	json_t *term = json_object_get(conds, "terminating");
	int r = !ready || json_is_null(ready) || json_is_true(ready);
	int sv = !serving || json_is_null(serving) ? r : json_is_true(serving);

	*serving_term = 0;
	if (json_is_true(term)) {
		*serving_term = sv;
		return fallback && sv ? EP_READY : EP_DRAIN;
	}
	return r ? EP_READY : EP_DRAIN;
}

/* The port of a slice: the number asked for, the port of that name and protocol, or
 * the only port of the protocol there is. */
static int slice_port(struct rd *c, json_t *s, const char *at, const char *label, __u16 *port)
{
	const struct k8s_opts *o = c->o;
	json_t *ports = json_object_get(s, "ports"), *p, *pick = NULL;
	int n = (int)json_array_size(ports), cand = 0;
	size_t i, pi = 0;
	char field[64];

	if (o->port && !c->by_name) {
		*port = c->num;
		return 0;
	}
	c->names[0] = 0;
	json_array_foreach(ports, i, p) {
		const char *pn = jstr(p, "name");

		if (!proto_is(p, c->proto))
			continue;
		cand++;
		if (!o->port || (pn && !strcmp(pn, o->port))) {
			pick = p;
			pi = i;
		} else if (pn) {
			add_name(c, pn);
		}
	}
	if (!o->port && n == 0) {
		*port = o->default_port;
		return 0;
	}
	if (o->port && o->slice_skip_port && json_array_size(json_object_get(s, "endpoints")))
		c->slices_asked++;
	if (!pick && o->slice_skip_port)
		return 1; /* no such port on this slice: its endpoints are not for this port */
	if (pick && o->port && o->slice_skip_port)
		c->slices_with_port++;
	if (!pick || (!o->port && cand != 1)) {
		if (o->port)
			l4s_err(EINVAL, "%sports: %s has %d ports and no %s port is \"%s\"", at, label,
				n, proto_str(c->proto), o->port);
		else
			l4s_err(EINVAL, "%sports: %s has %d ports, %d of them %s: which one is "
				"meant?", at, label, n, cand, proto_str(c->proto));
		if (c->names[0])
			l4s_hint("its %s ports are named %s: choose one with --port NAME or --port "
				 "NUMBER", proto_str(c->proto), c->names);
		else
			l4s_hint("choose one with --port NAME or --port NUMBER");
		return -EINVAL;
	}
	snprintf(field, sizeof(field), "%sports[%zu].port", at, pi);
	return k8s_port(json_object_get(pick, "port"), field, port);
}

static int parse_slice(struct rd *c, json_t *s, const char *at, size_t idx)
{
	const struct k8s_opts *o = c->o;
	json_t *meta = json_object_get(s, "metadata"), *ep;
	const char *at_type = jstr(s, "addressType"), *name = jstr(meta, "name");
	char label[96], track[L4S_NAME_LEN];
	size_t i, j;
	__u16 port = 0;
	int err;

	snprintf(label, sizeof(label), "endpointslice %s", name ? name : "(unnamed)");
	if (!json_is_object(s) || !at_type) {
		l4s_err(EINVAL, "items[%zu].addressType: missing: not an EndpointSlice", idx);
		return -EINVAL;
	}
	if ((o->family == L4S_AF_INET && strcmp(at_type, "IPv4")) ||
	    (o->family == L4S_AF_INET6 && strcmp(at_type, "IPv6"))) {
		c->r->skipped_family++;
		return 0;
	}
	/* With o->pods, the track is the label of each endpoint's pod (below). */
	if (!(o->pods && o->track_label) && !track_of(c, meta, label, track))
		return 0;
	err = slice_port(c, s, at, label, &port);
	if (err < 0)
		return -EINVAL;
	if (err > 0)
		return 0;
	json_array_foreach(json_object_get(s, "endpoints"), i, ep) {
		int serving_term;
		enum ep_state st = k8s_slice_state(json_object_get(ep, "conditions"), o->fallback,
						   &serving_term);
		json_t *a, *ref = json_object_get(ep, "targetRef");
		const char *pod = jstr(ref, "name");
		char who[96];

		snprintf(who, sizeof(who), "%s", pod ? pod : label);
		if (o->pods && o->track_label) {
			const char *kind = jstr(ref, "kind"), *ns = jstr(meta, "namespace");
			json_t *po = NULL;
			char key[512];

			snprintf(who, sizeof(who), "pod %s", pod ? pod : "(no targetRef)");
			if (pod && (!kind || !strcmp(kind, "Pod"))) {
				snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", pod);
				po = json_object_get(o->pods, key);
			}
			if (!track_of(c, json_object_get(po, "metadata"), who, track))
				continue;
		}
		c->r->serving_terminating += serving_term;
		json_array_foreach(json_object_get(ep, "addresses"), j, a) {
			if (json_is_string(a) &&
			    (err = add_ep(c, json_string_value(a), port, st, track, who)))
				return err;
		}
	}
	return 0;
}

int k8s_parse(json_t *doc, const struct k8s_opts *o, struct k8s_result *r)
{
	const char *kind = jstr(doc, "kind");
	struct rd c = { .o = o, .r = r, .proto = o->proto ? o->proto : IPPROTO_TCP };
	json_t *items, *it;
	size_t i;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(doc)) {
		l4s_err(EINVAL, "the document is not a JSON object");
		return -EINVAL;
	}
	if (o->port) {
		int rc = parse_port_or_name("port", o->port, &c.num);

		if (rc < 0)
			return rc;
		c.by_name = !rc;
	}
	if (kind && !strcmp(kind, "Pod"))
		err = parse_pod(&c, doc, "", 0);
	else if (kind && !strcmp(kind, "EndpointSlice"))
		err = parse_slice(&c, doc, "", 0);
	else {
		items = json_object_get(doc, "items");
		if (!kind || !json_is_array(items) ||
		    (strcmp(kind, "PodList") && strcmp(kind, "EndpointSliceList") &&
		     strcmp(kind, "List"))) {
			l4s_err(EINVAL, "kind \"%s\": expected PodList, EndpointSliceList, List, Pod "
				"or EndpointSlice", kind ? kind : "(missing)");
			l4s_hint("feed it 'kubectl get pods -o json' or 'kubectl get endpointslices "
				 "-o json'");
			return -EINVAL;
		}
		json_array_foreach(items, i, it) {
			const char *ik = jstr(it, "kind");
			int is_slice = !strcmp(kind, "EndpointSliceList") ||
				       (ik && !strcmp(ik, "EndpointSlice")) ||
				       (!ik && json_object_get(it, "addressType"));
			char at[32];

			snprintf(at, sizeof(at), "items[%zu].", i);
			err = is_slice ? parse_slice(&c, it, at, i) : parse_pod(&c, it, at, i);
			if (err)
				break;
		}
	}
	/* A port name that no pod has: syncing would remove every backend. */
	if (!err && c.by_name && c.pods_asked && !c.pods_with_port) {
		l4s_err(EINVAL, "port \"%s\": none of the %d pods listed has a %s container port "
			"of that name", o->port, c.pods_asked, proto_str(c.proto));
		if (c.names[0])
			l4s_hint("their %s container ports are named %s: give one of those, or the "
				 "port number", proto_str(c.proto), c.names);
		else
			l4s_hint("their %s container ports have no names: give the port number",
				 proto_str(c.proto));
		err = -EINVAL;
	}
	if (!err && c.by_name && c.slices_asked && !c.slices_with_port) {
		l4s_err(EINVAL, "port \"%s\": none of the %d EndpointSlices with endpoints has a %s "
			"port of that name", o->port, c.slices_asked, proto_str(c.proto));
		l4s_hint("the Service's targetPort names no container port of its pods: the "
			 "EndpointSlice controller publishes them without that port");
		err = -EINVAL;
	}
	free(c.slot);
	if (err)
		k8s_result_free(r);
	return err;
}

void k8s_result_free(struct k8s_result *r)
{
	free(r->ep);
	r->ep = NULL;
	r->n = 0;
}
