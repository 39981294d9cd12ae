/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers shared by the programs that drive the real datapath in-process. */
#ifndef L4S_TEST_CLI_H
#define L4S_TEST_CLI_H

#include <stddef.h>
#include <stdint.h>

/* Run an l4split command ("service add ...", "backend ...", "weight ...") through the
 * real command layer; returns its exit code. */
int cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One BPF_PROG_TEST_RUN (repeat 1); returns -errno when the kernel refuses the frame
 * itself, else 0 with the verdict in @ret and the frame that came out in @out. */
int try_prog(int fd, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen, int *ret);

/* Open the state in @pin_dir and load the real programs over it; @fds gets the XDP,
 * tc forward and tc reply program fds. NULL on failure. */
struct l4s_state;
struct l4split_bpf;
struct l4split_bpf *dp_load(struct l4s_state *st, const char *pin_dir, int fds[3]);
/* A datapath verdict counter (l4s_reasons), summed over CPUs. */
uint64_t dp_reason(struct l4s_state *st, unsigned int reason);
/* A test group whose setup failed (cmocka skips its teardown): unload what was loaded, or
 * when nothing was, remove the state and the pin directory (its bpffs unmounted lazily:
 * what a failed load still holds keeps the mount busy until the process exits). */
void dp_setup_failed(struct l4split_bpf *skel, struct l4s_state *st, const char *pin_dir);
/* Unload, close the state and remove the pin directory with everything in it. */
void dp_unload(struct l4split_bpf *skel, struct l4s_state *st, const char *pin_dir);

#endif
