/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A Kubernetes list read as a stream (yajl), keeping only the fields k8s_parse() reads:
 * a 5,000-pod list is 14 MB of JSON of which a sync needs a few hundred bytes a pod.
 * The result is a small jansson document for k8s_parse(), so there is one reader of
 * pods and slices, whichever way the document came in (the agent hands k8s_parse() the
 * objects it holds). k8s_parse(k8s_read_stream(D)) == k8s_parse(json_load(D)): the unit
 * and fuzz tests hold the two side by side.
 */
#ifndef L4S_K8S_STREAM_H
#define L4S_K8S_STREAM_H

#include <stdio.h>
#include <jansson.h>

/*
 * Read the JSON document in @f (an object or an array, as json_loadf without
 * JSON_DECODE_ANY; duplicate keys refused, as JSON_REJECT_DUPLICATES) and return its
 * projection onto what k8s_parse() reads. NULL on an error: @err->line, ->column and
 * ->text say where and what; @err->line is -1 when @f could not be read (errno, and an
 * l4s_err message).
 */
json_t *k8s_read_stream(FILE *f, json_error_t *err);

#endif
