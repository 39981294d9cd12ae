/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kubernetes API documents -> backends (pure; no maps). Reads PodList, List of Pods,
 * a single Pod, EndpointSliceList or a single EndpointSlice, as the API server or
 * kubectl prints them.
 */
#ifndef L4S_K8S_H
#define L4S_K8S_H

#include <jansson.h>
#include "l4split.h"
#include "spec.h"

struct k8s_opts {
	__u8 family;             /* the service's address family */
	const char *track_label; /* label whose value is the track, or NULL */
	const char *track;       /* fixed track when no label is used */
	const char *port;        /* number or port name; NULL: @default_port */
	__u16 default_port;
	__u8 proto;              /* the service's IPPROTO_TCP or IPPROTO_UDP (0: TCP): named
				  * and EndpointSlice ports of another protocol are not it */
	/* EndpointSlices as the agent reads them: */
	json_t *pods;            /* "namespace/name" -> Pod or PartialObjectMetadata: with
				  * @track_label, an endpoint's track is the label of its
				  * targetRef pod (slices carry no pod labels) */
	int slice_skip_port;     /* a slice without the named port adds nothing (the
				  * controller puts pods lacking a targetPort there); an
				  * error only when no slice with endpoints has it */
	int fallback;            /* serving+terminating endpoints are ready (KEP-1669: the
				  * caller sets it when no endpoint is ready) */
};

struct k8s_result {
	struct spec_endpoint *ep;
	int n;
	int skipped_no_ip;      /* Pending / no address yet */
	int skipped_family;     /* addresses of the other family */
	int skipped_no_track;   /* without the track label */
	int skipped_bad_addr;   /* not an IP, or not usable (addr_check) */
	int tracks_shortened;   /* endpoints whose label value was longer than a track name */
	int serving_terminating; /* endpoints terminating but still serving (fallback ones) */
	char warning[256];      /* first thing worth telling the user */
	char note[256];         /* the first label value shortened, and to what */
};

/* EndpointSlice endpoint conditions -> state (ready nil = ready; serving nil = ready's
 * value; terminating drains unless @fallback and serving). *serving_term: terminating
 * and serving. */
enum ep_state k8s_slice_state(json_t *conditions, int fallback, int *serving_term);

/* Returns 0 or -errno with a message (l4s_err) naming the offending field. */
int k8s_parse(json_t *doc, const struct k8s_opts *o, struct k8s_result *r);
void k8s_result_free(struct k8s_result *r);
/* A port number field of a document (@field names it in the message): an integer from 1
 * to 65535. 0 or -EINVAL. */
int k8s_port(json_t *v, const char *field, __u16 *port);

#endif
