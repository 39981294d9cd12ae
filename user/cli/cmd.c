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

json_t *json_load_arg(const char *file, json_error_t *jerr)
{
	json_t *doc;
	FILE *f;

	if (!strcmp(file, "-"))
		return json_loadf(stdin, JSON_REJECT_DUPLICATES, jerr);
	f = fopen(file, "r");
	if (!f) {
		l4s_err(errno, "%s: %s", file, strerror(errno));
		jerr->line = -1;
		return NULL;
	}
	doc = json_loadf(f, JSON_REJECT_DUPLICATES, jerr);
	if (!doc && jerr->line < 0) /* a read error, not a syntax error */
		jerr->line = 0;
	fclose(f);
	return doc;
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

