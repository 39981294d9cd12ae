// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Prometheus instant queries (see prom.h), on libcurl and jansson. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "err.h"
#include "lazylib.h"
#include "prom.h"
#include "util.h"

static double sample_value(json_t *v)
{
	const char *s = json_string_value(json_array_get(v, 1));

	if (!s)
		return NAN;
	if (!strcmp(s, "NaN"))
		return NAN;
	if (!strcmp(s, "+Inf"))
		return INFINITY;
	if (!strcmp(s, "-Inf"))
		return -INFINITY;
	return strtod(s, NULL);
}

void prom_result_free(struct prom_result *r)
{
	for (int i = 0; i < r->n; i++)
		json_decref(r->s[i].labels);
	free(r->s);
	r->s = NULL;
	r->n = 0;
}

static int parse_answer(const char *url, const char *text, size_t len, long status,
			struct prom_result *r)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text ? text : "", len, 0, &jerr), *data, *res, *it;
	const char *st, *type;
	size_t i;
	int err = 0;

	if (!doc)
		return l4s_err(EIO, "Prometheus at %s answered HTTP %ld, not JSON: %s", url, status,
			       jerr.text);
	st = json_string_value(json_object_get(doc, "status"));
	if (!st || strcmp(st, "success")) {
		const char *et = json_string_value(json_object_get(doc, "errorType"));
		const char *e = json_string_value(json_object_get(doc, "error"));

		err = l4s_err(et && !strcmp(et, "bad_data") ? EINVAL : EIO,
			      "Prometheus at %s: %s: %s", url, et ? et : "error", e ? e : "?");
		json_decref(doc);
		return err;
	}
	data = json_object_get(doc, "data");
	type = json_string_value(json_object_get(data, "resultType"));
	res = json_object_get(data, "result");
	if (type && !strcmp(type, "scalar")) {
		r->s = calloc(1, sizeof(*r->s));
		if (!r->s) {
			json_decref(doc);
			return l4s_err(ENOMEM, "out of memory");
		}
		r->s[0].labels = json_object();
		r->s[0].value = sample_value(res);
		r->n = 1;
	} else if (type && !strcmp(type, "vector") && json_is_array(res)) {
		r->s = calloc(json_array_size(res) + 1, sizeof(*r->s));
		if (!r->s) {
			json_decref(doc);
			return l4s_err(ENOMEM, "out of memory");
		}
		json_array_foreach(res, i, it) {
			json_t *m = json_object_get(it, "metric");

			r->s[r->n].labels = json_is_object(m) ? json_incref(m) : json_object();
			r->s[r->n].value = sample_value(json_object_get(it, "value"));
			r->n++;
		}
	} else {
		err = l4s_err(EINVAL, "Prometheus at %s: a %s result; expected an instant vector "
			      "or a scalar", url, type ? type : "missing");
	}
	json_decref(doc);
	return err;
}

int prom_query(const char *url, const char *query, double timeout_s, struct prom_result *r)
{
	struct http_body b = { .max = 64u << 20 }; /* a result that big is a wrong query */
	size_t ul = strlen(url), ulen;
	CURL *c;
	char *q, *u;
	long status = 0;
	CURLcode rc;
	int err;

	memset(r, 0, sizeof(*r));
	while (ul && url[ul - 1] == '/') /* http://prom:9090/ and http://prom:9090 alike */
		ul--;
	if (lazy_curl() || !(c = curl_easy_init()))
		return l4s_err(ENOMEM, "cannot set up an HTTP request");
	q = url_encode(query, NULL);
	ulen = ul + (q ? strlen(q) : 0) + 32;
	u = malloc(ulen);
	if (!q || !u) {
		free(q);
		free(u);
		curl_easy_cleanup(c);
		return l4s_err(ENOMEM, "out of memory");
	}
	snprintf(u, ulen, "%.*s/api/v1/query?query=%s", (int)ul, url, q);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "l4split/" L4S_VERSION);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		err = l4s_err(rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT :
			      rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ?
			      ECONNREFUSED : EIO,
			      "cannot query Prometheus at %s: %s", url, curl_easy_strerror(rc));
	else
		err = parse_answer(url, b.p, b.len, status, r);
	if (err)
		prom_result_free(r);
	free(q);
	free(u);
	free(b.p);
	curl_easy_cleanup(c);
	return err;
}

double prom_value_where(const struct prom_result *r, const char *key, const char *value)
{
	for (int i = 0; i < r->n; i++) {
		const char *v = json_string_value(json_object_get(r->s[i].labels, key));

		if (v && !strcmp(v, value))
			return r->s[i].value;
	}
	return NAN;
}
