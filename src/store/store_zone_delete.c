/* Zone deletion (store.h): the request's transaction that hides the zone and
 * revokes its client certificates, the per-pack progress of the deletion job, and the
 * job's last transaction that deletes the rows.
 *
 * A hidden zone keeps its rows until the job is done, so the job can still read its packs
 * and name after a crash; every zone reader but store_zone_get_any filters on
 * deleting_on = 0. */
#include "store/store_internal.h"

#include <string.h>


/* Runs one statement binding ?1 = zone_id (and ?2 = now when with_now). */
static int exec_zone(struct conn *c, enum stmt_id sql, const char *zone_id, int64_t now,
                     bool with_now, bool must_change, const char *what)
{
    struct db_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, zone_id);
        b = b || !with_now ? b : db_bind_int64(st, 2, now);
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
    int rc = exec_zone(c, STMT_ZDEL_HIDE, a->zone_id, a->now, true, true, "zone hide");
    rc = rc ? rc : store__zone_revoke_client_certs(c, a->zone_id, a->now);
    return rc ? rc : store__job_schedule(c, STORE_JOB_ZONE_DELETE, a->zone_id, a->now, a->now);
}

int store_zone_delete_request(struct store *s, const char *zone_id, int64_t now)
{
    struct delete_args a = {.zone_id = zone_id, .now = now};
    return store__batch(s, request_fn, &a);
}

static int pack_removed_fn(struct conn *c, void *ctx)
{
    const struct delete_args *a = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ZDEL_PACK_REMOVED);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->pack_id);
        b = b ? b : store__bind_str(st, 2, a->zone_id);
        b = b ? b : db_bind_int64(st, 3, a->now);
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
    struct db_stmt *st = store__prepare(c, STMT_ZDEL_IS_DELETING);
    int rc =
        store__read(c, st, st ? store__bind_str(st, 1, a->zone_id) : DB_OK, "zone deleting");
    store__reset(st);
    /* A certificate signed while the deletion ran must not vanish unrevoked either. */
    rc = rc ? rc : store__zone_revoke_client_certs(c, a->zone_id, a->now);
    rc = rc ? rc : exec_zone(c, STMT_ZDEL_REVOKE_ACME, a->zone_id, a->now, true, false, "zone acme");
    rc = rc ? rc : exec_zone(c, STMT_ZDEL_DROP_JOBS, a->zone_id, 0, false, false, "zone jobs");
    rc = rc ? rc : exec_zone(c, STMT_ZDEL_DELETE, a->zone_id, 0, false, true, "zone delete");
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
