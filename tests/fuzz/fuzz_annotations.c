// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer target: a Service's l4split.io/ annotations (weights, track-label,
 * affinity, vips, enabled) as the agent reads them from the API: untrusted strings. */
#include <assert.h>
#include <string.h>
#include "agent.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL), *ann;
	struct svc_config c;

	if (!doc)
		return 0;
	/* A whole Service, or just its annotations object. */
	ann = json_object_get(json_object_get(doc, "metadata"), "annotations");
	if (!ann)
		ann = doc;
	if (svc_config_parse(ann, &c) == 0) {
		for (int i = 0; i < c.nw; i++) {
			assert(c.w[i].track[0]);
			assert(memchr(c.w[i].track, 0, sizeof(c.w[i].track)));
		}
		assert(!c.track_label || c.track_label[0]);
	} else {
		assert(l4s_errmsg()[0]);
	}
	svc_config_free(&c);
	json_decref(doc);
	return 0;
}
