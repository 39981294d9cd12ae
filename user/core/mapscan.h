/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Walking a hash map: batched lookups where the kernel has them, else key by key. */
#ifndef L4S_MAPSCAN_H
#define L4S_MAPSCAN_H

#include <stddef.h>

/* Called for each entry; return non-zero to stop. */
typedef int (*map_scan_fn)(const void *key, const void *value, void *ctx);

/* Returns 0, the callback's non-zero value, or -errno. */
int map_scan(int fd, size_t key_size, size_t value_size, map_scan_fn fn, void *ctx);

#endif
