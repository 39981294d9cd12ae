// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer target: the command-line value parsers (addresses, frontends, weights,
 * durations, ratios, steps, names). What parses must print back to something that
 * parses to the same value. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1), buf[128];
	struct l4s_frontend_key k, k2;
	struct l4s_addr a, a2;
	__u8 fam, fam2;
	__u16 port, port2;
	__u64 w, w2, ms;
	__u32 ppm, steps[32];
	int n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	if (parse_frontend(s, &k) == 0) {
		assert(parse_frontend(fmt_frontend(buf, &k), &k2) == 0);
		assert(!memcmp(&k, &k2, sizeof(k)));
	}
	if (parse_addr_port(s, &a, &fam, &port) == 0) {
		assert(parse_addr_port(fmt_addr_port(buf, &a, fam, port), &a2, &fam2, &port2) == 0);
		assert(fam == fam2 && port == port2 && !memcmp(&a, &a2, sizeof(a)));
	}
	if (parse_addr(s, &a, &fam) == 0) {
		assert(parse_addr(fmt_addr(buf, &a, fam), &a2, &fam2) == 0);
		assert(fam == fam2 && !memcmp(&a, &a2, sizeof(a)));
	}
	if (parse_weight(s, &w) == 0) {
		assert(parse_weight(fmt_weight(buf, w), &w2) == 0);
		assert(w == w2);
	}
	(void)parse_port(s, &port);
	(void)parse_name("name", s);
	(void)parse_duration_ms("duration", s, &ms);
	(void)parse_ratio_ppm("ratio", s, &ppm);
	if (parse_steps(s, steps, 32, &n) == 0)
		assert(n >= 1 && n <= 32);
	l4s_err_clear();
	free(s);
	return 0;
}
