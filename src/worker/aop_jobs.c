/* Deployment of Authenticated Origin Pulls certificates (SPEC §4.9) for the proxy that
 * dials origins. Each active certificate becomes two files under
 * DATA/deploy/<zone id>/origin-pull/{zone,hostnames}/: <id>.key (0600), written first, then
 * <id>.crt (0644), each atomically. The contents for an id never change, so a reader that
 * sees the .crt also sees its matching .key. Deletion removes both (certificate first). */
#include "worker/aop_jobs.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "pki/seal.h"
#include "worker/deploy.h"
#include "worker/node.h"

char *aop_deploy_path(const char *data_dir, const char *zone_id, const char *kind,
                      const char *cert_id, const char *ext)
{
    return xasprintf("%s/deploy/%s/origin-pull/%s/%s.%s", data_dir, zone_id,
                     strcmp(kind, "zone") == 0 ? "zone" : "hostnames", cert_id, ext);
}

bool aop_deploy_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n != UTIL_ID_LEN + 4 ||
        (strcmp(name + UTIL_ID_LEN, ".crt") != 0 && strcmp(name + UTIL_ID_LEN, ".key") != 0))
        return false;
    char id[UTIL_ID_LEN + 1];
    memcpy(id, name, UTIL_ID_LEN);
    id[UTIL_ID_LEN] = '\0';
    return util_is_id(id);
}

static int remove_files(struct app *app, const struct store_aop_cert *c, const char *zone);

/* Writes the key then the certificate; 0 or -1 (logged). zone is the zone's id. */
static int deploy_files(struct app *app, const struct store_aop_cert *c, const char *zone)
{
    char aad[64], *dir = NULL, *key_path = aop_deploy_path(app->config.data_dir, zone, c->kind,
                                                         c->id, "key"),
                  *crt_path = aop_deploy_path(app->config.data_dir, zone, c->kind, c->id, "crt");
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc = -1;
    snprintf(aad, sizeof aad, AOP_KEY_AAD_FMT, c->id);
    if (seal_decrypt(app->master_key, c->key_sealed, c->key_sealed_len, aad, &key, &key_len) < 0) {
        log_msg(LOG_ERROR, "aop certificate %s: sealed key does not open", c->id);
        goto out;
    }
    dir = xstrdup(key_path);
    *strrchr(dir, '/') = '\0';
    if (fsutil_mkdirs(dir, 0755) < 0 || fsutil_write_atomic(key_path, key, key_len, 0600, 0) < 0 ||
        fsutil_write_atomic(crt_path, c->certificate, strlen(c->certificate), 0644, 0) < 0) {
        log_msg(LOG_ERROR, "aop certificate %s: deploy to %s failed: %s", c->id, dir,
                strerror(errno));
        goto out;
    }
    struct store_zone z;
    if (store_zone_get(app->store, zone, &z) == STORE_NOT_FOUND) {
        /* The zone went while we wrote: its deletion job may already have swept this
         * directory, so take the files back rather than leave a key behind. */
        (void)remove_files(app, c, zone);
        log_msg(LOG_INFO, "aop certificate %s: zone %s is being deleted", c->id, zone);
        goto out;
    }
    rc = 0;
out:
    if (key) {
        OPENSSL_cleanse(key, key_len);
        xfree(key);
    }
    xfree(dir);
    xfree(key_path);
    xfree(crt_path);
    return rc;
}

/* Removes both files (absent files are fine); 0 or -1 (logged). */
static int remove_files(struct app *app, const struct store_aop_cert *c, const char *zone)
{
    static const char *const exts[] = {"crt", "key"};
    int rc = 0;
    char *dir = NULL;
    for (int i = 0; i < 2; i++) {
        char *path = aop_deploy_path(app->config.data_dir, zone, c->kind, c->id, exts[i]);
        if (unlink(path) < 0 && errno != ENOENT) {
            log_msg(LOG_ERROR, "aop certificate %s: cannot remove %s: %s", c->id, path,
                    strerror(errno));
            rc = -1;
        }
        if (!dir) {
            dir = path;
            *strrchr(dir, '/') = '\0';
        } else {
            xfree(path);
        }
    }
    if (rc == 0 && fsutil_fsync_dir(dir) < 0 && errno != ENOENT)
        rc = -1;
    xfree(dir);
    return rc;
}

int aop_job_deploy_here(struct app *app, const struct store_aop_cert *c)
{
    return deploy_name_ok(c->zone_id) && deploy_name_ok(c->id) ? deploy_files(app, c, c->zone_id)
                                                               : -1;
}

int aop_job_remove_here(struct app *app, const char *zone_id, const char *kind, const char *id)
{
    struct store_aop_cert c = {0};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.kind, sizeof c.kind, "%s", kind);
    return remove_files(app, &c, zone_id);
}

/* The job's own deployment and removal, recorded for this node (worker/node.h). */
static int deploy_recorded(struct app *app, const struct store_aop_cert *c, const char *zone)
{
    node_lock(app, c->id);
    int rc = deploy_files(app, c, zone);
    if (rc == 0)
        node_record(app, STORE_NODE_KIND_AOP, c->id, zone, 1, false);
    node_unlock(app, c->id);
    return rc;
}

static int remove_recorded(struct app *app, const struct store_aop_cert *c, const char *zone)
{
    node_lock(app, c->id);
    int rc = remove_files(app, c, zone);
    if (rc == 0)
        node_forget(app, c->id);
    node_unlock(app, c->id);
    return rc;
}

static enum job_outcome outcome_of(int rc)
{
    switch (rc) {
    case STORE_OK: return JOB_DONE;
    case STORE_NOT_FOUND: return JOB_DROP; /* gone with its zone */
    case STORE_CONFLICT: return JOB_AGAIN; /* an API DELETE moved it on meanwhile */
    default: return JOB_RETRY;
    }
}

/* A deployment or removal that keeps failing gives up after AOP_STEP_TIMEOUT_US in its
 * status (SPEC §4.9's deployment_timed_out / deletion_timed_out; a DELETE starts over). */
static enum job_outcome failed_step(struct app *app, const struct store_job *job,
                                    const char *owner, const struct store_aop_cert *c,
                                    const char *timed_out, int64_t now)
{
    if (now - c->updated_on < AOP_STEP_TIMEOUT_US)
        return JOB_RETRY;
    log_msg(LOG_WARN, "aop certificate %s: %s for too long: %s", c->id, c->status, timed_out);
    return outcome_of(store_aop_cert_advance(app->store, job, owner, c->status, timed_out, 0, now));
}

enum job_outcome aop_job_advance(struct app *app, const struct store_job *job, const char *owner)
{
    struct store_aop_cert c;
    struct store_zone zone;
    int rc = store_aop_cert_get(app->store, NULL, NULL, job->target, &c);
    if (rc != STORE_OK)
        return rc == STORE_NOT_FOUND ? JOB_DROP : JOB_RETRY;
    enum job_outcome outcome = JOB_DROP;
    int64_t now = util_now_us();
    rc = store_zone_get(app->store, c.zone_id, &zone);
    if (rc != STORE_OK) {
        outcome = rc == STORE_NOT_FOUND ? JOB_DROP : JOB_RETRY;
    } else if (!deploy_name_ok(zone.id) || !deploy_name_ok(c.id)) {
        log_msg(LOG_ERROR, "aop certificate %s: zone id unusable as a path", c.id);
        outcome = JOB_DROP;
    } else if (strcmp(c.status, "initializing") == 0) {
        outcome = outcome_of(store_aop_cert_advance(app->store, job, owner, "initializing",
                                                    "pending_deployment", now, now));
    } else if (strcmp(c.status, "pending_deployment") == 0) {
        outcome = deploy_recorded(app, &c, zone.id) < 0
                      ? failed_step(app, job, owner, &c, "deployment_timed_out", now)
                      : outcome_of(store_aop_cert_advance(app->store, job, owner,
                                                          "pending_deployment", "active", 0, now));
    } else if (strcmp(c.status, "pending_deletion") == 0) {
        outcome = remove_recorded(app, &c, zone.id) < 0
                      ? failed_step(app, job, owner, &c, "deletion_timed_out", now)
                      : outcome_of(store_aop_cert_advance(app->store, job, owner,
                                                          "pending_deletion", "deleted", 0, now));
    }
    if (outcome == JOB_DONE)
        log_msg(LOG_INFO, "aop certificate %s: step from %s done", c.id, c.status);
    store_aop_cert_clear(&c);
    return outcome;
}
