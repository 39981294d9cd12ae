// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer target: Kubernetes documents (PodList, Pod, EndpointSlice[List]) from the
 * API or kubectl, as the agent and `sync` read them. Checks the parser's promises: a
 * result or an error with a message, never both, and every endpoint well formed; and
 * that sync's stream reader (k8s_stream.h) reads every input as the whole document. */
#include <assert.h>
#include <string.h>
#include "err.h"
#include "k8s.h"
#include "../lib/k8s_same.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const struct k8s_opts opts[] = {
		{ .family = L4S_AF_INET, .track_label = "version", .port = "http", .default_port = 80 },
		{ .family = L4S_AF_INET6, .track = "old", .port = "8080", .default_port = 80 },
		{ .family = L4S_AF_INET, .track = "default", .default_port = 53 },
	};
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		assert(!k8s_same(data, size, &opts[i]));
	if (!doc)
		return 0;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct k8s_result r;

		memset(&r, 0, sizeof(r));
		if (k8s_parse(doc, &opts[i], &r)) {
			assert(r.n == 0 && l4s_errmsg()[0]);
		} else {
			for (int k = 0; k < r.n; k++) {
				assert(r.ep[k].family == opts[i].family);
				assert(r.ep[k].track[0]);
				assert(memchr(r.ep[k].track, 0, sizeof(r.ep[k].track)));
				assert(memchr(r.ep[k].name, 0, sizeof(r.ep[k].name)));
			}
		}
		k8s_result_free(&r);
	}
	json_decref(doc);
	return 0;
}
