// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Shared pieces of the command layer: dispatch, errors, JSON output. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "err.h"

const char *opt_pin_dir;

int is_help(const char *arg)
{
	return !strcmp(arg, "help") || !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

int cmd_fail(int code)
{
	const char *hint = l4s_errhint();
	/* Messages carry names and arguments from users and documents: show them safely. */
	char msg[2048], hbuf[2048];

	l4s_escape(msg, sizeof(msg), l4s_errmsg(), !l4s_json);
	if (hint)
		l4s_escape(hbuf, sizeof(hbuf), hint, !l4s_json);
	if (l4s_json) {
		json_t *doc = json_object();

		json_object_set_new(doc, "error", json_string(msg));
		if (hint)
			json_object_set_new(doc, "hint", json_string(hbuf));
		json_print(doc);
	} else {
		fprintf(stderr, "Error: %s\n", msg);
		if (hint)
			fprintf(stderr, "Hint: %s\n", hbuf);
	}
	return code;
}

int usage_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	l4s_err(22, "%s", buf);
	return cmd_fail(EXIT_USAGE);
}

void usage_help(int (*help)(void))
{
	if (!l4s_json) /* stdout in JSON mode is one document: the error */
		help();
}

/* The whole of @f in one buffer (a document is parsed from memory: jansson reads a stream
 * a character at a time). NULL with errno on failure. */
static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap), *tmp;

	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		tmp = realloc(buf, cap * 2);
		if (!tmp) {
			free(buf);
			return NULL;
		}
		buf = tmp;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	*len = n;
	return buf;
}

json_t *json_load_arg(const char *file, json_error_t *jerr)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	json_t *doc = NULL;
	size_t len = 0;
	char *buf;

	if (!f) {
		l4s_err(errno, "%s: %s", file, strerror(errno));
		jerr->line = -1;
		return NULL;
	}
	buf = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	if (!buf) {
		l4s_err(errno, "%s: %s", strcmp(file, "-") ? file : "stdin", strerror(errno));
		jerr->line = -1;
		return NULL;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
	free(buf);
	return doc;
}

/*
 * The document arena: while it is on, jansson allocates from large blocks and frees
 * nothing; doc_arena_end() gives the blocks back at once. A 14 MB pod list is a few
 * hundred thousand small objects: freeing them one by one was a third of a sync.
 * Every JSON value made while it is on must be released before it ends.
 */
#define ARENA_BLOCK (4u << 20)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(16) char mem[];
};

static struct arena_block *arena;

static void *arena_alloc(size_t n)
{
	struct arena_block *b = arena;

	n = (n + 15) & ~(size_t)15;
	if (!b || b->used + n > b->size) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = size;
		/* A block for one large value goes behind the current one, which keeps its room. */
		if (arena && n > ARENA_BLOCK) {
			b->next = arena->next;
			arena->next = b;
		} else {
			b->next = arena;
			arena = b;
		}
	}
	b->used += n;
	return b->mem + b->used - n;
}

static void arena_free(void *p)
{
	(void)p;
}

void doc_arena_begin(void)
{
	json_set_alloc_funcs(arena_alloc, arena_free);
}

void doc_arena_end(void)
{
	json_set_alloc_funcs(malloc, free);
	while (arena) {
		struct arena_block *next = arena->next;

		free(arena);
		arena = next;
	}
}

int opt_pretty;

void json_print(json_t *doc)
{
	json_dumpf(doc, stdout, (opt_pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, int (*help)(void),
		 const char *what)
{
	const struct cmd *match = NULL;
	size_t n;

	if (argc < 1) {
		if (help)
			usage_help(help);
		l4s_err(22, "missing %s", what);
		l4s_hint("'l4split help' shows the grammar");
		return cmd_fail(EXIT_USAGE);
	}
	if (is_help(argv[0]))
		return help ? help() : 0;
	n = strlen(argv[0]);
	for (const struct cmd *c = cmds; c->name; c++) {
		if (!strcmp(c->name, argv[0])) {
			match = c;
			break;
		}
		if (!strncmp(c->name, argv[0], n)) {
			if (match) {
				l4s_err(22, "%s \"%s\" is ambiguous: \"%s\" or \"%s\"", what,
					argv[0], match->name, c->name);
				l4s_hint("type more of its name");
				return cmd_fail(EXIT_USAGE);
			}
			match = c;
		}
	}
	if (!match) {
		l4s_err(22, "unknown %s \"%s\"", what, argv[0]);
		l4s_hint("see 'l4split help'");
		return cmd_fail(EXIT_USAGE);
	}
	return match->func(argc - 1, argv + 1);
}

