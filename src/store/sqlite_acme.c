/* ACME accounts, open orders and upstream certificates in SQLite (store.h, migration 12). */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/store_internal.h"


/* ---- accounts ---- */

void store_acme_account_clear(struct store_acme_account *a)
{
    xfree(a->key_sealed);
    a->key_sealed = NULL;
    a->key_sealed_len = 0;
}

static int bind_account_key(struct db_stmt *st, const char *account_id, const char *ca,
                            const char *directory_url)
{
    int b = store__bind_str(st, 1, account_id);
    b = b ? b : store__bind_str(st, 2, ca);
    return b ? b : store__bind_str(st, 3, directory_url);
}

int store_acme_account_get(struct store *s, const char *account_id, const char *ca,
                           const char *directory_url, struct store_acme_account *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_ACME_ACCOUNT_GET);
    memset(out, 0, sizeof *out);
    int rc = store__read(c, st, st ? bind_account_key(st, account_id, ca, directory_url) : 0,
                         "acme account get");
    if (rc == STORE_OK) {
        snprintf(out->account_id, sizeof out->account_id, "%s", account_id);
        snprintf(out->ca, sizeof out->ca, "%s", ca);
        snprintf(out->directory_url, sizeof out->directory_url, "%s", directory_url);
        store__col_text(st, 0, out->account_url, sizeof out->account_url);
        out->key_sealed = store__col_blobdup(st, 1, &out->key_sealed_len);
        out->created_on = db_col_int64(st, 2);
        out->updated_on = db_col_int64(st, 3);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

static int account_insert_fn(struct conn *c, void *ctx)
{
    const struct store_acme_account *a = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_ACCOUNT_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = bind_account_key(st, a->account_id, a->ca, a->directory_url);
        b = b ? b : store__bind_str(st, 4, a->account_url);
        b = b ? b : db_bind_blob(st, 5, a->key_sealed, (int)a->key_sealed_len);
        b = b ? b : db_bind_int64(st, 6, a->created_on);
        rc = store__write(c, st, b, false, "acme account create");
    }
    store__reset(st);
    return rc;
}

int store_acme_account_create(struct store *s, const struct store_acme_account *a)
{
    return store__batch(s, account_insert_fn, (void *)a);
}

struct account_url_args {
    const struct store_acme_account *a;
    int64_t now;
};

static int account_url_fn(struct conn *c, void *ctx)
{
    const struct account_url_args *x = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_ACCOUNT_URL);
    int rc = STORE_ERROR;
    if (st) {
        int b = bind_account_key(st, x->a->account_id, x->a->ca, x->a->directory_url);
        b = b ? b : store__bind_str(st, 4, x->a->account_url);
        b = b ? b : db_bind_int64(st, 5, x->now);
        rc = store__write(c, st, b, true, "acme account url");
    }
    store__reset(st);
    return rc;
}

int store_acme_account_set_url(struct store *s, const struct store_acme_account *a, int64_t now)
{
    struct account_url_args x = {a, now};
    return store__batch(s, account_url_fn, &x);
}

/* ---- orders ---- */

void store_acme_order_clear(struct store_acme_order *o)
{
    xfree(o->authz_urls);
    xfree(o->key_sealed);
    o->authz_urls = NULL;
    o->key_sealed = NULL;
    o->key_sealed_len = 0;
}

int store_acme_order_get(struct store *s, const char *pack_id, const char *key_type,
                         struct store_acme_order *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_ACME_ORDER_GET);
    memset(out, 0, sizeof *out);
    int b = st ? store__bind_str(st, 1, pack_id) : 0;
    b = b || !st ? b : store__bind_str(st, 2, key_type);
    int rc = store__read(c, st, b, "acme order get");
    if (rc == STORE_OK) {
        snprintf(out->pack_id, sizeof out->pack_id, "%s", pack_id);
        snprintf(out->key_type, sizeof out->key_type, "%s", key_type);
        store__col_text(st, 0, out->order_url, sizeof out->order_url);
        out->authz_urls = store__col_strdup(st, 1);
        store__col_text(st, 2, out->finalize_url, sizeof out->finalize_url);
        store__col_text(st, 3, out->certificate_url, sizeof out->certificate_url);
        store__col_text(st, 4, out->status, sizeof out->status);
        out->expires_on = db_col_int64(st, 5);
        out->key_sealed = store__col_blobdup(st, 6, &out->key_sealed_len);
        out->created_on = db_col_int64(st, 7);
        out->updated_on = db_col_int64(st, 8);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

static int order_put_fn(struct conn *c, void *ctx)
{
    const struct store_acme_order *o = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_ORDER_PUT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, o->pack_id);
        b = b ? b : store__bind_str(st, 2, o->key_type);
        b = b ? b : store__bind_str(st, 3, o->order_url);
        b = b ? b : store__bind_str(st, 4, o->authz_urls ? o->authz_urls : "");
        b = b ? b : store__bind_str(st, 5, o->finalize_url);
        b = b ? b : store__bind_str(st, 6, o->certificate_url);
        b = b ? b : store__bind_str(st, 7, o->status);
        b = b ? b : db_bind_int64(st, 8, o->expires_on);
        b = b ? b : db_bind_blob(st, 9, o->key_sealed, o->key_sealed ? o->key_sealed_len : 0);
        b = b ? b : db_bind_int64(st, 10, o->created_on);
        b = b ? b : db_bind_int64(st, 11, o->updated_on);
        rc = store__write(c, st, b, false, "acme order put");
    }
    store__reset(st);
    return rc;
}

int store_acme_order_put(struct store *s, const struct store_acme_order *o)
{
    return store__batch(s, order_put_fn, (void *)o);
}

static int order_delete_fn(struct conn *c, void *ctx)
{
    struct db_stmt *st = store__prepare(c, STMT_ACME_ORDER_DELETE);
    int rc = st ? store__write(c, st, store__bind_str(st, 1, ctx), false, "acme order delete")
                : STORE_ERROR;
    store__reset(st);
    return rc;
}

int store_acme_order_delete(struct store *s, const char *pack_id)
{
    return store__batch(s, order_delete_fn, (void *)pack_id);
}

/* ---- certificates ---- */

void store_acme_cert_clear(struct store_acme_cert *c)
{
    xfree(c->leaf_pem);
    c->leaf_pem = NULL;
}

static int cert_insert_fn(struct conn *c, void *ctx)
{
    const struct store_acme_cert *x = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_CERT_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, x->cert_id);
        b = b ? b : store__bind_str(st, 2, x->pack_id);
        b = b ? b : store__bind_str(st, 3, x->account_id);
        b = b ? b : store__bind_str(st, 4, x->ca);
        b = b ? b : store__bind_str(st, 5, x->serial);
        b = b ? b : store__bind_str(st, 6, x->leaf_pem);
        b = b ? b : db_bind_int64(st, 7, x->created_on);
        rc = store__write(c, st, b, false, "acme cert create");
    }
    store__reset(st);
    return rc;
}

int store_acme_cert_create(struct store *s, const struct store_acme_cert *c)
{
    return store__batch(s, cert_insert_fn, (void *)c);
}

int store_acme_cert_get(struct store *s, const char *cert_id, struct store_acme_cert *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_ACME_CERT_GET);
    memset(out, 0, sizeof *out);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, cert_id) : 0, "acme cert get");
    if (rc == STORE_OK) {
        snprintf(out->cert_id, sizeof out->cert_id, "%s", cert_id);
        store__col_text(st, 0, out->pack_id, sizeof out->pack_id);
        store__col_text(st, 1, out->account_id, sizeof out->account_id);
        store__col_text(st, 2, out->ca, sizeof out->ca);
        store__col_text(st, 3, out->serial, sizeof out->serial);
        out->leaf_pem = store__col_strdup(st, 4);
        out->revoked_on = db_col_int64(st, 5);
        out->created_on = db_col_int64(st, 6);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

struct revoke_args {
    const char *pack_id;
    int count;
};

/* Reads the pack's unrevoked certificates and schedules a revocation job for each, in one
 * transaction (a crash never leaves some scheduled and the rest forgotten). */
static int revoke_pack_fn(struct conn *c, void *ctx)
{
    struct revoke_args *x = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_CERTS_UNREVOKED);
    if (!st)
        return STORE_ERROR;
    int b = store__bind_str(st, 1, x->pack_id), rc = STORE_OK;
    if (b != DB_OK) {
        store__reset(st);
        return store__fail(c, b, "acme certs of a pack");
    }
    char ids[16][STORE_ID_SIZE];
    int n = 0;
    while (n < 16 && (rc = store__step_row(c, st, "acme certs of a pack")) == STORE_OK)
        store__col_text(st, 0, ids[n++], STORE_ID_SIZE);
    store__reset(st);
    if (rc != STORE_NOT_FOUND && rc != STORE_OK)
        return rc;
    int64_t now = util_now_us();
    for (int i = 0; i < n; i++)
        if ((rc = store__job_schedule(c, STORE_ACME_REVOKE_JOB, ids[i], now, now)) != STORE_OK)
            return rc;
    x->count = n;
    return STORE_OK;
}

int store_acme_certs_revoke_pack(struct store *s, const char *pack_id, int *count)
{
    struct revoke_args x = {pack_id, 0};
    int rc = store__batch(s, revoke_pack_fn, &x);
    if (count)
        *count = x.count;
    return rc;
}

struct revoked_args {
    const char *cert_id;
    int64_t now;
};

static int cert_revoked_fn(struct conn *c, void *ctx)
{
    const struct revoked_args *x = ctx;
    struct db_stmt *st = store__prepare(c, STMT_ACME_CERT_REVOKED);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, x->cert_id);
        b = b ? b : db_bind_int64(st, 2, x->now);
        rc = store__write(c, st, b, true, "acme cert revoked");
    }
    store__reset(st);
    return rc;
}

int store_acme_cert_set_revoked(struct store *s, const char *cert_id, int64_t now)
{
    struct revoked_args x = {cert_id, now};
    return store__batch(s, cert_revoked_fn, &x);
}
