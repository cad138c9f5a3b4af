/* Row mechanics shared by every store file: reading and binding a record's columns
 * through its descriptor table (store_cols.c), and reading one page of a list (a count
 * and the page's rows from one snapshot, deep pages from a position map's key). */
#include "store/store_internal.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

/* ---- columns ---- */

int store__row_read(struct db_stmt *st, int first_col, const struct store__col *desc, int n,
                    void *obj)
{
    char *base = obj;
    int rc = STORE_OK;
    for (int i = 0; i < n; i++) {
        const struct store__col *d = &desc[i];
        void *field = base + d->offset;
        int col = first_col + i;
        switch (d->kind) {
        case STORE__COL_TEXT:
            store__col_text(st, col, field, d->size);
            break;
        case STORE__COL_HEAP_TEXT:
            *(char **)field = store__col_strdup(st, col);
            break;
        case STORE__COL_BLOB:
            store__col_blob(st, col, field, d->size);
            break;
        case STORE__COL_HEAP_BLOB:
            *(unsigned char **)field =
                store__col_blobdup(st, col, (size_t *)(base + d->len_offset));
            break;
        case STORE__COL_INT:
            assert(d->size == sizeof(int));
            *(int *)field = db_col_int(st, col);
            break;
        case STORE__COL_INT64:
            assert(d->size == sizeof(int64_t));
            *(int64_t *)field = db_col_int64(st, col);
            break;
        case STORE__COL_BOOL:
            assert(d->size == sizeof(bool));
            *(bool *)field = db_col_int64(st, col) != 0;
            break;
        case STORE__COL_ENUM:
            assert(d->size == sizeof(int));
            /* An unknown name stays visible as INVALID (-1); the read fails. */
            if ((*(int *)field = store__col_enum(st, col, d->names)) < 0)
                rc = STORE_ERROR;
            break;
        }
    }
    return rc;
}

int store__bind_cols(struct db_stmt *st, int first_param, const struct store__col *desc, int n,
                     const void *obj)
{
    const char *base = obj;
    int b = DB_OK;
    for (int i = 0; i < n && b == DB_OK; i++) {
        const struct store__col *d = &desc[i];
        const void *field = base + d->offset;
        int param = first_param + i;
        switch (d->kind) {
        case STORE__COL_TEXT:
            b = store__bind_field(st, param, field, d->size);
            break;
        case STORE__COL_HEAP_TEXT: {
            const char *text = *(char *const *)field;
            b = db_bind_text(st, param, text ? text : d->if_null, -1);
            break;
        }
        case STORE__COL_BLOB:
            b = db_bind_blob(st, param, field, d->size);
            break;
        case STORE__COL_HEAP_BLOB:
            b = db_bind_blob(st, param, *(unsigned char *const *)field,
                             *(const size_t *)(base + d->len_offset));
            break;
        case STORE__COL_INT:
            assert(d->size == sizeof(int));
            b = db_bind_int64(st, param, *(const int *)field);
            break;
        case STORE__COL_INT64:
            assert(d->size == sizeof(int64_t));
            b = db_bind_int64(st, param, *(const int64_t *)field);
            break;
        case STORE__COL_BOOL:
            assert(d->size == sizeof(bool));
            b = db_bind_int64(st, param, *(const bool *)field ? 1 : 0);
            break;
        case STORE__COL_ENUM:
            assert(d->size == sizeof(int));
            b = store__bind_enum(st, param, d->names, *(const int *)field);
            break;
        }
    }
    return b;
}

/* ---- pages ---- */

/* *total = the count statement's answer for the filter. */
static int page_count(struct conn *c, const struct store__pager *pg, const void *filter, int *total)
{
    struct db_stmt *st = store__prepare(c, pg->count_id);
    int rc = store__read(c, st, st ? pg->bind(st, filter) : DB_OK, pg->what);
    if (rc == STORE_OK)
        *total = db_col_int(st, 0);
    else if (rc == STORE_NOT_FOUND && pg->no_count_row_is_zero)
        rc = STORE_OK;              /* the parent row is gone: it has nothing to list */
    else if (rc == STORE_NOT_FOUND) /* count(*) always returns a row */
        rc = store__fail(c, DB_ERROR, pg->what);
    store__reset(st);
    return rc;
}

/* Reads up to cap rows of the window starting at offset into rows[], *count of them: from
 * the list's start, or with key from the row at key's position on (offset then counts from
 * there). */
static int page_rows(struct conn *c, const struct store__pager *pg, const void *filter,
                     const struct store__pos_key *key, int offset, char *rows, int cap, int *count)
{
    struct db_stmt *st = store__prepare(c, key ? pg->seek->seek_id : pg->page_id);
    if (!st)
        return STORE_ERROR;
    int p = pg->nparams + 1;
    int b = pg->bind(st, filter);
    if (key) {
        b = b ? b : db_bind_int64(st, p++, key->created_on);
        b = b ? b : db_bind_text(st, p++, key->id, -1);
    }
    b = b ? b : db_bind_int64(st, p, cap);
    b = b ? b : db_bind_int64(st, p + 1, offset);
    int rc = b ? store__fail(c, b, pg->what) : STORE_OK, step = DB_DONE;
    while (rc == STORE_OK && *count < cap && (step = db_step(st)) == DB_ROW) {
        rc = pg->read_row(st, rows + (size_t)*count * pg->row_size);
        (*count)++; /* counted even on error, so its heap fields are cleared */
    }
    if (rc == STORE_OK && step != DB_ROW && step != DB_DONE)
        rc = store__fail(c, step, pg->what);
    store__reset(st);
    return rc;
}

/* A deep page's start (offset at least one map step): *key and the row position it has,
 * from the list's position map, read in the caller's transaction. STORE_NOT_FOUND when
 * the page is read with OFFSET from the start instead. */
static int page_key(struct conn *c, const struct store__pager *pg, const void *filter, int offset,
                    struct store__pos_key *key, int *at)
{
    if (!pg->seek || offset < STORE__POS_STEP)
        return STORE_NOT_FOUND;
    struct db_stmt *st = store__prepare(c, pg->seek->version_id);
    int rc = store__read(c, st, st ? pg->bind(st, filter) : DB_OK, pg->what);
    int64_t version = rc == STORE_OK ? db_col_int64(st, 0) : 0;
    store__reset(st);
    if (rc == STORE_OK)
        rc = store__positions_key(c, pg, filter, version, offset, key, at);
    return rc;
}

static void page_free(const struct store__pager *pg, char *rows, int count)
{
    for (int i = 0; pg->clear_row && i < count; i++)
        pg->clear_row(rows + (size_t)i * pg->row_size);
    xfree(rows);
}

int store__page(struct store *s, const struct store__pager *pg, const void *filter, int offset,
                int limit, void **out, int *count, int *total)
{
    *out = NULL;
    *count = *total = 0;
    if (limit < 1 || offset < 0) {
        log_msg(LOG_ERROR, "store: %s with a bad window (offset %d, limit %d)", pg->what, offset,
                limit);
        return STORE_ERROR;
    }
    struct conn *c = store__borrow(s);
    char *rows = NULL;
    /* Count, position map and page in one read transaction: all come from the same
     * snapshot, so the page holds exactly min(limit, total - offset) rows. Inside a read
     * snapshot the connection is in one already. */
    bool own_tx = !store__pinned(c);
    int rc = own_tx ? store__exec(c, STMT_TX_BEGIN_READ, pg->what) : STORE_OK;
    if (rc == STORE_OK) {
        rc = page_count(c, pg, filter, total);
        if (rc == STORE_OK && *total > offset) {
            int cap = *total - offset < limit ? *total - offset : limit;
            rows = xcalloc((size_t)cap, pg->row_size);
            struct store__pos_key key;
            int at = 0;
            rc = page_key(c, pg, filter, offset, &key, &at);
            if (rc == STORE_OK)
                rc = page_rows(c, pg, filter, &key, offset - at, rows, cap, count);
            else if (rc == STORE_NOT_FOUND)
                rc = page_rows(c, pg, filter, NULL, offset, rows, cap, count);
        }
        if (own_tx)
            store__rollback(c); /* read-only: nothing to commit */
    }
    store__give_back(s, c);
    if (rc != STORE_OK) {
        page_free(pg, rows, *count);
        *count = *total = 0;
        return rc;
    }
    *out = rows ? rows : xcalloc(1, pg->row_size);
    return STORE_OK;
}
