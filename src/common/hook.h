/* Operator hooks: a command line from the configuration (--deploy-hook, --dns-hook) run
 * via /bin/sh -c with tlsward's facts passed as environment variables.
 *
 * The hook runs through posix_spawn (safe in a multi-threaded process), in its own process
 * group, with default signal dispositions, an empty signal mask, no inherited descriptors
 * beyond 0-2, and only PATH and the caller's variables in its environment (values are
 * passed as data, never interpolated into the command). Its stdout and stderr go to one
 * pipe whose last HOOK_OUTPUT_MAX bytes are kept for the failure message. The wait polls
 * the pipe and waitpid(WNOHANG) against a monotonic deadline; at the deadline SIGKILL goes
 * to the whole group (so the hook's own children die too) and the child is reaped. A
 * background process that a successful hook leaves holding the pipe does not delay the
 * return. */
#ifndef TLSWARD_COMMON_HOOK_H
#define TLSWARD_COMMON_HOOK_H

#include <stddef.h>

#define HOOK_OUTPUT_MAX 4096 /* the last bytes of the hook's output kept for why */

/* Runs cmd via /bin/sh -c with PATH and vars ("NAME=value" strings, NULL-terminated,
 * borrowed) as its environment, killed after timeout_s seconds. `what` names the hook in
 * messages ("deploy hook"). cmd NULL or "" does nothing. 0 when the hook exited with status
 * 0; otherwise -1 with the exit status or the timeout, and the tail of its output, in why. */
int hook_run(const char *cmd, const char *const *vars, const char *what, int timeout_s, char *why,
             size_t why_size);

#endif
