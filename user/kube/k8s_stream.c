// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A Kubernetes list as a stream: yajl's events, and a jansson value built only along the
 * paths k8s_parse() reads (the shapes below). Everything else (managedFields, spec
 * beyond the container ports, containerStatuses ...) is checked as JSON and dropped as
 * it goes by.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include "k8s_stream.h"

/* What of a value to keep: all of it, the listed keys of an object, or the elements of
 * an array (each kept as @elem says). A value of another type than its shape expects
 * is kept with its type only (an empty object or array, the scalar itself): k8s_parse()
 * tells types apart, never looks into a container of the wrong type. */
enum shape_kind { S_WHOLE, S_OBJ, S_ARR };

struct field;

struct shape {
	enum shape_kind kind;
	const struct field *fields; /* S_OBJ, ended by a NULL key */
	const struct shape *elem;   /* S_ARR */
};

struct field {
	const char *key;
	const struct shape *shape;
};

static const struct shape whole = { S_WHOLE, NULL, NULL };

/* A Pod: metadata.{name,labels,deletionTimestamp}, status.{conditions[].{type,status},
 * podIP, podIPs}, spec.containers[].ports. An EndpointSlice: addressType, ports,
 * endpoints (kept whole: a slice is small, and its reader is not ours to second-guess).
 * Both: kind. */
static const struct field meta_f[] = {
	{ "name", &whole }, { "labels", &whole }, { "deletionTimestamp", &whole }, { NULL, NULL }
};
static const struct shape meta = { S_OBJ, meta_f, NULL };
static const struct field cond_f[] = { { "type", &whole }, { "status", &whole }, { NULL, NULL } };
static const struct shape cond = { S_OBJ, cond_f, NULL };
static const struct shape conds = { S_ARR, NULL, &cond };
static const struct field status_f[] = {
	{ "conditions", &conds }, { "podIP", &whole }, { "podIPs", &whole }, { NULL, NULL }
};
static const struct shape status = { S_OBJ, status_f, NULL };
static const struct field ctr_f[] = { { "ports", &whole }, { NULL, NULL } };
static const struct shape ctr = { S_OBJ, ctr_f, NULL };
static const struct shape ctrs = { S_ARR, NULL, &ctr };
static const struct field spec_f[] = { { "containers", &ctrs }, { NULL, NULL } };
static const struct shape spec = { S_OBJ, spec_f, NULL };
#define OBJECT_FIELDS                                                                        \
	{ "kind", &whole }, { "metadata", &meta }, { "status", &status }, { "spec", &spec },   \
	{ "addressType", &whole }, { "ports", &whole }, { "endpoints", &whole }
static const struct field item_f[] = { OBJECT_FIELDS, { NULL, NULL } };
static const struct shape item = { S_OBJ, item_f, NULL };
static const struct shape items = { S_ARR, NULL, &item };
/* The document: a list (kind, items) or one object. */
static const struct field top_f[] = { OBJECT_FIELDS, { "items", &items }, { NULL, NULL } };
static const struct shape top = { S_OBJ, top_f, NULL };

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

/* An open object or array. */
struct frame {
	const struct shape *shape; /* what to keep of it; NULL: nothing (skipped) */
	json_t *v;                 /* the kept value (NULL when skipped) */
	int is_obj;
	const struct shape *kshape; /* objects: the shape of the current key's value */
	char *key;                  /* ... and the key, when the object is kept */
	size_t keycap;
	uint64_t *seen; /* objects: hashes of the keys so far (open addressing, 0 = free) */
	size_t nseen, capseen;
};

struct rs {
	struct frame *fr;
	int depth, cap;
	json_t *root;
	const char *why; /* a refusal of ours (not yajl's) */
};

static void rs_fail(struct rs *s, const char *why)
{
	if (!s->why)
		s->why = why;
}

static const struct shape *field_shape(const struct shape *sh, const char *k, size_t len)
{
	for (const struct field *f = sh->fields; f->key; f++)
		if (strlen(f->key) == len && !memcmp(f->key, k, len))
			return f->shape;
	return NULL;
}

/* The shape of the value that starts now (NULL: skip it). */
static const struct shape *value_shape(struct rs *s)
{
	struct frame *p;

	if (!s->depth)
		return &top;
	p = &s->fr[s->depth - 1];
	if (!p->v)
		return NULL;
	if (p->is_obj)
		return p->kshape;
	return p->shape->kind == S_WHOLE ? &whole : p->shape->kind == S_ARR ? p->shape->elem : NULL;
}

/* Hand a new kept value to its parent (it takes the reference). */
static int attach(struct rs *s, json_t *v)
{
	struct frame *p;

	if (!v)
		return rs_fail(s, "out of memory"), 0;
	if (!s->depth) {
		s->root = v;
		return 1;
	}
	p = &s->fr[s->depth - 1];
	if (p->is_obj ? json_object_set_new_nocheck(p->v, p->key, v) : json_array_append_new(p->v, v))
		return rs_fail(s, "out of memory"), 0;
	return 1;
}

static int scalar(struct rs *s, json_t *(*make)(const void *), const void *arg)
{
	if (!s->depth) {
		rs_fail(s, "'[' or '{' expected");
		return 0;
	}
	if (!value_shape(s))
		return 1;
	return attach(s, make(arg));
}

static json_t *mk_null(const void *a)
{
	(void)a;
	return json_null();
}

static json_t *mk_bool(const void *a)
{
	return json_boolean(*(const int *)a);
}

static json_t *mk_int(const void *a)
{
	return json_integer(*(const long long *)a);
}

static json_t *mk_real(const void *a)
{
	return json_real(*(const double *)a);
}

struct strarg {
	const unsigned char *p;
	size_t len;
};

static json_t *mk_str(const void *a)
{
	const struct strarg *x = a;

	return json_stringn_nocheck((const char *)x->p, x->len); /* yajl checked the UTF-8 */
}

static int on_null(void *ctx)
{
	return scalar(ctx, mk_null, NULL);
}

static int on_bool(void *ctx, int b)
{
	return scalar(ctx, mk_bool, &b);
}

static int on_int(void *ctx, long long v)
{
	return scalar(ctx, mk_int, &v);
}

static int on_real(void *ctx, double v)
{
	return scalar(ctx, mk_real, &v);
}

static int on_string(void *ctx, const unsigned char *p, size_t len)
{
	struct strarg x = { p, len };

	if (memchr(p, 0, len)) {
		rs_fail(ctx, "\\u0000 is not allowed without JSON_ALLOW_NUL");
		return 0;
	}
	return scalar(ctx, mk_str, &x);
}

static int open_value(struct rs *s, int is_obj)
{
	const struct shape *sh = value_shape(s);
	struct frame *f;

	if (s->depth >= MAX_DEPTH) {
		rs_fail(s, "maximum parsing depth reached");
		return 0;
	}
	if (s->depth == s->cap) {
		int cap = s->cap ? s->cap * 2 : 32;
		struct frame *fr = realloc(s->fr, sizeof(*fr) * (size_t)cap);

		if (!fr)
			return rs_fail(s, "out of memory"), 0;
		memset(fr + s->cap, 0, sizeof(*fr) * (size_t)(cap - s->cap));
		s->fr = fr;
		s->cap = cap;
	}
	f = &s->fr[s->depth];
	f->shape = sh;
	f->v = NULL;
	f->is_obj = is_obj;
	f->kshape = NULL;
	if (is_obj) {
		if (f->capseen > 64) { /* a big object before: do not clear its table each time */
			free(f->seen);
			f->seen = NULL;
			f->capseen = 0;
		}
		if (!f->seen) {
			f->capseen = 16;
			f->seen = malloc(sizeof(*f->seen) * f->capseen);
			if (!f->seen)
				return rs_fail(s, "out of memory"), 0;
		}
		memset(f->seen, 0, sizeof(*f->seen) * f->capseen);
		f->nseen = 0;
	}
	if (sh) {
		json_t *v = is_obj ? json_object() : json_array();

		if (!attach(s, v))
			return 0;
		f->v = v; /* the parent holds the reference */
	}
	s->depth++;
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_value(ctx, 1);
}

static int on_start_array(void *ctx)
{
	return open_value(ctx, 0);
}

static int on_end(void *ctx)
{
	struct rs *s = ctx;

	s->depth--;
	return 1;
}

static uint64_t key_hash(const unsigned char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h | 1; /* 0 marks a free slot */
}

/* 1: @h is new in @f (and now recorded), 0: a duplicate key, -1: out of memory. */
static int seen_add(struct frame *f, uint64_t h)
{
	size_t i;

	if ((f->nseen + 1) * 2 > f->capseen) {
		size_t cap = f->capseen * 2, n = f->capseen;
		uint64_t *old = f->seen, *t = calloc(cap, sizeof(*t));

		if (!t)
			return -1;
		f->seen = t;
		f->capseen = cap;
		f->nseen = 0;
		for (size_t k = 0; k < n; k++)
			if (old[k])
				seen_add(f, old[k]);
		free(old);
	}
	for (i = h & (f->capseen - 1); f->seen[i]; i = (i + 1) & (f->capseen - 1))
		if (f->seen[i] == h)
			return 0;
	f->seen[i] = h;
	f->nseen++;
	return 1;
}

static int on_key(void *ctx, const unsigned char *k, size_t len)
{
	struct rs *s = ctx;
	struct frame *f = &s->fr[s->depth - 1];
	int rc;

	if (memchr(k, 0, len)) {
		rs_fail(s, "\\u0000 is not allowed without JSON_ALLOW_NUL");
		return 0;
	}
	rc = seen_add(f, key_hash(k, len));
	if (rc <= 0) {
		rs_fail(s, rc ? "out of memory" : "duplicate object key");
		return 0;
	}
	if (!f->v)
		return 1;
	f->kshape = f->shape->kind == S_WHOLE ? &whole :
		    f->shape->kind == S_OBJ ? field_shape(f->shape, (const char *)k, len) : NULL;
	if (!f->kshape)
		return 1;
	if (len + 1 > f->keycap) {
		char *nk = realloc(f->key, len + 1);

		if (!nk)
			return rs_fail(s, "out of memory"), 0;
		f->key = nk;
		f->keycap = len + 1;
	}
	memcpy(f->key, k, len);
	f->key[len] = 0;
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_bool,
	.yajl_integer = on_int,
	.yajl_double = on_real,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* Line and column (1-based) after @n more bytes at @p. */
static void advance(json_error_t *e, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			e->line++;
			e->column = 0;
		} else {
			e->column++;
		}
	}
	e->position += (int)n;
}

static void set_error(json_error_t *e, yajl_handle h, struct rs *s, const unsigned char *chunk,
		      size_t len)
{
	size_t used = chunk ? yajl_get_bytes_consumed(h) : 0;

	if (used > len)
		used = len;
	advance(e, chunk, used);
	e->column++; /* the character where it stopped */
	if (s->why) {
		snprintf(e->text, sizeof(e->text), "%s", s->why);
	} else {
		unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
		char *nl;

		snprintf(e->text, sizeof(e->text), "%s", msg ? (const char *)msg : "invalid JSON");
		nl = strchr(e->text, '\n');
		if (nl)
			*nl = 0;
		if (msg)
			yajl_free_error(h, msg);
	}
	e->source[0] = 0;
}

/* The bytes before the first \v or \f: yajl takes them for white space; JSON does not,
 * and in a string they are control characters, refused either way. */
static size_t json_prefix(const unsigned char *p, size_t n)
{
	const unsigned char *v = memchr(p, '\v', n), *ff = memchr(p, '\f', n);

	if (v && ff)
		return (size_t)((v < ff ? v : ff) - p);
	return v ? (size_t)(v - p) : ff ? (size_t)(ff - p) : n;
}

/*
 * What follows the document's top-level value must be white space, as jansson has it.
 * yajl refuses trailing tokens it can read, but a token it cannot finish (an unclosed
 * string, a number or literal cut short) after a complete value is only buffered and
 * never judged. So the bytes are followed here too: strings and brackets, until the
 * top-level value closes; anything but JSON white space after it is garbage.
 */
struct tail {
	int depth, in_str, esc, done, garbage;
};

static void tail_scan(struct tail *t, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && !t->garbage; i++) {
		unsigned char c = p[i];

		if (t->done) {
			t->garbage = !(c == ' ' || c == '\t' || c == '\n' || c == '\r');
		} else if (t->in_str) {
			if (t->esc)
				t->esc = 0;
			else if (c == '\\')
				t->esc = 1;
			else if (c == '"')
				t->in_str = 0;
		} else if (c == '"') {
			t->in_str = 1;
		} else if (c == '{' || c == '[') {
			t->depth++;
		} else if ((c == '}' || c == ']') && t->depth > 0 && !--t->depth) {
			t->done = 1;
		}
	}
}

static void rs_free(struct rs *s)
{
	for (int i = 0; i < s->cap; i++) {
		free(s->fr[i].key);
		free(s->fr[i].seen);
	}
	free(s->fr);
}

json_t *k8s_read_stream(FILE *f, json_error_t *err)
{
	static unsigned char buf[1 << 16];
	struct rs s = {};
	struct tail t = {};
	yajl_handle h = yajl_alloc(&callbacks, NULL, &s);
	yajl_status st = yajl_status_ok;
	size_t n = 0;

	memset(err, 0, sizeof(*err));
	err->line = 1;
	if (!h) {
		err->line = -1;
		snprintf(err->text, sizeof(err->text), "%s", strerror(ENOMEM));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		size_t good = json_prefix(buf, n);

		st = yajl_parse(h, buf, good);
		tail_scan(&t, buf, good);
		if (st != yajl_status_ok) {
			n = good;
			break;
		}
		advance(err, buf, good);
		if (good < n) { /* a \v or \f: white space to yajl, not to JSON (or jansson) */
			rs_fail(&s, "invalid token");
			st = yajl_status_error;
			n = 0;
			break;
		}
	}
	if (st == yajl_status_ok && ferror(f)) {
		int e = errno ? errno : EIO;

		err->line = -1;
		snprintf(err->text, sizeof(err->text), "%s", strerror(e));
		errno = e;
		goto fail;
	}
	if (st == yajl_status_ok) {
		n = 0;
		st = yajl_complete_parse(h);
	}
	if (st == yajl_status_ok && !s.root) /* nothing but white space */
		rs_fail(&s, "'[' or '{' expected near end of file"), st = yajl_status_error;
	if (st == yajl_status_ok && t.garbage)
		rs_fail(&s, "end of file expected"), st = yajl_status_error;
	if (st != yajl_status_ok) {
		set_error(err, h, &s, n ? buf : NULL, n);
		goto fail;
	}
	yajl_free(h);
	rs_free(&s);
	return s.root;
fail:
	yajl_free(h);
	rs_free(&s);
	json_decref(s.root);
	return NULL;
}
