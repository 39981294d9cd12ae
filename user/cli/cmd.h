/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The command layer: the only code that prints. Each do_*() takes the words
 * after its name and returns an exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef L4S_CMD_H
#define L4S_CMD_H

#include <jansson.h>
#include <linux/types.h>

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

/* Global options, set by main(). */
extern const char *opt_pin_dir;
extern int opt_pretty;

/* Dispatch to the command whose name @argv[0] is a unique prefix of. */
int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, int (*help)(void),
		 const char *what);
/* Print "Error: ..." (+ "Hint: ...") or {"error": ...}; returns @code. */
int cmd_fail(int code);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the grammar before a usage error, in human mode only. */
void usage_help(int (*help)(void));
/* Is @arg a help request? */
int is_help(const char *arg);
/*
 * Read the JSON document in @file ("-": stdin). NULL with jerr->line < 0 when the file
 * cannot be opened (the error is recorded: a runtime failure); NULL otherwise is a
 * document that does not parse (@jerr says where).
 */
json_t *json_load_arg(const char *file, json_error_t *jerr);
/* jansson allocating from an arena freed at once (for a large document read by one
 * command): every JSON value made between begin and end is released before end. */
void doc_arena_begin(void);
void doc_arena_end(void);
/* Print a JSON document (json mode), steals the reference. */
void json_print(json_t *doc);

int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_service(int argc, char **argv);
int do_backend(int argc, char **argv);
int do_weight(int argc, char **argv);
int do_status(int argc, char **argv);
int do_stats(int argc, char **argv);
/* stats NAME --watch: one frame per interval, @count frames (0: until a signal). */
int stats_watch(const char *name, __u64 interval_ms, __u64 count);
int do_sync(int argc, char **argv);
int do_rollout(int argc, char **argv);
int do_agent(int argc, char **argv);
int do_apply(int argc, char **argv);
int do_node(int argc, char **argv);
int do_explain(int argc, char **argv);
/* Cluster mode (cmd_cluster.c): NS/NAME as the service, or --kubeconfig among the words. */
int cluster_mode(int argc, char **argv);
int do_weight_cluster(int argc, char **argv);
int do_status_cluster(int argc, char **argv);
int do_rollout_cluster(int argc, char **argv);
/* Their help: @text 0 the usage lines, 1 the text after the node-local one. */
void help_weight_cluster(int text);
void help_status_cluster(int text);
void help_rollout_cluster(int text);

struct svc_spec;
struct write_result;
/* Open the state (locked), service_edit() it, close it: 0, or the exit code of the
 * failure (printed). *s is the spec as written; the caller frees it. */
int edit_service(const char *name, int (*edit)(struct svc_spec *s, void *ctx), void *ctx,
		 struct svc_spec *s, struct write_result *r);
/* After a change: the tracks and their shares (text or JSON). */
void print_shares(const struct svc_spec *s);
/* A Note when a backend with weight gets no slot (the table is too small for it). */
void note_starved(const struct svc_spec *s, const struct write_result *r);

int help_attach(void);
int help_detach(void);
int help_service(void);
int help_backend(void);
int help_weight(void);
int help_status(void);
int help_stats(void);
int help_sync(void);
int help_rollout(void);
int help_agent(void);
int help_apply(void);
int help_node(void);
int help_explain(void);

#endif
