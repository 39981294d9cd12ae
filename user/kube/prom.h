/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Instant queries against a Prometheus server's HTTP API (/api/v1/query), the way
 * Flagger's and Argo Rollouts' analysis read metrics: one PromQL expression, a vector
 * of labelled samples back.
 */
#ifndef L4S_PROM_H
#define L4S_PROM_H

#include <jansson.h>

struct prom_sample {
	json_t *labels; /* the series' labels (an object; owned) */
	double value;   /* NaN and +-Inf as Prometheus prints them */
};

struct prom_result {
	struct prom_sample *s;
	int n;
};

/*
 * Evaluate @query at the server's now (@url: http://HOST:PORT[/prefix]; @timeout_s for the
 * whole request). A scalar result is one sample without labels. 0, or -errno with a
 * message naming the server and Prometheus' own error (bad_data, timeout, ...):
 * -ECONNREFUSED/-ETIMEDOUT when it cannot be reached, -EINVAL for a query it refused,
 * -EIO otherwise.
 */
int prom_query(const char *url, const char *query, double timeout_s, struct prom_result *r);
void prom_result_free(struct prom_result *r);
/* The value of the sample whose label @key is @value (NaN when none). */
double prom_value_where(const struct prom_result *r, const char *key, const char *value);

#endif
