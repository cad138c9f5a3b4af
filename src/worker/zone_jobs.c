/* The zone.delete job: what a DELETE /zones/{id} leaves to the worker.
 *
 * The request already hid the zone and revoked its client certificates in one
 * transaction. This job, which any worker may resume after a crash, then
 *   1. removes each pack that is not yet `deleted` exactly as a DELETE of the pack would
 *      (deployment removed, deploy hook run with TLSWARD_EVENT=delete) and marks it
 *      `deleted`, so a resumed job does not redo the packs it finished;
 *   2. removes the origin-pull certificates and keys under DATA/deploy/<zone id>/;
 *   3. sweeps and removes the zone's deploy directory (if empty: nothing foreign is lost);
 *   4. deletes the rows and completes itself in one transaction.
 * The lease is checked before every step that touches the disk or runs the hook; a lost
 * lease stops the job (the new holder redoes what is left). Pack and origin-pull jobs of
 * the zone find it gone (store_zone_get) and drop themselves, so nothing is redeployed. */
#include "worker/zone_jobs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/aop_jobs.h"
#include "worker/deploy.h"
#include "worker/pack_jobs.h"

#define ZONE_JOB_PAGE 50

/* Removes <zone dir>/origin-pull/{zone,hostnames}/<id>.{crt,key} (certificates first, so a
 * reader never finds a certificate without its key), then the directories if empty.
 * 0, or -1 (logged) when a file could not be removed. */
static int remove_origin_pull(const char *zone_dir)
{
    static const char *const kinds[] = {"zone", "hostnames"};
    static const char *const exts[] = {".crt", ".key"};
    int rc = 0;
    for (size_t k = 0; k < 2; k++) {
        char *dir = xasprintf("%s/origin-pull/%s", zone_dir, kinds[k]);
        for (size_t x = 0; x < 2; x++) {
            DIR *d = opendir(dir);
            if (!d && errno != ENOENT) {
                log_msg(LOG_WARN, "zone deletion: cannot list %s: %s", dir, strerror(errno));
                rc = -1;
            }
            for (struct dirent *e; d && (e = readdir(d));) {
                if (!aop_deploy_name_ok(e->d_name) || strcmp(e->d_name + UTIL_ID_LEN, exts[x]))
                    continue;
                char *path = xasprintf("%s/%s", dir, e->d_name);
                if (unlink(path) < 0 && errno != ENOENT) {
                    log_msg(LOG_WARN, "zone deletion: cannot remove %s: %s", path, strerror(errno));
                    rc = -1;
                }
                xfree(path);
            }
            if (d)
                closedir(d);
        }
        if (rc == 0 && fsutil_fsync_dir(dir) < 0 && errno != ENOENT)
            rc = -1;
        (void)rmdir(dir); /* only when empty: anything else there is not ours */
        xfree(dir);
    }
    char *dir = xasprintf("%s/origin-pull", zone_dir);
    (void)rmdir(dir);
    xfree(dir);
    return rc;
}

/* Step 1: every pack of the zone not yet deleted. JOB_DONE when none is left. */
static enum job_outcome remove_packs(struct app *app, const struct store_job *job,
                                     const char *owner, const struct store_zone *zone)
{
    struct store_pack_filter f = {
        .zone_id = zone->id, .include_deleted = false, .limit = ZONE_JOB_PAGE};
    for (;;) {
        struct store_pack *packs = NULL;
        int count = 0, total = 0;
        /* Each finished pack becomes deleted and leaves this list, so page 1 is all it takes;
         * a pack left over (its removal failed) ends the job with a retry. */
        if (store_pack_list(app->store, &f, &packs, &count, &total) != STORE_OK)
            return JOB_RETRY;
        enum job_outcome out = count == 0 ? JOB_DONE : JOB_AGAIN;
        for (int i = 0; i < count && out == JOB_AGAIN; i++) {
            if (!worker_lease_held(app, job, owner))
                out = JOB_DROP;
            else if (pack_job_remove_deployment(app, job, owner, zone, &packs[i]) < 0)
                out = JOB_RETRY; /* logged; the files may be gone, the hook failed */
            else if (store_zone_pack_removed(app->store, zone->id, packs[i].id, util_now_us()) !=
                     STORE_OK)
                out = JOB_RETRY;
        }
        store_pack_list_free(packs, count);
        if (out != JOB_AGAIN)
            return out;
    }
}

enum job_outcome zone_job_delete(struct app *app, const struct store_job *job, const char *owner)
{
    struct store_zone zone;
    int rc = store_zone_get_any(app->store, job->target, &zone);
    if (rc != STORE_OK)
        return rc == STORE_NOT_FOUND ? JOB_DROP : JOB_RETRY;
    if (!zone.deleting_on) { /* only a DELETE schedules this job */
        log_msg(LOG_ERROR, "zone %s: deletion job for a zone not being deleted", zone.id);
        return JOB_DROP;
    }
    enum job_outcome out = remove_packs(app, job, owner, &zone);
    if (out != JOB_DONE)
        return out;

    char why[256], *root = xasprintf("%s/deploy", app->config.data_dir);
    char *zone_dir = xasprintf("%s/%s", root, zone.id);
    out = JOB_RETRY;
    if (!worker_lease_held(app, job, owner)) {
        out = JOB_DROP;
        goto out;
    }
    if (remove_origin_pull(zone_dir) < 0)
        goto out;
    if (deploy_sweep(root, zone.id, NULL, why, sizeof why) < 0) {
        log_msg(LOG_WARN, "zone %s: %s", zone.id, why);
        goto out;
    }
    if (rmdir(zone_dir) < 0 && errno != ENOENT)
        log_msg(LOG_WARN, "zone %s: leaving %s: %s", zone.id, zone_dir, strerror(errno));
    if (!worker_lease_held(app, job, owner)) {
        out = JOB_DROP;
        goto out;
    }
    rc = store_zone_delete_finish(app->store, job, owner, zone.id, util_now_us());
    if (rc == STORE_OK) {
        log_msg(LOG_INFO, "zone %s (%s): deleted", zone.id, zone.name);
        out = JOB_DONE;
    } else {
        out = rc == STORE_NOT_FOUND || rc == STORE_CONFLICT ? JOB_DROP : JOB_RETRY;
    }
out:
    xfree(zone_dir);
    xfree(root);
    return out;
}
