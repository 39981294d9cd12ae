// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "mapscan.h"

#define SCAN_BATCH 4096
#define ENOTSUPP_KERNEL 524 /* the kernel's internal "not supported" */

static int scan_keys(int fd, size_t ks, size_t vs, map_scan_fn fn, void *ctx)
{
	void *key = calloc(1, ks), *next = calloc(1, ks), *val = calloc(1, vs);
	int err = 0, first = 1;

	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			err = errno == ENOENT ? 0 : -errno;
			break;
		}
		first = 0;
		memcpy(key, next, ks);
		if (bpf_map_lookup_elem(fd, key, val))
			continue; /* deleted meanwhile */
		err = fn(key, val, ctx);
		if (err)
			break;
	}
out:
	free(key);
	free(next);
	free(val);
	return err;
}

int map_scan(int fd, size_t ks, size_t vs, map_scan_fn fn, void *ctx)
{
	char *keys = malloc(ks * SCAN_BATCH), *vals = malloc(vs * SCAN_BATCH);
	/* Batch cursors are opaque to us: a bucket index for hash maps (8 bytes is plenty). */
	char cursor_in[64], cursor_out[64];
	void *inp = NULL;
	int err = 0;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		__u32 count = SCAN_BATCH;
		int rc = bpf_map_lookup_batch(fd, inp, cursor_out, keys, vals, &count, NULL);

		if (rc && errno != ENOENT) {
			if (!inp && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP ||
				     errno == ENOTSUPP_KERNEL)) {
				free(keys);
				free(vals);
				return scan_keys(fd, ks, vs, fn, ctx);
			}
			err = -errno;
			break;
		}
		for (__u32 i = 0; i < count && !err; i++)
			err = fn(keys + i * ks, vals + i * vs, ctx);
		if (err || rc)
			break; /* ENOENT: that was the last batch */
		memcpy(cursor_in, cursor_out, sizeof(cursor_in));
		inp = cursor_in;
	}
	free(keys);
	free(vals);
	return err;
}
