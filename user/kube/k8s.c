// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
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

static int add_ep(struct k8s_result *r, const char *ip, const struct k8s_opts *o, __u16 port,
		  enum ep_state state, const char *track, const char *name)
{
	struct spec_endpoint ep = { .port = port, .state = state };
	struct spec_endpoint *tmp;

	if (parse_addr(ip, &ep.addr, &ep.family)) {
		l4s_err_clear();
		snprintf(r->warning, sizeof(r->warning), "%s: address \"%s\" is not an IP", name,
			 ip);
		return 0;
	}
	if (ep.family != o->family) {
		r->skipped_family++;
		return 0;
	}
	/* The same address:port twice (two slices, duplicate podIPs): keep the first. */
	for (int i = 0; i < r->n; i++)
		if (r->ep[i].family == ep.family && r->ep[i].port == port &&
		    !memcmp(&r->ep[i].addr, &ep.addr, sizeof(ep.addr)))
			return 0;
	snprintf(ep.track, sizeof(ep.track), "%s", track);
	snprintf(ep.name, sizeof(ep.name), "%s", name);
	tmp = realloc(r->ep, sizeof(*tmp) * (size_t)(r->n + 1));
	if (!tmp)
		return -ENOMEM;
	r->ep = tmp;
	r->ep[r->n++] = ep;
	return 0;
}

/* The track of an object from its labels, or the fixed track; NULL when it has none. */
static const char *track_of(json_t *meta, const struct k8s_opts *o, struct k8s_result *r,
			    const char *name)
{
	const char *t;

	if (!o->track_label)
		return o->track;
	t = jstr(json_object_get(meta, "labels"), o->track_label);
	if (!t) {
		r->skipped_no_track++;
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning), "%s has no label %s: skipped",
				 name, o->track_label);
		return NULL;
	}
	if (parse_name("track", t)) {
		l4s_err_clear();
		r->skipped_no_track++;
		snprintf(r->warning, sizeof(r->warning),
			 "%s: label %s=\"%.40s\" is not a usable track name: skipped", name,
			 o->track_label, t);
		return NULL;
	}
	return t;
}

static int numeric_port(const char *s, __u16 *port)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end && v >= 1 && v <= 65535) {
		*port = (__u16)v;
		return 1;
	}
	return 0;
}

/* Port of a pod: a number, or a containerPort found by name. 0: not found. */
static __u16 pod_port(json_t *pod, const struct k8s_opts *o)
{
	json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers"), *c, *p;
	size_t i, j;
	__u16 port;

	if (!o->port)
		return o->default_port;
	if (numeric_port(o->port, &port))
		return port;
	json_array_foreach(containers, i, c) {
		json_array_foreach(json_object_get(c, "ports"), j, p) {
			const char *n = jstr(p, "name");

			if (n && !strcmp(n, o->port))
				return (__u16)json_integer_value(json_object_get(p, "containerPort"));
		}
	}
	return 0;
}

static int parse_pod(json_t *pod, const struct k8s_opts *o, struct k8s_result *r, size_t idx)
{
	json_t *meta = json_object_get(pod, "metadata"), *status = json_object_get(pod, "status");
	json_t *ips = json_object_get(status, "podIPs"), *cond, *ipo;
	const char *name = jstr(meta, "name"), *track, *ip;
	enum ep_state state = EP_DRAIN;
	char label[80];
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

	track = track_of(meta, o, r, label);
	if (!track)
		return 0;
	ip = jstr(status, "podIP");
	if (!json_array_size(ips) && (!ip || !*ip)) {
		r->skipped_no_ip++; /* Pending, or not scheduled yet */
		return 0;
	}
	port = pod_port(pod, o);
	if (!port) {
		if (!r->warning[0])
			snprintf(r->warning, sizeof(r->warning),
				 "%s has no container port named \"%s\": skipped", label, o->port);
		return 0;
	}
	if (json_array_size(ips)) {
		json_array_foreach(ips, i, ipo) {
			ip = jstr(ipo, "ip");
			if (ip && (err = add_ep(r, ip, o, port, state, track, label)))
				return err;
		}
		return 0;
	}
	return add_ep(r, ip, o, port, state, track, label);
}

/* EndpointSlice conditions: ready nil means ready (API contract); terminating drains. */
static enum ep_state slice_state(json_t *conds)
{
	json_t *ready = json_object_get(conds, "ready");
	json_t *term = json_object_get(conds, "terminating");

	if (json_is_true(term))
		return EP_DRAIN;
	if (!ready || json_is_null(ready) || json_is_true(ready))
		return EP_READY;
	return EP_DRAIN;
}

static int parse_slice(json_t *s, const struct k8s_opts *o, struct k8s_result *r, size_t idx)
{
	json_t *meta = json_object_get(s, "metadata"), *ports = json_object_get(s, "ports"), *p, *ep;
	const char *at = jstr(s, "addressType"), *name = jstr(meta, "name"), *track;
	char label[96];
	size_t i, j;
	__u16 port = 0;
	int err;

	snprintf(label, sizeof(label), "endpointslice %s", name ? name : "(unnamed)");
	if (!json_is_object(s) || !at) {
		l4s_err(EINVAL, "items[%zu].addressType: missing: not an EndpointSlice", idx);
		return -EINVAL;
	}
	if ((o->family == L4S_AF_INET && strcmp(at, "IPv4")) ||
	    (o->family == L4S_AF_INET6 && strcmp(at, "IPv6"))) {
		r->skipped_family++;
		return 0;
	}
	track = track_of(meta, o, r, label);
	if (!track)
		return 0;
	/* The port: by number, by name, or the only one there is. */
	if (o->port && numeric_port(o->port, &port)) {
		;
	} else {
		int n = (int)json_array_size(ports);

		json_array_foreach(ports, i, p) {
			const char *pn = jstr(p, "name");

			if ((o->port && pn && !strcmp(pn, o->port)) || (!o->port && n == 1))
				port = (__u16)json_integer_value(json_object_get(p, "port"));
		}
		if (!port && !o->port && n == 0)
			port = o->default_port;
		if (!port) {
			l4s_err(EINVAL, "items[%zu].ports: %s has %d ports and none is \"%s\"", idx,
				label, n, o->port ? o->port : "(unnamed)");
			l4s_hint("choose one with --port NAME or --port NUMBER");
			return -EINVAL;
		}
	}
	json_array_foreach(json_object_get(s, "endpoints"), i, ep) {
		enum ep_state st = slice_state(json_object_get(ep, "conditions"));
		json_t *a;
		const char *pod = jstr(json_object_get(ep, "targetRef"), "name");
		char who[96];

		snprintf(who, sizeof(who), "%s", pod ? pod : label);
		json_array_foreach(json_object_get(ep, "addresses"), j, a) {
			if (json_is_string(a) &&
			    (err = add_ep(r, json_string_value(a), o, port, st, track, who)))
				return err;
		}
	}
	return 0;
}

int k8s_parse(json_t *doc, const struct k8s_opts *o, struct k8s_result *r)
{
	const char *kind = jstr(doc, "kind");
	json_t *items, *it;
	size_t i;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(doc)) {
		l4s_err(EINVAL, "the document is not a JSON object");
		return -EINVAL;
	}
	if (kind && !strcmp(kind, "Pod"))
		return parse_pod(doc, o, r, 0);
	if (kind && !strcmp(kind, "EndpointSlice"))
		return parse_slice(doc, o, r, 0);
	items = json_object_get(doc, "items");
	if (!kind || !json_is_array(items) ||
	    (strcmp(kind, "PodList") && strcmp(kind, "EndpointSliceList") && strcmp(kind, "List"))) {
		l4s_err(EINVAL, "kind \"%s\": expected PodList, EndpointSliceList, List, Pod or "
			"EndpointSlice", kind ? kind : "(missing)");
		l4s_hint("feed it 'kubectl get pods -o json' or 'kubectl get endpointslices -o json'");
		return -EINVAL;
	}
	json_array_foreach(items, i, it) {
		const char *ik = jstr(it, "kind");
		int is_slice = !strcmp(kind, "EndpointSliceList") ||
			       (ik && !strcmp(ik, "EndpointSlice")) ||
			       (!ik && json_object_get(it, "addressType"));

		err = is_slice ? parse_slice(it, o, r, i) : parse_pod(it, o, r, i);
		if (err)
			break;
	}
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
