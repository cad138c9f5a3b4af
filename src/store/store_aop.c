/* Authenticated Origin Pulls (store.h): uploaded origin-pull certificates with
 * their worker-driven status, hostname associations, and the zone-level setting. */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

void store_aop_cert_clear(struct store_aop_cert *c)
{
    xfree(c->certificate);
    xfree(c->key_sealed);
    c->certificate = NULL;
    c->key_sealed = NULL;
}

void store_aop_cert_list_free(struct store_aop_cert *list, int count)
{
    for (int i = 0; i < count; i++)
        store_aop_cert_clear(&list[i]);
    xfree(list);
}

static int cert_from_row(struct db_stmt *st, struct store_aop_cert *c)
{
    memset(c, 0, sizeof *c);
    int rc = store__row_read(st, 0, store__aop_cert_cols, store__aop_cert_ncols, c);
    if (rc != STORE_OK)
        store_aop_cert_clear(c);
    return rc;
}

struct create_args {
    const struct store_aop_cert *c;
    int max;
};

static int live_count(struct conn *c, const char *zone_id, enum store_aop_kind kind, int *n)
{
    struct db_stmt *st = store__prepare(c, STMT_AOP_LIVE_COUNT);
    int b = st ? store__bind_str(st, 1, zone_id) : DB_OK;
    b = b ? b : (st ? store__bind_enum(st, 2, &store__enum_aop_kind, kind) : DB_OK);
    int rc = store__read(c, st, b, "aop cert count");
    if (rc == STORE_OK)
        *n = db_col_int(st, 0);
    store__reset(st);
    return rc;
}

static int create_fn(struct conn *c, void *ctx)
{
    const struct create_args *a = ctx;
    const struct store_aop_cert *r = a->c;
    if (a->max > 0) {
        int n = 0, rc = live_count(c, r->zone_id, r->kind, &n);
        if (rc != STORE_OK)
            return rc;
        if (n >= a->max)
            return STORE_QUOTA;
    }
    struct db_stmt *st = store__prepare(c, STMT_AOP_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_cols(st, 1, store__aop_cert_cols, store__aop_cert_ncols, r);
        rc = store__write(c, st, b, false, "aop cert create");
    }
    store__reset(st);
    if (rc == STORE_OK)
        rc = store__job_schedule(c, STORE_JOB_AOP_ADVANCE, r->id, r->uploaded_on, r->uploaded_on);
    return rc;
}

int store_aop_cert_create(struct store *s, const struct store_aop_cert *c, int max)
{
    struct create_args a = {c, max};
    return store__batch(s, create_fn, &a);
}

static int cert_read(struct conn *c, const char *zone_id, enum store_aop_kind kind, const char *id,
                     struct store_aop_cert *out)
{
    struct db_stmt *st = store__prepare(c, zone_id ? STMT_AOP_GET : STMT_AOP_BY_ID);
    int b = DB_OK;
    if (st && zone_id) {
        b = store__bind_str(st, 1, zone_id);
        b = b ? b : store__bind_enum(st, 2, &store__enum_aop_kind, kind);
        b = b ? b : store__bind_str(st, 3, id);
    } else if (st) {
        b = store__bind_str(st, 1, id);
    }
    int rc = store__read(c, st, b, "aop cert get");
    if (rc == STORE_OK)
        rc = cert_from_row(st, out);
    store__reset(st);
    return rc;
}

int store_aop_cert_get(struct store *s, const char *zone_id, enum store_aop_kind kind,
                       const char *id, struct store_aop_cert *out)
{
    struct conn *c = store__borrow(s);
    int rc = cert_read(c, zone_id, kind, id, out);
    store__give_back(s, c);
    return rc;
}

int store_aop_cert_list(struct store *s, const char *zone_id, enum store_aop_kind kind,
                        struct store_aop_cert **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_AOP_LIST);
    int rc = STORE_ERROR, cap = 0, step = DB_DONE;
    if (st && store__bind_str(st, 1, zone_id) == DB_OK &&
        store__bind_enum(st, 2, &store__enum_aop_kind, kind) == DB_OK) {
        while ((step = db_step(st)) == DB_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 8;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            if (cert_from_row(st, &(*out)[(*count)++]) != STORE_OK)
                break;
        }
        rc = step == DB_DONE  ? STORE_OK
             : step == DB_ROW ? STORE_ERROR /* a value this build does not know */
                              : store__fail(c, step, "aop cert list");
    }
    store__reset(st);
    store__give_back(s, c);
    if (rc != STORE_OK) {
        store_aop_cert_list_free(*out, *count);
        *out = NULL;
        *count = 0;
        return rc;
    }
    if (!*out)
        *out = xcalloc(1, sizeof **out);
    return STORE_OK;
}

static int set_status(struct conn *c, const char *id, enum store_aop_status status, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_AOP_SET_STATUS);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : store__bind_enum(st, 2, &store__enum_aop_status, status);
        b = b ? b : db_bind_int64(st, 3, now);
        rc = store__write(c, st, b, true, "aop cert status");
    }
    store__reset(st);
    return rc;
}

struct delete_args {
    const char *zone_id;
    enum store_aop_kind kind;
    const char *id;
    int64_t now;
    struct store_aop_cert *out;
};

static int delete_fn(struct conn *c, void *ctx)
{
    struct delete_args *a = ctx;
    int rc = cert_read(c, a->zone_id, a->kind, a->id, a->out);
    if (rc != STORE_OK)
        return rc;
    if (!store_aop_live(a->out->status)) /* already being deleted (or gone) */
        return STORE_CONFLICT;
    store_aop_cert_clear(a->out);
    rc = set_status(c, a->id, STORE_AOP_PENDING_DELETION, a->now);
    rc = rc ? rc : store__job_schedule(c, STORE_JOB_AOP_ADVANCE, a->id, a->now, a->now);
    return rc ? rc : cert_read(c, a->zone_id, a->kind, a->id, a->out);
}

int store_aop_cert_delete_request(struct store *s, const char *zone_id, enum store_aop_kind kind,
                                  const char *id, int64_t now, struct store_aop_cert *out)
{
    struct delete_args a = {zone_id, kind, id, now, out};
    memset(out, 0, sizeof *out);
    int rc = store__batch(s, delete_fn, &a);
    if (rc != STORE_OK && rc != STORE_CONFLICT)
        store_aop_cert_clear(out);
    return rc;
}

struct advance_args {
    const struct store_job *job;
    const char *owner;
    enum store_aop_status from, to;
    int64_t reschedule_at, now;
};

static int drop_associations(struct conn *c, const char *cert_id)
{
    struct db_stmt *st = store__prepare(c, STMT_AOP_HOST_DROP_CERT);
    int rc = st ? store__write(c, st, store__bind_str(st, 1, cert_id), false, "aop host drop")
                : STORE_ERROR;
    store__reset(st);
    return rc;
}

static int advance_fn(struct conn *c, void *ctx)
{
    struct advance_args *a = ctx;
    struct store_aop_cert cert;
    int rc = cert_read(c, NULL, STORE_AOP_KIND_INVALID, a->job->target, &cert);
    if (rc != STORE_OK)
        return rc;
    store_aop_cert_clear(&cert);
    if (cert.status != a->from)
        return STORE_CONFLICT;
    rc = set_status(c, cert.id, a->to, a->now);
    if (rc == STORE_OK && a->to == STORE_AOP_DELETED)
        rc = drop_associations(c, cert.id);
    return rc ? rc : store__job_complete(c, a->job, a->owner, a->reschedule_at, a->now);
}

int store_aop_cert_advance(struct store *s, const struct store_job *job, const char *owner,
                           enum store_aop_status from, enum store_aop_status to,
                           int64_t reschedule_at, int64_t now)
{
    struct advance_args a = {job, owner, from, to, reschedule_at, now};
    return store__batch(s, advance_fn, &a);
}

/* ---- hostname associations ---- */

struct put_args {
    const char *zone_id;
    const struct store_aop_hostname *changes;
    int n;
    int64_t now;
};

static int put_one(struct conn *c, const char *zone_id, const struct store_aop_hostname *h,
                   int64_t now)
{
    struct db_stmt *st =
        store__prepare(c, h->enabled < 0 ? STMT_AOP_HOST_DELETE : STMT_AOP_HOST_UPSERT);
    int rc = STORE_ERROR;
    if (st) {
        /* A removal names the hostname; an upsert also its certificate and flag (0/1). */
        int b = store__bind_str(st, 1, zone_id);
        b = b ? b : store__bind_cols(st, 2, store__aop_host_cols, h->enabled < 0 ? 1 : 3, h);
        if (h->enabled >= 0)
            b = b ? b : db_bind_int64(st, 5, now);
        rc = store__write(c, st, b, false, "aop host put");
    }
    store__reset(st);
    return rc;
}

static int put_fn(struct conn *c, void *ctx)
{
    const struct put_args *a = ctx;
    int rc = STORE_OK;
    for (int i = 0; i < a->n && rc == STORE_OK; i++)
        rc = put_one(c, a->zone_id, &a->changes[i], a->now);
    return rc;
}

int store_aop_hostnames_put(struct store *s, const char *zone_id,
                            const struct store_aop_hostname *changes, int n, int64_t now)
{
    struct put_args a = {zone_id, changes, n, now};
    return store__batch(s, put_fn, &a);
}

int store_aop_hostname_get(struct store *s, const char *zone_id, const char *hostname,
                           struct store_aop_hostname *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_AOP_HOST_GET);
    int b = st ? store__bind_str(st, 1, zone_id) : DB_OK;
    b = b ? b : (st ? store__bind_str(st, 2, hostname) : DB_OK);
    int rc = store__read(c, st, b, "aop host get");
    if (rc == STORE_OK) {
        memset(out, 0, sizeof *out);
        store__row_read(st, 0, store__aop_host_cols, store__aop_host_ncols, out);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* ---- zone-level setting ---- */

int store_aop_settings_get(struct store *s, const char *zone_id, bool *enabled)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_AOP_SETTINGS_GET);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, zone_id) : DB_OK, "aop settings");
    if (rc == STORE_OK)
        *enabled = db_col_int(st, 0) != 0;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

struct settings_args {
    const char *zone_id;
    bool enabled;
};

static int settings_fn(struct conn *c, void *ctx)
{
    const struct settings_args *a = ctx;
    struct db_stmt *st = store__prepare(c, STMT_AOP_SETTINGS_SET);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->zone_id);
        b = b ? b : db_bind_int64(st, 2, a->enabled ? 1 : 0);
        rc = store__write(c, st, b, true, "aop settings set");
    }
    store__reset(st);
    return rc;
}

int store_aop_settings_set(struct store *s, const char *zone_id, bool enabled)
{
    struct settings_args a = {zone_id, enabled};
    return store__batch(s, settings_fn, &a);
}
