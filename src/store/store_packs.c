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

/* A keys-only row: the whole row read by the same descriptors as any other (so no column
 * position is spelled out here), its arrays' texts dropped undecoded. */
static int pack_key_row_cb(struct db_stmt *st, void *row)
{
    struct store__pack_row r;
    memset(&r, 0, sizeof r);
    int rc = store__row_read(st, 0, store__pack_cols, store__pack_ncols, &r);
    store__pack_row_texts_free(&r);
    *(struct store_pack *)row = r.p;
    return rc;
}

/* A listed row for rendering: every field, the arrays kept as their texts. */
static int pack_listed_row_cb(struct db_stmt *st, void *row)
{
    struct store__pack_row r;
    memset(&r, 0, sizeof r);
    int rc = store__row_read(st, 0, store__pack_cols, store__pack_ncols, &r);
    struct store_pack_listed *l = row;
    l->pack = r.p;
    char *texts[STORE__PACK_ARRAYS] = {r.hosts, r.validation_records, r.validation_errors,
                                       r.dcv_delegation_records};
    _Static_assert(sizeof l->texts / sizeof l->texts[0] == STORE__PACK_ARRAYS, "one per array");
    memcpy(l->texts, texts, sizeof texts);
    return rc;
}

static void pack_listed_clear_cb(void *row)
{
    struct store_pack_listed *l = row;
    for (int a = 0; a < STORE__PACK_ARRAYS; a++) {
        xfree(l->texts[a]);
        l->texts[a] = NULL;
    }
    store_pack_clear(&l->pack);
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

static int pack_list_rows(struct store *s, const struct store_pack_filter *f, bool listed,
                          void **rows, int *count, int *total)
{
    struct store__pager pager = {
        .what = "pack list",
        .count_id = f->active_only       ? STMT_PACKS_PACK_COUNT_ACTIVE
                    : f->include_deleted ? STMT_PACKS_PACK_COUNT_ALL
                                         : STMT_PACKS_PACK_COUNT_LIVE,
        .page_id = f->active_only       ? STMT_PACKS_PACK_LIST_ACTIVE
                   : f->include_deleted ? STMT_PACKS_PACK_LIST_ALL
                                        : STMT_PACKS_PACK_LIST_LIVE,
        .nparams = 1,
        .bind = bind_pack_filter,
        .no_count_row_is_zero = true, /* the per-zone counters: a zone that is gone */
        .row_size = listed ? sizeof(struct store_pack_listed) : sizeof(struct store_pack),
        .read_row = listed         ? pack_listed_row_cb
                    : f->keys_only ? pack_key_row_cb
                                   : pack_row_cb,
        .clear_row = listed ? pack_listed_clear_cb : pack_clear_cb,
        .seek = f->active_only       ? &pack_seek_active
                : f->include_deleted ? &pack_seek_all
                                     : &pack_seek_live};
    return store__page(s, &pager, f, f->offset, f->limit, rows, count, total);
}

int store_pack_list(struct store *s, const struct store_pack_filter *f, struct store_pack **out,
                    int *count, int *total)
{
    void *rows;
    int rc = pack_list_rows(s, f, false, &rows, count, total);
    *out = rows;
    return rc;
}

int store_pack_list_listed(struct store *s, const struct store_pack_filter *f,
                           struct store_pack_listed **out, int *count, int *total)
{
    void *rows;
    int rc = pack_list_rows(s, f, true, &rows, count, total);
    *out = rows;
    return rc;
}

int store_pack_listed_decode(struct store_pack_listed *l)
{
    struct store__pack_row r = {.p = l->pack,
                                .hosts = l->texts[STORE__PACK_HOSTS],
                                .validation_records = l->texts[STORE__PACK_RECORDS],
                                .validation_errors = l->texts[STORE__PACK_ERRORS],
                                .dcv_delegation_records = l->texts[STORE__PACK_DELEGATION]};
    memset(l->texts, 0, sizeof l->texts); /* the row's now: decode frees them */
    return store__pack_row_decode(&r, &l->pack);
}

void store_pack_listed_free(struct store_pack_listed *list, int count)
{
    for (int i = 0; i < count; i++)
        pack_listed_clear_cb(&list[i]);
    xfree(list);
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

static int cert_shown_from_row(struct db_stmt *st, struct store_pack_cert *k)
{
    memset(k, 0, sizeof *k);
    return store__row_read(st, 0, store__pack_cert_shown_cols, store__pack_cert_shown_ncols, k);
}

/* The certificates of one generation, read row by row with `read` (in priority order). */
static int certs_query(struct store *s, enum stmt_id sql,
                       int (*read)(struct db_stmt *, struct store_pack_cert *), const char *pack_id,
                       int generation, struct store_pack_cert **out, int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int rc = STORE_ERROR, cap = 0, step = DB_DONE;
    int b = st ? store__bind_str(st, 1, pack_id) : DB_ERROR;
    b = b ? b : db_bind_int64(st, 2, generation);
    if (b == DB_OK) {
        while ((step = db_step(st)) == DB_ROW) {
            if (*count == cap) {
                cap = cap ? cap * 2 : 2;
                *out = xrealloc(*out, (size_t)cap * sizeof **out);
            }
            if (read(st, &(*out)[(*count)++]) != STORE_OK)
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

int store_pack_certs_shown(struct store *s, const char *pack_id, int generation,
                           struct store_pack_cert **out, int *count)
{
    return certs_query(s, STMT_PACKS_CERTS_SHOWN, cert_shown_from_row, pack_id, generation, out,
                       count);
}

int store_pack_certs(struct store *s, const char *pack_id, int generation,
                     struct store_pack_cert **out, int *count)
{
    return certs_query(s, STMT_PACKS_CERTS_OF, cert_from_row, pack_id, generation, out, count);
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
    struct db_stmt *st = store__prepare(c, STMT_PACKS_KEY_OF);
    int b = st ? store__bind_str(st, 1, zone_id) : DB_OK;
    b = b || !st ? b : store__bind_str(st, 2, id);
    int rc = store__read(c, st, b, "pack key");
    if (rc == STORE_OK)
        rc = store__row_read(st, 0, store__pack_key_cols, store__pack_key_ncols, out);
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
