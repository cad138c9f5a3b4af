/* Deployment of certificate packs to disk for nginx/HAProxy/Envoy (SPEC §4.3), and the
 * operator's deploy hook.
 *
 * Layout under deploy_root (DATA/deploy), where <zone> is the zone's id (a zone name is
 * unique only within an account, so two tenants' zones of one name must never share a
 * directory):
 *
 *   <zone>/<pack id>            symlink -> .<pack id>.<16 hex>   (what servers point at)
 *   <zone>/.<pack id>.<16 hex>/ one complete, immutable set: {ecdsa,rsa}.{crt,key}
 *   <zone>/.<pack id>.<16 hex>.link   temp symlink, only between two steps of a swap
 *
 * A deployment writes a fresh versioned directory, fsyncs it, and swaps the pack's symlink
 * with one rename(); so after any crash the symlink names either the old or the new
 * complete set. A reader that resolves the symlink once (opens the directory, then
 * openat()s the files) always gets a .crt and .key that belong together. (One that opens
 * the two paths separately could straddle a swap in between; that is why the hook, which
 * tells servers to reload, runs only after the swap.)
 *
 * A caller deploys with deploy_pack() and then runs the hook with deploy_run_hook()
 * (event DEPLOY_EVENT_DEPLOY); it deletes with deploy_remove() and then the hook (event
 * DEPLOY_EVENT_DELETE). Names (zone, pack id, file names) must be non-empty, contain no '/'
 * and not start with '.'; others are refused. Functions return 0 or -1; on -1 a one-line
 * reason (never file contents) is in why. */
#ifndef TLSWARD_WORKER_DEPLOY_H
#define TLSWARD_WORKER_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/hook.h"

#define DEPLOY_HOOK_TIMEOUT_S 60 /* a hung hook is killed after 60 s */
#define DEPLOY_HOOK_OUTPUT_MAX                                                                     \
    HOOK_OUTPUT_MAX /* the last bytes of the hook's output kept for why */
#define DEPLOY_KEY_MODE 0600
#define DEPLOY_CERT_MODE 0644

/* One file of a pack ("ecdsa.crt", "ecdsa.key", …). data is borrowed for the call. */
struct deploy_files {
    const char *name;
    const char *data;
    size_t len;
    mode_t mode;
};

enum deploy_event { DEPLOY_EVENT_DEPLOY, DEPLOY_EVENT_DELETE };

/* What the hook is told, as TLSWARD_* environment variables. All borrowed. */
struct deploy_env {
    const char *zone;         /* TLSWARD_ZONE: the zone's name */
    const char *pack_id;      /* TLSWARD_PACK_ID */
    const char *const *hosts; /* TLSWARD_HOSTS: joined with single spaces */
    size_t n_hosts;
    const char *dir;         /* TLSWARD_DIR: deploy_pack_path() */
    enum deploy_event event; /* TLSWARD_EVENT: deploy | delete */
    const char *zone_id;     /* TLSWARD_ZONE_ID */
    const char *account_id;  /* TLSWARD_ACCOUNT_ID */
};

/* True when name may be a zone, pack or file name here (non-empty, no '/', no leading '.',
 * short enough for the versioned directory name). */
bool deploy_name_ok(const char *name);

/* "<deploy_root>/<zone>/<pack_id>", the stable path servers and the hook use (the
 * symlink). Caller xfree's. Names are not checked here. */
char *deploy_pack_path(const char *deploy_root, const char *zone, const char *pack_id);

/* Writes the n files into a fresh versioned directory (each fsync'd, with exactly its
 * mode), then atomically points <zone>/<pack_id> at it and removes the previous set.
 * Leftovers of an interrupted earlier deployment of this pack are swept first. Refuses to
 * replace a <pack_id> that is not a symlink. Holds the zone directory's flock(), so
 * concurrent deployments in the zone (threads or processes) are serialised. 0 or -1. */
int deploy_pack(const char *deploy_root, const char *zone, const char *pack_id,
                const struct deploy_files *files, size_t n, char *why, size_t why_size);

/* Removes <zone>/<pack_id> (the symlink first, so no reader ever sees a half-removed
 * set), then its directory and any leftovers. Nothing there is success. 0 or -1. */
int deploy_remove(const char *deploy_root, const char *zone, const char *pack_id, char *why,
                  size_t why_size);

/* Removes what a crash can leave behind: temp symlinks, and versioned directories that no
 * pack symlink names (including half-written ones). zone NULL sweeps every zone under
 * deploy_root; pack_id NULL every pack of the zone. Never touches the live sets. Returns
 * how many entries it removed, or -1. */
int deploy_sweep(const char *deploy_root, const char *zone, const char *pack_id, char *why,
                 size_t why_size);

/* Opens the directory at path and takes the exclusive flock() that deploy_pack(),
 * deploy_remove() and deploy_sweep() take on a zone directory (blocking). Returns the fd,
 * which holds the lock until closed, or -1 with errno. */
int deploy_lock_dir(const char *path);

/* Runs hook via /bin/sh -c in its own process group, with only PATH and the TLSWARD_*
 * variables in its environment, stdin from /dev/null and stdout/stderr captured. After
 * timeout_s seconds the whole group is killed with SIGKILL. The child is always reaped.
 * hook NULL or "" does nothing. 0 when the hook exited with status 0; otherwise -1 with
 * the exit status or the timeout, and the tail of its output, in why. */
int deploy_run_hook(const char *hook, const struct deploy_env *env, int timeout_s, char *why,
                    size_t why_size);

#endif
