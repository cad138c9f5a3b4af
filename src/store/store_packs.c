/* The built-in CA, certificate packs and their certificates (store.h). */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* ---- the built-in CA ---- */

void store_local_ca_clear(struct store_local_ca *ca)
{
    xfree(ca->root_pem);
    xfree(ca->intermediate_pem);
    xfree(ca->root_key_sealed);
    xfree(ca->intermediate_key_sealed);
    memset(ca, 0, sizeof *ca);
}

static int ca_insert_fn(struct conn *c, void *ctx)
{
    const struct store_local_ca *ca = ctx;
    struct db_stmt *st = store__prepare(c, STMT_PACKS_CA_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, ca->root_pem);
        b = b ? b : store__bind_str(st, 2, ca->intermediate_pem);
        b = b ? b : db_bind_blob(st, 3, ca->root_key_sealed, (int)ca->root_key_sealed_len);
        b = b ? b
              : db_bind_blob(st, 4, ca->intermediate_key_sealed,
                             (int)ca->intermediate_key_sealed_len);
        b = b ? b : db_bind_int64(st, 5, ca->created_on);
        rc = store__write(c, st, b, false, "local CA create");
    }
    store__reset(st);
    return rc;
}

int store_local_ca_create(struct store *s, const struct store_local_ca *ca)
{
    return store__batch(s, ca_insert_fn, (void *)ca);
}

int store_local_ca_get(struct store *s, struct store_local_ca *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_CA_GET);
    int rc = store__read(c, st, DB_OK, "local CA get");
    memset(out, 0, sizeof *out);
    if (rc == STORE_OK) {
        out->root_pem = store__col_strdup(st, 0);
        out->intermediate_pem = store__col_strdup(st, 1);
        out->root_key_sealed = store__col_blobdup(st, 2, &out->root_key_sealed_len);
        out->intermediate_key_sealed = store__col_blobdup(st, 3, &out->intermediate_key_sealed_len);
        out->created_on = db_col_int64(st, 4);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* ---- packs ---- */

void store_pack_clear(struct store_pack *p)
{
    store_pack_hosts_clear(p);
    store_pack_records_clear(p);
    store_pack_errors_clear(p);
    store_pack_delegation_clear(p);
}

void store_pack_list_free(struct store_pack *list, int count)
{
    for (int i = 0; i < count; i++)
        store_pack_clear(&list[i]);
    xfree(list);
}

static int pack_from_row(struct db_stmt *st, struct store_pack *p)
{
    struct store__pack_row row;
    memset(&row, 0, sizeof row);
    int rc = store__row_read(st, 0, store__pack_cols, store__pack_ncols, &row);
    int decoded = store__pack_row_decode(&row, p);
    if (rc == STORE_OK)
        rc = decoded;
    if (rc != STORE_OK)
        store_pack_clear(p);
    return rc;
}

/* STORE_QUOTA when the zone has no room for another advanced pack. */
static int check_quota(struct conn *c, const char *zone_id)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_QUOTA_COUNTED);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, zone_id) : DB_OK, "pack quota");
    if (rc == STORE_OK && db_col_int(st, 1) >= db_col_int(st, 0))
        rc = STORE_QUOTA;
    store__reset(st);
    return rc;
}

/* Inserts an encoded pack row (its texts bound as they are: they outlive the statement's
 * run) and schedules the pack's job. */
static int insert_row(struct conn *c, const struct store__pack_row *row)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_PACK_INSERT);
    int rc =
        st ? store__write(c, st, store__bind_cols(st, 1, store__pack_cols, store__pack_ncols, row),
                          false, "pack create")
           : STORE_ERROR;
    store__reset(st);
    const struct store_pack *p = &row->p;
    return rc ? rc
              : store__job_schedule(c, STORE_JOB_PACK_ADVANCE, p->id, p->created_on, p->created_on);
}

int store__pack_insert(struct conn *c, const struct store_pack *p)
{
    struct store__pack_row row;
    if (store__pack_row_encode(&row, p) != STORE_OK)
        return store__fail(c, DB_ERROR, "pack create");
    int rc = insert_row(c, &row);
    store__pack_row_texts_free(&row);
    return rc;
}

static int pack_create_fn(struct conn *c, void *ctx)
{
    const struct store__pack_row *row = ctx;
    int rc = row->p.type == STORE_PACK_ADVANCED ? check_quota(c, row->p.zone_id) : STORE_OK;
    return rc != STORE_OK ? rc : insert_row(c, row);
}

/* ---- Universal SSL ---- */

struct universal_args {
    const char *zone_id;
    bool enabled;
    const struct store_pack *pack;
    int64_t now;
    int changed;
};

/* Moves the zone's live universal packs to pending_deletion and schedules their jobs. */
static int retire_universal(struct conn *c, const char *zone_id, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_UNIVERSAL_LIVE);
    if (!st || store__bind_str(st, 1, zone_id) != DB_OK)
        return STORE_ERROR;
    char ids[4][STORE_ID_SIZE];
    int n = 0, step;
    while ((step = db_step(st)) == DB_ROW && n < 4)
        store__col_text(st, 0, ids[n++], sizeof ids[0]);
    store__reset(st);
    if (step != DB_ROW && step != DB_DONE)
        return store__fail(c, step, "universal packs");
    int rc = STORE_OK;
    for (int i = 0; i < n && rc == STORE_OK; i++) {
        st = store__prepare(c, STMT_PACKS_UNIVERSAL_RETIRE);
        int b = st ? store__bind_str(st, 1, ids[i]) : DB_ERROR;
        b = b ? b : db_bind_int64(st, 2, now);
        rc = st ? store__write(c, st, b, false, "universal retire") : STORE_ERROR;
        store__reset(st);
        if (rc == STORE_OK)
            rc = store__job_schedule(c, STORE_JOB_PACK_ADVANCE, ids[i], now, now);
    }
    return rc;
}

static int universal_fn(struct conn *c, void *ctx)
{
    struct universal_args *a = ctx;
    struct db_stmt *st = store__prepare(c, STMT_PACKS_UNIVERSAL_FLAG);
    int b = st ? store__bind_str(st, 1, a->zone_id) : DB_ERROR;
    b = b ? b : db_bind_int64(st, 2, a->enabled ? 1 : 0);
    int rc = st ? store__write(c, st, b, true, "universal flag") : STORE_ERROR;
    a->changed = rc == STORE_OK ? db_changes(c) : 0;
    store__reset(st);
    if (rc != STORE_OK || !a->changed)
        return rc == STORE_NOT_FOUND ? STORE_OK : rc; /* already in that state */
    if (!a->enabled)
        return retire_universal(c, a->zone_id, a->now);
    return a->pack ? store__pack_insert(c, a->pack) : STORE_OK;
}

int store_zone_set_universal(struct store *s, const char *zone_id, bool enabled,
                             const struct store_pack *pack, int64_t now)
{
    struct universal_args a = {zone_id, enabled, pack, now, 0};
    return store__batch(s, universal_fn, &a);
}

int store_pack_create(struct store *s, const struct store_pack *p)
{
    /* The row's JSON texts are encoded here, before the write is queued: nothing of it
     * needs the group commit's writer, whose time every queued write waits for. */
    struct store__pack_row row;
    if (store__pack_row_encode(&row, p) != STORE_OK)
        return store__fail(NULL, DB_ERROR, "pack create");
    int rc = store__batch(s, pack_create_fn, &row);
    store__pack_row_texts_free(&row);
    return rc;
}

static int pack_query(struct store *s, enum stmt_id sql, const char *a1, const char *a2,
                      struct store_pack *out)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int b = st ? store__bind_str(st, 1, a1) : DB_OK;
    if (st && a2 && b == DB_OK)
        b = store__bind_str(st, 2, a2);
    int rc = store__read(c, st, b, "pack get");
    if (rc == STORE_OK)
        rc = pack_from_row(st, out);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_pack_get(struct store *s, const char *zone_id, const char *id, struct store_pack *out)
{
    return pack_query(s, STMT_PACKS_PACK_GET, zone_id, id, out);
}

int store_pack_by_id(struct store *s, const char *id, struct store_pack *out)
{
    return pack_query(s, STMT_PACKS_PACK_BY_ID, id, NULL, out);
}

static int bind_pack_filter(struct db_stmt *st, const void *filter)
{
    const struct store_pack_filter *f = filter;
    return store__bind_str(st, 1, f->zone_id);
}

static int pack_row_cb(struct db_stmt *st, void *row)
{
    return pack_from_row(st, row);
}

/* Positions in PACK_COLS of the key's columns (test_store_packs holds a keys-only list to
 * the full one, so a change of PACK_COLS that moves them fails there). */
enum {
    PACK_COL_ID = 0,
    PACK_COL_ZONE_ID = 1,
    PACK_COL_STATUS = 3,
    PACK_COL_CERT_GENERATION = 15,
    PACK_COL_VERSION = 16,
    PACK_COL_MODIFIED_ON = 18,
};

static int pack_key_row_cb(struct db_stmt *st, void *row)
{
    struct store_pack *p = row;
    int status = store__col_enum(st, PACK_COL_STATUS, &store__enum_pack_status);
    if (status < 0)
        return STORE_ERROR;
    store__col_text(st, PACK_COL_ID, p->id, sizeof p->id);
    store__col_text(st, PACK_COL_ZONE_ID, p->zone_id, sizeof p->zone_id);
    p->status = (enum pack_status)status;
    p->cert_generation = db_col_int(st, PACK_COL_CERT_GENERATION);
    p->version = db_col_int(st, PACK_COL_VERSION);
    p->modified_on = db_col_int64(st, PACK_COL_MODIFIED_ON);
    return STORE_OK;
}

static void pack_clear_cb(void *row)
{
    store_pack_clear(row);
}

static const char *pack_scope(const void *filter)
{
    return ((const struct store_pack_filter *)filter)->zone_id;
}

/* The three forms of a zone's pack list, each with its own position maps. */
static const struct store__seek pack_seek_active = {.list = 1,
                                                    .version_id = STMT_PACKS_LIST_VERSION,
                                                    .keys_id = STMT_PACKS_KEYS_ACTIVE,
                                                    .seek_id = STMT_PACKS_SEEK_ACTIVE,
                                                    .scope = pack_scope};
static const struct store__seek pack_seek_all = {.list = 2,
                                                 .version_id = STMT_PACKS_LIST_VERSION,
                                                 .keys_id = STMT_PACKS_KEYS_ALL,
                                                 .seek_id = STMT_PACKS_SEEK_ALL,
                                                 .scope = pack_scope};
static const struct store__seek pack_seek_live = {.list = 3,
                                                  .version_id = STMT_PACKS_LIST_VERSION,
                                                  .keys_id = STMT_PACKS_KEYS_LIVE,
                                                  .seek_id = STMT_PACKS_SEEK_LIVE,
                                                  .scope = pack_scope};

int store_pack_list(struct store *s, const struct store_pack_filter *f, struct store_pack **out,
                    int *count, int *total)
{
    struct store__pager pager = {.what = "pack list",
                                 .count_id = f->active_only       ? STMT_PACKS_PACK_COUNT_ACTIVE
                                             : f->include_deleted ? STMT_PACKS_PACK_COUNT_ALL
                                                                  : STMT_PACKS_PACK_COUNT_LIVE,
                                 .page_id = f->active_only       ? STMT_PACKS_PACK_LIST_ACTIVE
                                            : f->include_deleted ? STMT_PACKS_PACK_LIST_ALL
                                                                 : STMT_PACKS_PACK_LIST_LIVE,
                                 .nparams = 1,
                                 .bind = bind_pack_filter,
                                 .no_count_row_is_zero =
                                     true, /* the per-zone counters: a zone that is gone */
                                 .row_size = sizeof(struct store_pack),
                                 .read_row = f->keys_only ? pack_key_row_cb : pack_row_cb,
                                 .clear_row = pack_clear_cb,
                                 .seek = f->active_only       ? &pack_seek_active
                                         : f->include_deleted ? &pack_seek_all
                                                              : &pack_seek_live};
    void *rows;
    int rc = store__page(s, &pager, f, f->offset, f->limit, &rows, count, total);
    *out = rows;
    return rc;
}

int store_pack_quota(struct store *s, const char *zone_id, int *allocated, int *used)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_QUOTA_COUNTED);
    int rc = store__read(c, st, st ? store__bind_str(st, 1, zone_id) : DB_OK, "pack quota");
    if (rc == STORE_OK) {
        *allocated = db_col_int(st, 0);
        *used = db_col_int(st, 1);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

/* ---- updates ---- */

void store_pack_cert_clear(struct store_pack_cert *c)
{
    xfree(c->chain_pem);
    xfree(c->key_sealed);
    c->chain_pem = NULL;
    c->key_sealed = NULL;
}

void store_pack_cert_list_free(struct store_pack_cert *list, int count)
{
    for (int i = 0; i < count; i++)
        store_pack_cert_clear(&list[i]);
    xfree(list);
}

struct update_args {
    const struct store_pack *p;
    const struct store_pack_cert *certs;
    int count;
    const struct store_job *job;
    const char *owner;
    int64_t reschedule_at, now;
};

static int write_pack(struct conn *c, const struct store_pack *p, int64_t now)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_PACK_UPDATE);
    int rc = STORE_ERROR;
    struct store__pack_row row = {0};
    if (st) {
        int b = store__bind_field(st, 1, p->id, sizeof p->id);
        b = b ? b : db_bind_int64(st, 2, p->version);
        b = b ? b : (store__pack_row_encode(&row, p) == STORE_OK ? DB_OK : DB_ERROR);
        b = b ? b
              : store__bind_cols(st, 3, store__pack_update_cols, store__pack_update_ncols, &row);
        b = b ? b : db_bind_int64(st, 14, now);
        rc = store__write(c, st, b, true, "pack update");
    }
    store__reset(st);
    store__pack_row_texts_free(&row);
    return rc == STORE_NOT_FOUND ? STORE_CONFLICT : rc; /* changed (or gone) since read */
}

static int insert_cert(struct conn *c, const struct store_pack_cert *k)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_CERT_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_cols(st, 1, store__pack_cert_cols, store__pack_cert_ncols, k);
        rc = store__write(c, st, b, false, "pack certificate insert");
    }
    store__reset(st);
    return rc;
}

/* Certificates older than the visible generation are no longer needed. */
static int prune_certs(struct conn *c, const struct store_pack *p)
{
    struct db_stmt *st = store__prepare(c, STMT_PACKS_CERTS_PRUNE);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_field(st, 1, p->id, sizeof p->id);
        b = b ? b : db_bind_int64(st, 2, p->cert_generation);
        rc = store__write(c, st, b, false, "pack certificate prune");
    }
    store__reset(st);
    return rc;
}

static int update_fn(struct conn *c, void *ctx)
{
    const struct update_args *a = ctx;
    int rc = write_pack(c, a->p, a->now);
    for (int i = 0; rc == STORE_OK && i < a->count; i++)
        rc = insert_cert(c, &a->certs[i]);
    if (rc == STORE_OK)
        rc = prune_certs(c, a->p);
    if (rc != STORE_OK)
        return rc;
    if (a->job)
        return store__job_complete(c, a->job, a->owner, a->reschedule_at, a->now);
    if (a->reschedule_at)
        return store__job_schedule(c, STORE_JOB_PACK_ADVANCE, a->p->id, a->reschedule_at, a->now);
    return STORE_OK;
}

int store_pack_update_with_certs(struct store *s, const struct store_pack *p,
                                 const struct store_pack_cert *certs, int count,
                                 const struct store_job *job, const char *owner,
                                 int64_t reschedule_at, int64_t now)
{
    struct update_args a = {p, certs, count, job, owner, reschedule_at, now};
    return store__batch(s, update_fn, &a);
}

int store_pack_update(struct store *s, const struct store_pack *p, const struct store_job *job,
                      const char *owner, int64_t reschedule_at, int64_t now)
{
    return store_pack_update_with_certs(s, p, NULL, 0, job, owner, reschedule_at, now);
}

static int cert_from_row(struct db_stmt *st, struct store_pack_cert *k)
{
    memset(k, 0, sizeof *k);
    int rc = store__row_read(st, 0, store__pack_cert_cols, store__pack_cert_ncols, k);
    if (rc != STORE_OK)
        store_pack_cert_clear(k);
    return rc;
}

int store_pack_certs(struct store *s, const char *pack_id, int generation,
                     struct store_pack_cert **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_CERTS_OF);
    int rc = STORE_ERROR, cap = 0, step = DB_DONE;
    int b = st ? store__bind_str(st, 1, pack_id) : DB_ERROR;
    b = b ? b : db_bind_int64(st, 2, generation);
    if (b == DB_OK) {
        while ((step = db_step(st)) == DB_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 2;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            if (cert_from_row(st, &(*out)[(*count)++]) != STORE_OK)
                break;
        }
        rc = step == DB_DONE  ? STORE_OK
             : step == DB_ROW ? STORE_ERROR /* a value this build does not know */
                              : store__fail(c, step, "pack certificates");
    }
    store__reset(st);
    store__give_back(s, c);
    if (rc != STORE_OK) {
        store_pack_cert_list_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

/* One scan for every status (a scrape must stay cheap at 100k packs). */
int store_pack_count_by_status(struct store *s, const char *const *statuses, int n,
                               long long *counts)
{
    memset(counts, 0, (size_t)n * sizeof *counts);
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_STATUS_COUNTS);
    int rc = st ? STORE_OK : STORE_ERROR, step = DB_DONE;
    while (rc == STORE_OK && (step = db_step(st)) == DB_ROW) {
        const char *status = db_col_text(st, 0);
        for (int i = 0; status && i < n; i++)
            if (strcmp(status, statuses[i]) == 0)
                counts[i] = db_col_int64(st, 1);
    }
    if (rc == STORE_OK && step != DB_DONE)
        rc = store__fail(c, step, "pack counts");
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_pack_recheck_pending(struct store *s, int64_t now)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_RECHECK_PENDING);
    int rc =
        st ? store__write(c, st, db_bind_int64(st, 1, now), false, "recheck pending") : STORE_ERROR;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_pack_soonest_expiry(struct store *s, int64_t *expires_on)
{
    return store__query_int64(s, STMT_PACKS_SOONEST, "soonest expiry", expires_on);
}

int store_zone_set_quota(struct store *s, const char *zone_id, int advanced)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_SET_QUOTA);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, zone_id);
        b = b ? b : db_bind_int64(st, 2, advanced);
        rc = store__write(c, st, b, true, "zone quota");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_pack_get_key(struct store *s, const char *zone_id, const char *id, struct store_pack *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_PACKS_PACK_KEY);
    int b = st ? store__bind_str(st, 1, zone_id) : DB_OK;
    b = b || !st ? b : store__bind_str(st, 2, id);
    int rc = store__read(c, st, b, "pack key");
    if (rc == STORE_OK) {
        int status = store__col_enum(st, 0, &store__enum_pack_status);
        rc = status < 0 ? STORE_ERROR : STORE_OK;
        out->status = (enum pack_status)status;
        out->cert_generation = db_col_int(st, 1);
        out->version = db_col_int(st, 2);
        out->modified_on = db_col_int64(st, 3);
        snprintf(out->id, sizeof out->id, "%s", id);
        snprintf(out->zone_id, sizeof out->zone_id, "%s", zone_id);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
