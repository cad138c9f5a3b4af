/* ACME accounts, open orders and upstream certificates (store.h, migration 12). */
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

static int bind_account_key(struct db_stmt *st, const char *account_id, enum pack_ca ca,
                            const char *directory_url)
{
    int b = store__bind_str(st, 1, account_id);
    b = b ? b : store__bind_enum(st, 2, &store__enum_pack_ca, ca);
    return b ? b : store__bind_str(st, 3, directory_url);
}

int store_acme_account_get(struct store *s, const char *account_id, enum pack_ca ca,
                           const char *directory_url, struct store_acme_account *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_ACME_ACCOUNT_GET);
    memset(out, 0, sizeof *out);
    int rc = store__read(c, st, st ? bind_account_key(st, account_id, ca, directory_url) : 0,
                         "acme account get");
    if (rc == STORE_OK) {
        store__row_read(st, 0, store__acme_account_cols, store__acme_account_ncols, out);
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
        /* Every column but updated_on, which starts as created_on (?6). */
        int b = store__bind_cols(st, 1, store__acme_account_cols, store__acme_account_ncols - 1, a);
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

int store_acme_order_get(struct store *s, const char *pack_id, enum store_key_type key_type,
                         struct store_acme_order *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_ACME_ORDER_GET);
    memset(out, 0, sizeof *out);
    int b = st ? store__bind_str(st, 1, pack_id) : 0;
    b = b || !st ? b : store__bind_enum(st, 2, &store__enum_key_type, key_type);
    int rc = store__read(c, st, b, "acme order get");
    if (rc == STORE_OK &&
        (rc = store__row_read(st, 0, store__acme_order_cols, store__acme_order_ncols, out)))
        store_acme_order_clear(out);
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
        int b = store__bind_cols(st, 1, store__acme_order_cols, store__acme_order_ncols, o);
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
        /* Every column but revoked_on, which starts at 0. */
        int b = store__bind_cols(st, 1, store__acme_cert_cols, store__acme_cert_ncols - 1, x);
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
        store__row_read(st, 0, store__acme_cert_cols, store__acme_cert_ncols, out);
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
        if ((rc = store__job_schedule(c, STORE_JOB_ACME_REVOKE, ids[i], now, now)) != STORE_OK)
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
