/* Zone deletion on SQLite (store.h): the request's transaction that hides the zone and
 * revokes its client certificates, the per-pack progress of the deletion job, and the
 * job's last transaction that deletes the rows.
 *
 * A hidden zone keeps its rows until the job is done, so the job can still read its packs
 * and name after a crash; every zone reader but store_zone_get_any filters on
 * deleting_on = 0. */
#include "store/sqlite_internal.h"

#include <string.h>

/* The zone gives its name up (name := id, see migration 8) so the account may reuse it. */
static const char sql_hide[] =
    "UPDATE zones SET deleting_on = ?2, deleting_name = name, name = id, modified_on = ?2 "
    "WHERE id = ?1 AND deleting_on = 0";
static const char sql_is_deleting[] = "SELECT 1 FROM zones WHERE id = ?1 AND deleting_on <> 0";
static const char sql_pack_removed[] =
    "UPDATE packs SET status = 'deleted', status_since = ?3, modified_on = ?3, "
    "version = version + 1 WHERE id = ?1 AND zone_id = ?2 AND status <> 'deleted'";
/* The jobs of the zone's rows: they would only find their target gone. */
static const char sql_drop_jobs[] =
    "DELETE FROM jobs WHERE (kind = '" STORE_PACK_JOB "' AND target IN "
    "(SELECT id FROM packs WHERE zone_id = ?1)) OR (kind = '" STORE_AOP_JOB "' AND target IN "
    "(SELECT id FROM aop_certs WHERE zone_id = ?1)) OR (kind IN ('client_cert.revoke', "
    "'client_cert.reactivate') AND target IN (SELECT id FROM client_certs WHERE zone_id = ?1))";
/* Every upstream certificate of the zone's packs not yet revoked gets its revocation job (the
 * same upsert as store__job_schedule): the job already scheduled one per pack as it removed
 * it, but a certificate stored while the deletion ran would otherwise outlive its zone
 * unrevoked. acme_certs rows have no foreign key, so they outlive the packs for the jobs. */
static const char sql_revoke_acme[] =
    "INSERT INTO jobs (kind, target, next_run_at, created_on) "
    "SELECT '" STORE_ACME_REVOKE_JOB "', cert_id, ?2, ?2 FROM acme_certs WHERE revoked_on = 0 "
    "AND pack_id IN (SELECT id FROM packs WHERE zone_id = ?1) "
    "ON CONFLICT (kind, target) DO UPDATE SET next_run_at = min(next_run_at, "
    "excluded.next_run_at), rerun = CASE WHEN lease_until > excluded.created_on THEN 1 "
    "ELSE rerun END";
/* Cascades to packs (and their certificates), client and origin-pull certificates and
 * hostname associations; the CA and its revocation list are the account's and stay. */
static const char sql_delete[] = "DELETE FROM zones WHERE id = ?1 AND deleting_on <> 0";

/* Runs one statement binding ?1 = zone_id (and ?2 = now when with_now). */
static int exec_zone(struct conn *c, const char *sql, const char *zone_id, int64_t now,
                     bool with_now, bool must_change, const char *what)
{
    sqlite3_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, zone_id);
        b = b || !with_now ? b : sqlite3_bind_int64(st, 2, now);
        rc = store__write(c, st, b, must_change, what);
    }
    store__reset(st);
    return rc;
}

struct delete_args {
    const struct store_job *job;
    const char *owner, *zone_id, *pack_id;
    int64_t now;
};

static int request_fn(struct conn *c, void *ctx)
{
    const struct delete_args *a = ctx;
    int rc = exec_zone(c, sql_hide, a->zone_id, a->now, true, true, "zone hide");
    rc = rc ? rc : store__zone_revoke_client_certs(c, a->zone_id, STORE_CRL_JOB, a->now);
    return rc ? rc : store__job_schedule(c, STORE_ZONE_DELETE_JOB, a->zone_id, a->now, a->now);
}

int store_zone_delete_request(struct store *s, const char *zone_id, int64_t now)
{
    struct delete_args a = {.zone_id = zone_id, .now = now};
    return store__batch(s, request_fn, &a);
}

static int pack_removed_fn(struct conn *c, void *ctx)
{
    const struct delete_args *a = ctx;
    sqlite3_stmt *st = store__prepare(c, sql_pack_removed);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->pack_id);
        b = b ? b : store__bind_str(st, 2, a->zone_id);
        b = b ? b : sqlite3_bind_int64(st, 3, a->now);
        rc = store__write(c, st, b, false, "zone pack removed");
    }
    store__reset(st);
    return rc;
}

int store_zone_pack_removed(struct store *s, const char *zone_id, const char *pack_id, int64_t now)
{
    struct delete_args a = {.zone_id = zone_id, .pack_id = pack_id, .now = now};
    return store__batch(s, pack_removed_fn, &a);
}

static int finish_fn(struct conn *c, void *ctx)
{
    const struct delete_args *a = ctx;
    sqlite3_stmt *st = store__prepare(c, sql_is_deleting);
    int rc =
        store__read(c, st, st ? store__bind_str(st, 1, a->zone_id) : SQLITE_OK, "zone deleting");
    store__reset(st);
    /* A certificate signed while the deletion ran must not vanish unrevoked either. */
    rc = rc ? rc : store__zone_revoke_client_certs(c, a->zone_id, STORE_CRL_JOB, a->now);
    rc = rc ? rc : exec_zone(c, sql_revoke_acme, a->zone_id, a->now, true, false, "zone acme");
    rc = rc ? rc : exec_zone(c, sql_drop_jobs, a->zone_id, 0, false, false, "zone jobs");
    rc = rc ? rc : exec_zone(c, sql_delete, a->zone_id, 0, false, true, "zone delete");
    if (rc == STORE_OK && a->job)
        rc = store__job_complete(c, a->job, a->owner, 0, a->now);
    return rc;
}

int store_zone_delete_finish(struct store *s, const struct store_job *job, const char *owner,
                             const char *zone_id, int64_t now)
{
    struct delete_args a = {.job = job, .owner = owner, .zone_id = zone_id, .now = now};
    return store__batch(s, finish_fn, &a);
}
