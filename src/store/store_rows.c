/* Row mechanics shared by every store file: reading one page of a list (a count and the
 * page's rows from one snapshot). */
#include "store/store_internal.h"

#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

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

/* Reads up to cap rows of the window starting at offset into rows[], *count of them. */
static int page_rows(struct conn *c, const struct store__pager *pg, const void *filter, int offset,
                     char *rows, int cap, int *count)
{
    struct db_stmt *st = store__prepare(c, pg->page_id);
    if (!st)
        return STORE_ERROR;
    int b = pg->bind(st, filter);
    b = b ? b : db_bind_int64(st, pg->nparams + 1, cap);
    b = b ? b : db_bind_int64(st, pg->nparams + 2, offset);
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
    /* Count and page in one read transaction: both come from the same snapshot, so the
     * page holds exactly min(limit, total - offset) rows. */
    int rc = store__exec(c, STMT_TX_BEGIN_READ, pg->what);
    if (rc == STORE_OK) {
        rc = page_count(c, pg, filter, total);
        if (rc == STORE_OK && *total > offset) {
            int cap = *total - offset < limit ? *total - offset : limit;
            rows = xcalloc((size_t)cap, pg->row_size);
            rc = page_rows(c, pg, filter, offset, rows, cap, count);
        }
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
