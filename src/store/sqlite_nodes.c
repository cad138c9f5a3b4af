/* Worker nodes and what each has deployed, on SQLite (store.h). Portable SQL only: the
 * PostgreSQL backend runs the same statements. */
#include "store/sqlite_internal.h"

#include <string.h>

#include "common/alloc.h"

#define NODE_LIST_MAX 1024 /* store_node_todo/_stale: rows per call at most */

static const char sql_register[] =
    "INSERT INTO nodes (id, name, started_on, heartbeat_at) VALUES (?1, ?2, ?3, ?3) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, started_on = excluded.started_on, "
    "heartbeat_at = excluded.heartbeat_at";
static const char sql_heartbeat[] = "UPDATE nodes SET heartbeat_at = ?2 WHERE id = ?1";
static const char sql_live_count[] = "SELECT count(*) FROM nodes WHERE heartbeat_at >= ?1";
static const char sql_get[] =
    "SELECT generation FROM node_deployments WHERE node_id = ?1 AND object_id = ?2";
static const char sql_put[] =
    "INSERT INTO node_deployments (node_id, object_id, kind, zone_id, generation, deployed_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (node_id, object_id) DO UPDATE SET "
    "kind = excluded.kind, zone_id = excluded.zone_id, generation = excluded.generation, "
    "deployed_at = excluded.deployed_at";
static const char sql_delete[] =
    "DELETE FROM node_deployments WHERE node_id = ?1 AND object_id = ?2";
static const char sql_missing[] =
    "SELECT count(*) FROM nodes n WHERE n.heartbeat_at >= ?3 AND n.id <> ?4 AND NOT EXISTS "
    "(SELECT 1 FROM node_deployments d WHERE d.node_id = n.id AND d.object_id = ?1 "
    "AND d.generation >= ?2)";
/* The newest generation of a pack's certificates: a renewal's new one is deployed on
 * every node before the pack shows it. */
static const char sql_todo[] =
    "SELECT x.id, x.zone_id, 'pack', x.gen FROM (SELECT p.id AS id, p.zone_id AS zone_id, "
    "(SELECT max(c.generation) FROM pack_certificates c WHERE c.pack_id = p.id) AS gen "
    "FROM packs p JOIN zones z ON z.id = p.zone_id AND z.deleting_on = 0 "
    "WHERE p.status IN ('pending_deployment', 'active', 'pending_expiration')) x "
    "WHERE x.gen IS NOT NULL AND NOT EXISTS (SELECT 1 FROM node_deployments d "
    "WHERE d.node_id = ?1 AND d.object_id = x.id AND d.generation >= x.gen) "
    "UNION ALL "
    "SELECT a.id, a.zone_id, 'aop', 1 FROM aop_certs a JOIN zones z ON z.id = a.zone_id "
    "AND z.deleting_on = 0 WHERE a.status = 'active' AND NOT EXISTS (SELECT 1 FROM "
    "node_deployments d WHERE d.node_id = ?1 AND d.object_id = a.id) LIMIT ?2";
/* A pack or certificate on its way out (pending_deletion, or its zone being deleted) is
 * removed by its own job (or the zone's) on the node that runs it; the others follow once
 * it is deleted or gone. */
static const char sql_stale[] =
    "SELECT d.object_id, d.zone_id, d.kind, d.generation FROM node_deployments d "
    "WHERE d.node_id = ?1 AND CASE WHEN d.kind = 'pack' THEN NOT EXISTS (SELECT 1 FROM packs p "
    "WHERE p.id = d.object_id AND p.status <> 'deleted') ELSE NOT EXISTS (SELECT 1 FROM "
    "aop_certs a WHERE a.id = d.object_id AND a.status <> 'deleted') END LIMIT ?2";

int store_node_register(struct store *s, const char *id, const char *name, int64_t now)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_register);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : store__bind_str(st, 2, name);
        b = b ? b : sqlite3_bind_int64(st, 3, now);
        rc = store__write(c, st, b, false, "node register");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_heartbeat(struct store *s, const char *id, int64_t now)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_heartbeat);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : sqlite3_bind_int64(st, 2, now);
        rc = store__write(c, st, b, true, "node heartbeat");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_live_count(struct store *s, int64_t live_since, int *count)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_live_count);
    int rc = store__read(c, st, st ? sqlite3_bind_int64(st, 1, live_since) : SQLITE_OK,
                         "node live count");
    *count = rc == STORE_OK ? sqlite3_column_int(st, 0) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_deployment_get(struct store *s, const char *node_id, const char *object_id,
                              int *generation)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_get);
    int b = st ? store__bind_str(st, 1, node_id) : SQLITE_OK;
    b = b || !st ? b : store__bind_str(st, 2, object_id);
    int rc = store__read(c, st, b, "node deployment get");
    *generation = rc == STORE_OK ? sqlite3_column_int(st, 0) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

struct put_args {
    const char *node_id;
    const struct store_node_deployment *d;
    bool wake_pack;
    int64_t now;
};

static int put_fn(struct conn *c, void *ctx)
{
    const struct put_args *a = ctx;
    sqlite3_stmt *st = store__prepare(c, sql_put);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->node_id);
        b = b ? b : store__bind_field(st, 2, a->d->object_id, sizeof a->d->object_id);
        b = b ? b : store__bind_field(st, 3, a->d->kind, sizeof a->d->kind);
        b = b ? b : store__bind_field(st, 4, a->d->zone_id, sizeof a->d->zone_id);
        b = b ? b : sqlite3_bind_int(st, 5, a->d->generation);
        b = b ? b : sqlite3_bind_int64(st, 6, a->now);
        rc = store__write(c, st, b, false, "node deployment put");
    }
    store__reset(st);
    if (rc == STORE_OK && a->wake_pack)
        rc = store__job_schedule(c, STORE_PACK_JOB, a->d->object_id, a->now, a->now);
    return rc;
}

int store_node_deployment_put(struct store *s, const char *node_id,
                              const struct store_node_deployment *d, bool wake_pack, int64_t now)
{
    struct put_args a = {node_id, d, wake_pack, now};
    return store__batch(s, put_fn, &a);
}

int store_node_deployment_delete(struct store *s, const char *node_id, const char *object_id)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_delete);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, node_id);
        b = b ? b : store__bind_str(st, 2, object_id);
        rc = store__write(c, st, b, false, "node deployment delete");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_missing(struct store *s, const char *pack_id, int generation, int64_t live_since,
                       const char *except_node, int *missing)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_missing);
    int b = st ? store__bind_str(st, 1, pack_id) : SQLITE_OK;
    b = b || !st ? b : sqlite3_bind_int(st, 2, generation);
    b = b || !st ? b : sqlite3_bind_int64(st, 3, live_since);
    b = b || !st ? b : store__bind_str(st, 4, except_node ? except_node : "");
    int rc = store__read(c, st, b, "node missing");
    *missing = rc == STORE_OK ? sqlite3_column_int(st, 0) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* Runs a (node_id, max) query whose rows are (object_id, zone_id, kind, generation). */
static int list(struct store *s, const char *sql, const char *what, const char *node_id, int max,
                struct store_node_deployment **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR, step = SQLITE_DONE;
    if (st) {
        int b = store__bind_str(st, 1, node_id);
        b = b ? b : sqlite3_bind_int(st, 2, max > 0 && max < NODE_LIST_MAX ? max : NODE_LIST_MAX);
        rc = b ? store__fail(c, b, what) : STORE_OK;
        struct store_node_deployment *rows = NULL;
        int n = 0, cap = 0;
        while (rc == STORE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == cap)
                rows = xrealloc(rows, (size_t)(cap = cap ? cap * 2 : 8) * sizeof *rows);
            struct store_node_deployment *d = &rows[n++];
            memset(d, 0, sizeof *d);
            store__col_text(st, 0, d->object_id, sizeof d->object_id);
            store__col_text(st, 1, d->zone_id, sizeof d->zone_id);
            store__col_text(st, 2, d->kind, sizeof d->kind);
            d->generation = sqlite3_column_int(st, 3);
        }
        if (rc == STORE_OK && step != SQLITE_DONE)
            rc = store__fail(c, step, what);
        if (rc == STORE_OK) {
            *out = rows;
            *count = n;
        } else {
            xfree(rows);
        }
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_todo(struct store *s, const char *node_id, int max,
                    struct store_node_deployment **out, int *count)
{
    return list(s, sql_todo, "node todo", node_id, max, out, count);
}

int store_node_stale(struct store *s, const char *node_id, int max,
                     struct store_node_deployment **out, int *count)
{
    return list(s, sql_stale, "node stale", node_id, max, out, count);
}
