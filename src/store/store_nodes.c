/* Worker nodes and what each has deployed (store.h). */
#include "store/store_internal.h"

#include <string.h>

#include "common/alloc.h"

#define NODE_LIST_MAX 1024 /* store_node_todo/_stale: rows per call at most */


int store_node_register(struct store *s, const char *id, const char *name, int64_t now)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_NODES_REGISTER);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : store__bind_str(st, 2, name);
        b = b ? b : db_bind_int64(st, 3, now);
        rc = store__write(c, st, b, false, "node register");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_heartbeat(struct store *s, const char *id, int64_t now)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_NODES_HEARTBEAT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : db_bind_int64(st, 2, now);
        rc = store__write(c, st, b, true, "node heartbeat");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_live_count(struct store *s, int64_t live_since, int *count)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_NODES_LIVE_COUNT);
    int rc = store__read(c, st, st ? db_bind_int64(st, 1, live_since) : DB_OK,
                         "node live count");
    *count = rc == STORE_OK ? db_col_int(st, 0) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_node_deployment_get(struct store *s, const char *node_id, const char *object_id,
                              int *generation)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_NODES_GET);
    int b = st ? store__bind_str(st, 1, node_id) : DB_OK;
    b = b || !st ? b : store__bind_str(st, 2, object_id);
    int rc = store__read(c, st, b, "node deployment get");
    *generation = rc == STORE_OK ? db_col_int(st, 0) : 0;
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
    struct db_stmt *st = store__prepare(c, STMT_NODES_PUT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->node_id);
        b = b ? b : store__bind_field(st, 2, a->d->object_id, sizeof a->d->object_id);
        b = b ? b : store__bind_field(st, 3, a->d->kind, sizeof a->d->kind);
        b = b ? b : store__bind_field(st, 4, a->d->zone_id, sizeof a->d->zone_id);
        b = b ? b : db_bind_int64(st, 5, a->d->generation);
        b = b ? b : db_bind_int64(st, 6, a->now);
        rc = store__write(c, st, b, false, "node deployment put");
    }
    store__reset(st);
    if (rc == STORE_OK && a->wake_pack)
        rc = store__job_schedule(c, STORE_JOB_PACK_ADVANCE, a->d->object_id, a->now, a->now);
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
    struct db_stmt *st = store__prepare(c, STMT_NODES_DELETE);
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
    struct db_stmt *st = store__prepare(c, STMT_NODES_MISSING);
    int b = st ? store__bind_str(st, 1, pack_id) : DB_OK;
    b = b || !st ? b : db_bind_int64(st, 2, generation);
    b = b || !st ? b : db_bind_int64(st, 3, live_since);
    b = b || !st ? b : store__bind_str(st, 4, except_node ? except_node : "");
    int rc = store__read(c, st, b, "node missing");
    *missing = rc == STORE_OK ? db_col_int(st, 0) : 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* Runs a (node_id, max) query whose rows are (object_id, zone_id, kind, generation). */
static int list(struct store *s, enum stmt_id sql, const char *what, const char *node_id, int max,
                struct store_node_deployment **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR, step = DB_DONE;
    if (st) {
        int b = store__bind_str(st, 1, node_id);
        b = b ? b : db_bind_int64(st, 2, max > 0 && max < NODE_LIST_MAX ? max : NODE_LIST_MAX);
        rc = b ? store__fail(c, b, what) : STORE_OK;
        struct store_node_deployment *rows = NULL;
        int n = 0, cap = 0;
        while (rc == STORE_OK && (step = db_step(st)) == DB_ROW) {
            if (n == cap)
                rows = xrealloc(rows, (size_t)(cap = cap ? cap * 2 : 8) * sizeof *rows);
            struct store_node_deployment *d = &rows[n++];
            memset(d, 0, sizeof *d);
            store__col_text(st, 0, d->object_id, sizeof d->object_id);
            store__col_text(st, 1, d->zone_id, sizeof d->zone_id);
            store__col_text(st, 2, d->kind, sizeof d->kind);
            d->generation = db_col_int(st, 3);
        }
        if (rc == STORE_OK && step != DB_DONE)
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
    return list(s, STMT_NODES_TODO, "node todo", node_id, max, out, count);
}

int store_node_stale(struct store *s, const char *node_id, int max,
                     struct store_node_deployment **out, int *count)
{
    return list(s, STMT_NODES_STALE, "node stale", node_id, max, out, count);
}
