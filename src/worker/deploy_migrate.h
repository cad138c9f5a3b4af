/* The start-up step that moves a deploy tree of the old layout, keyed by zone name
 * (DATA/deploy/<zone name>/…), to the layout keyed by zone id (see deploy.h). */
#ifndef TLSWARD_WORKER_DEPLOY_MIGRATE_H
#define TLSWARD_WORKER_DEPLOY_MIGRATE_H

struct app;
struct store;

/* Moves every pack deployment (<name>/<pack id> and the set it names) and every
 * origin-pull file (<name>/origin-pull/{zone,hostnames}/<cert id>.{crt,key}) found under
 * a name-keyed directory of deploy_root to the directory of the zone that owns it, looked
 * up by the pack's or certificate's id in the store (ids are unique, names are not). Each
 * move is a rename() (a pack's set first, then its symlink, so a crash in between is
 * resumed on the next start). What cannot be moved stays where it is with one log line
 * saying why; an emptied name directory is removed. Returns how many things it moved;
 * *failed (may be NULL) gets how many it left. */
int deploy_migrate(const char *deploy_root, struct store *s, int *failed);

/* deploy_migrate over DATA/deploy of a starting worker (logs a summary when it did
 * anything). */
void deploy_migrate_at_start(struct app *app);

#endif
