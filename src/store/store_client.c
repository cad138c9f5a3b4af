/* Managed client CAs, their revocations and client certificates (store.h). */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* ---- client CAs ---- */

void store_client_ca_clear(struct store_client_ca *ca)
{
    xfree(ca->cert_pem);
    xfree(ca->key_sealed);
    xfree(ca->crl_der);
    ca->cert_pem = NULL;
    ca->key_sealed = ca->crl_der = NULL;
}

static int ca_from_row(struct db_stmt *st, struct store_client_ca *ca)
{
    memset(ca, 0, sizeof *ca);
    return store__row_read(st, 0, store__client_ca_cols, store__client_ca_ncols, ca);
}

struct ca_create_args {
    const struct store_client_ca *ca;
    int64_t refresh_at;
};

static int ca_create_fn(struct conn *c, void *ctx)
{
    const struct ca_create_args *a = ctx;
    const struct store_client_ca *ca = a->ca;
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CA_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_cols(st, 1, store__client_ca_cols, store__client_ca_ncols, ca);
        rc = store__write(c, st, b, false, "client CA create");
    }
    store__reset(st);
    if (rc == STORE_OK)
        rc = store__job_schedule(c, STORE_JOB_CRL, ca->id, a->refresh_at, ca->created_on);
    return rc;
}

int store_client_ca_create(struct store *s, const struct store_client_ca *ca, int64_t refresh_at)
{
    struct ca_create_args a = {ca, refresh_at};
    return store__batch(s, ca_create_fn, &a);
}

static int ca_query(struct store *s, enum stmt_id sql, const char *arg, struct store_client_ca *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, arg) : DB_OK, "client CA get");
    if (rc == STORE_OK)
        rc = ca_from_row(st, out);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_client_ca_by_account(struct store *s, const char *account_id, struct store_client_ca *out)
{
    return ca_query(s, STMT_CLIENT_CA_BY_ACCOUNT, account_id, out);
}

int store_client_ca_get(struct store *s, const char *id, struct store_client_ca *out)
{
    return ca_query(s, STMT_CLIENT_CA_GET, id, out);
}

int store_client_ca_signer(struct store *s, const char *account_id, struct store_client_ca *out)
{
    return ca_query(s, STMT_CLIENT_CA_SIGNER_BY_ACCOUNT, account_id, out);
}

int store_client_ca_revocations(struct store *s, const char *ca_id, struct store_revocation **out,
                                int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CA_REVOCATIONS);
    int rc = STORE_ERROR, cap = 0, step = DB_DONE;
    if (st && store__bind_str(st, 1, ca_id) == DB_OK) {
        while ((step = db_step(st)) == DB_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 16;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            struct store_revocation *r = &(*out)[(*count)++];
            store__col_text(st, 0, r->serial, sizeof r->serial);
            r->revoked_on = db_col_int64(st, 1);
        }
        rc = step == DB_DONE ? STORE_OK : store__fail(c, step, "revocations");
    }
    store__reset(st);
    store__give_back(s, c);
    if (rc != STORE_OK) {
        xfree(*out);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

struct replace_crl_args {
    const struct store_job *job;
    const char *owner;
    uint64_t expected, number;
    const unsigned char *der;
    size_t len;
    int64_t next_update, refresh_at, now;
};

static int replace_crl_fn(struct conn *c, void *ctx)
{
    const struct replace_crl_args *a = ctx;
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CA_REPLACE_CRL);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, a->job->target);
        b = b ? b : db_bind_int64(st, 2, (int64_t)a->expected);
        b = b ? b : db_bind_int64(st, 3, (int64_t)a->number);
        b = b ? b : db_bind_blob(st, 4, a->der, (int)a->len);
        b = b ? b : db_bind_int64(st, 5, a->next_update);
        rc = store__write(c, st, b, true, "CRL replace");
    }
    store__reset(st);
    if (rc == STORE_NOT_FOUND)
        return STORE_CONFLICT; /* another CRL was stored since we read the CA */
    if (rc == STORE_OK)
        rc = store__job_complete(c, a->job, a->owner, a->refresh_at, a->now);
    return rc;
}

int store_client_ca_replace_crl(struct store *s, const struct store_job *job, const char *owner,
                                uint64_t expected_number, uint64_t crl_number,
                                const unsigned char *der, size_t len, int64_t next_update,
                                int64_t refresh_at, int64_t now)
{
    struct replace_crl_args a = {job, owner,       expected_number, crl_number, der,
                                 len, next_update, refresh_at,      now};
    return store__batch(s, replace_crl_fn, &a);
}

/* ---- client certificates ---- */

void store_client_cert_clear(struct store_client_cert *c)
{
    xfree(c->csr);
    xfree(c->certificate);
    c->csr = c->certificate = NULL;
}

void store_client_cert_list_free(struct store_client_cert *list, int count)
{
    for (int i = 0; i < count; i++)
        store_client_cert_clear(&list[i]);
    xfree(list);
}

static int cert_from_row(struct db_stmt *st, struct store_client_cert *c)
{
    memset(c, 0, sizeof *c);
    int rc = store__row_read(st, 0, store__client_cert_cols, store__client_cert_ncols, c);
    if (rc != STORE_OK)
        store_client_cert_clear(c);
    return rc;
}

static int bind_cert(struct db_stmt *st, const struct store_client_cert *c)
{
    return store__bind_cols(st, 1, store__client_cert_cols, store__client_cert_ncols, c);
}

static int cert_create_fn(struct conn *c, void *ctx)
{
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CERT_INSERT);
    int rc =
        st ? store__write(c, st, bind_cert(st, ctx), false, "client cert create") : STORE_ERROR;
    store__reset(st);
    return rc;
}

int store_client_cert_create(struct store *s, const struct store_client_cert *c)
{
    return store__batch(s, cert_create_fn, (void *)c);
}

void store_client_cert_create_async(struct store *s, const struct store_client_cert *c,
                                    store_done_fn done, void *ctx)
{
    store__batch_async(s, cert_create_fn, (void *)c, done, ctx);
}

/* Reads one certificate by (zone, id) or, with zone_id NULL, by id alone. */
static int cert_read(struct conn *c, const char *zone_id, const char *id,
                     struct store_client_cert *out)
{
    struct db_stmt *st = store__prepare(c, zone_id ? STMT_CLIENT_CERT_GET : STMT_CLIENT_CERT_BY_ID);
    int b = DB_OK;
    if (st && zone_id) {
        b = store__bind_str(st, 1, zone_id);
        b = b ? b : store__bind_str(st, 2, id);
    } else if (st) {
        b = store__bind_str(st, 1, id);
    }
    int rc = store__read(c, st, b, "client cert get");
    if (rc == STORE_OK)
        rc = cert_from_row(st, out);
    store__reset(st);
    return rc;
}

int store_client_cert_get(struct store *s, const char *zone_id, const char *id,
                          struct store_client_cert *out)
{
    struct conn *c = store__borrow(s);
    int rc = cert_read(c, zone_id, id, out);
    store__give_back(s, c);
    return rc;
}

static int bind_list_filter(struct db_stmt *st, const void *filter)
{
    const struct store_client_cert_filter *f = filter;
    int b = store__bind_str(st, 1, f->zone_id);
    if (b == DB_OK && f->status)
        return store__bind_enum(st, 2, &store__enum_cert_status, *f->status);
    return b ? b : db_bind_null(st, 2);
}

static int cert_row_cb(struct db_stmt *st, void *row)
{
    return cert_from_row(st, row);
}

static void cert_clear_cb(void *row)
{
    store_client_cert_clear(row);
}

int store_client_cert_list(struct store *s, const struct store_client_cert_filter *f,
                           struct store_client_cert **out, int *count, int *total)
{
    static const struct store__pager pager = {.what = "client cert list",
                                              .count_id = STMT_CLIENT_CERT_COUNT,
                                              .page_id = STMT_CLIENT_CERT_LIST,
                                              .nparams = 2,
                                              .bind = bind_list_filter,
                                              .row_size = sizeof(struct store_client_cert),
                                              .read_row = cert_row_cb,
                                              .clear_row = cert_clear_cb};
    void *rows;
    int rc = store__page(s, &pager, f, f->offset, f->limit, &rows, count, total);
    *out = rows;
    return rc;
}

static int set_status(struct conn *c, const char *id, enum store_cert_status status, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CERT_SET_STATUS);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, id);
        b = b ? b : store__bind_enum(st, 2, &store__enum_cert_status, status);
        b = b ? b : db_bind_int64(st, 3, now);
        rc = store__write(c, st, b, true, "client cert status");
    }
    store__reset(st);
    return rc;
}

struct request_args {
    const char *zone_id, *id;
    enum store_cert_status from, to;
    enum store_job_kind job_kind;
    int64_t now;
    struct store_client_cert *out;
};

static int request_fn(struct conn *c, void *ctx)
{
    struct request_args *a = ctx;
    int rc = cert_read(c, a->zone_id, a->id, a->out);
    if (rc != STORE_OK)
        return rc;
    if (a->out->status != a->from)
        return STORE_CONFLICT;
    store_client_cert_clear(a->out);
    rc = set_status(c, a->id, a->to, a->now);
    rc = rc ? rc : store__job_schedule(c, a->job_kind, a->id, a->now, a->now);
    return rc ? rc : cert_read(c, a->zone_id, a->id, a->out);
}

int store_client_cert_request(struct store *s, const char *zone_id, const char *id,
                              enum store_cert_status from, enum store_cert_status to,
                              enum store_job_kind job_kind, int64_t now,
                              struct store_client_cert *out)
{
    struct request_args a = {zone_id, id, from, to, job_kind, now, out};
    memset(out, 0, sizeof *out);
    int rc = store__batch(s, request_fn, &a);
    if (rc == STORE_CONFLICT) /* the savepoint rolled back; out holds the unchanged cert */
        return rc;
    if (rc != STORE_OK)
        store_client_cert_clear(out);
    return rc;
}

struct complete_args {
    const struct store_job *job;
    const char *owner;
    enum store_cert_status from, to;
    int64_t now;
};

static int record_revocation(struct conn *c, const char *ca_id, const char *serial, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_REVOCATION_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, ca_id);
        b = b ? b : store__bind_str(st, 2, serial);
        b = b ? b : db_bind_int64(st, 3, now);
        rc = store__write(c, st, b, false, "revocation insert");
    }
    store__reset(st);
    return rc;
}

int store__client_cert_revoke(struct conn *c, const char *id, const char *ca_id, const char *serial,
                              int64_t now)
{
    int rc = set_status(c, id, STORE_CERT_REVOKED, now);
    rc = rc ? rc : record_revocation(c, ca_id, serial, now);
    return rc ? rc : store__job_schedule(c, STORE_JOB_CRL, ca_id, now, now);
}

/* What revoking a certificate needs, collected before any row is changed. */
struct unrevoked {
    char id[STORE_ID_SIZE];
    char ca_id[STORE_UUID_SIZE];
    char serial[48];
};

int store__zone_revoke_client_certs(struct conn *c, const char *zone_id, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_ZONE_UNREVOKED);
    if (!st)
        return STORE_ERROR;
    struct unrevoked *list = NULL;
    int n = 0, cap = 0, step, rc = STORE_OK, b = store__bind_str(st, 1, zone_id);
    if (b != DB_OK)
        rc = store__fail(c, b, "zone client certs");
    while (rc == STORE_OK && (step = db_step(st)) != DB_DONE) {
        if (step != DB_ROW) {
            rc = store__fail(c, step, "zone client certs");
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            list = xrealloc(list, (size_t)cap * sizeof *list);
        }
        store__col_text(st, 0, list[n].id, sizeof list[n].id);
        store__col_text(st, 1, list[n].ca_id, sizeof list[n].ca_id);
        store__col_text(st, 2, list[n].serial, sizeof list[n].serial);
        n++;
    }
    store__reset(st);
    for (int i = 0; i < n && rc == STORE_OK; i++)
        rc = store__client_cert_revoke(c, list[i].id, list[i].ca_id, list[i].serial, now);
    xfree(list);
    return rc;
}

static int complete_fn(struct conn *c, void *ctx)
{
    struct complete_args *a = ctx;
    struct store_client_cert cert;
    int rc = cert_read(c, NULL, a->job->target, &cert);
    if (rc != STORE_OK)
        return rc;
    store_client_cert_clear(&cert);
    if (cert.status != a->from)
        return STORE_CONFLICT;
    if (a->to == STORE_CERT_REVOKED) {
        rc = store__client_cert_revoke(c, cert.id, cert.ca_id, cert.serial, a->now);
    } else {
        rc = set_status(c, cert.id, a->to, a->now);
        rc = rc ? rc : store__job_schedule(c, STORE_JOB_CRL, cert.ca_id, a->now, a->now);
    }
    return rc ? rc : store__job_complete(c, a->job, a->owner, 0, a->now);
}

int store_client_cert_complete(struct store *s, const struct store_job *job, const char *owner,
                               enum store_cert_status from, enum store_cert_status to, int64_t now)
{
    struct complete_args a = {job, owner, from, to, now};
    return store__batch(s, complete_fn, &a);
}

int store_client_cert_count_by_status(struct store *s, const char *const *statuses, int n,
                                      long long *counts)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_CLIENT_CERT_STATUS_COUNT);
    int rc = st ? STORE_OK : STORE_ERROR;
    for (int i = 0; i < n && rc == STORE_OK; i++) {
        rc = store__read(c, st, store__bind_str(st, 1, statuses[i]), "client cert counts");
        if (rc == STORE_OK)
            counts[i] = db_col_int64(st, 0);
        store__reset(st);
    }
    store__give_back(s, c);
    return rc;
}
