/* Unit tests of the store's row mechanics (store/store_rows.c, store/store_cols.c): each
 * column descriptor table names exactly the columns of its SQL list, in order, with a
 * kind that fits its field; and the paging helper every list uses (counts and windows
 * from one snapshot, an offset beyond the total, bad windows, a row reader's error). A
 * real SQLite store in a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "testutil.h"

struct fixture {
    char *dir, *path;
    struct store *s;
    char account_id[STORE_ID_SIZE];
    char zone_ids[7][STORE_ID_SIZE];
};

#define NZONES 7

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-rows-XXXXXX", 2, &fx->dir, &fx->path, &fx->s);
    tu_add_account(fx->s, "rows@example.com", "rows", fx->account_id);
    for (int i = 0; i < NZONES; i++) {
        char name[64];
        snprintf(name, sizeof name, "zone%d.example", i);
        tu_add_zone(fx->s, fx->account_id, name, fx->zone_ids[i]);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    tu_close_store(fx->s, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* ---- a pager over the zones of one account (ZONE_COUNT / ZONE_LIST) ---- */

struct name_row {
    char name[STORE_NAME_SIZE];
    char *heap; /* proves clear_row runs for every row read */
};

static int bind_account(struct db_stmt *st, const void *filter)
{
    int b = DB_OK;
    for (int i = 1; i <= 6 && b == DB_OK; i++)
        b = i == 1 ? store__bind_str(st, 1, filter) : db_bind_null(st, i);
    return b;
}

static int read_name(struct db_stmt *st, void *row)
{
    struct name_row *r = row;
    store__col_text(st, 2, r->name, sizeof r->name);
    r->heap = xstrdup(r->name);
    return STORE_OK;
}

static int fail_third; /* read_failing fails on the third row it reads */
static int read_failing(struct db_stmt *st, void *row)
{
    int rc = read_name(st, row);
    return ++fail_third == 3 ? STORE_ERROR : rc;
}

static void clear_name(void *row)
{
    struct name_row *r = row;
    xfree(r->heap);
    r->heap = NULL;
}

static const struct store__pager zone_pager = {.what = "test zone page",
                                               .count_id = STMT_ZONE_COUNT,
                                               .page_id = STMT_ZONE_LIST,
                                               .nparams = 6,
                                               .bind = bind_account,
                                               .row_size = sizeof(struct name_row),
                                               .read_row = read_name,
                                               .clear_row = clear_name};

static void free_rows(struct name_row *rows, int count)
{
    for (int i = 0; i < count; i++)
        clear_name(&rows[i]);
    xfree(rows);
}

/* Every window of every size: the page holds min(limit, total - offset) rows, in order,
 * total is always the full count, and an offset at or beyond the total is an empty page. */
static void test_page_windows(void **state)
{
    struct fixture *fx = *state;
    for (int limit = 1; limit <= NZONES + 2; limit++) {
        for (int offset = 0; offset <= NZONES + 3; offset++) {
            void *out = NULL;
            int count = -1, total = -1;
            assert_int_equal(store__page(fx->s, &zone_pager, fx->account_id, offset, limit, &out,
                                         &count, &total),
                             STORE_OK);
            assert_non_null(out);
            assert_int_equal(total, NZONES);
            int want = NZONES - offset < limit ? NZONES - offset : limit;
            if (want < 0)
                want = 0;
            assert_int_equal(count, want);
            struct name_row *rows = out;
            for (int i = 0; i < count; i++) {
                char name[64];
                snprintf(name, sizeof name, "zone%d.example", offset + i);
                assert_string_equal(rows[i].name, name);
                assert_string_equal(rows[i].heap, name);
            }
            free_rows(rows, count);
        }
    }
}

/* A filter that matches nothing: total 0, an empty (non-NULL) page. */
static void test_page_empty(void **state)
{
    struct fixture *fx = *state;
    void *out = NULL;
    int count = -1, total = -1;
    assert_int_equal(store__page(fx->s, &zone_pager, "0123456789abcdef0123456789abcdef", 0, 5, &out,
                                 &count, &total),
                     STORE_OK);
    assert_non_null(out);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    xfree(out);
}

/* limit < 1 or offset < 0 is refused, nothing returned. */
static void test_page_bad_window(void **state)
{
    struct fixture *fx = *state;
    void *out = (void *)1;
    int count = -1, total = -1;
    assert_int_equal(store__page(fx->s, &zone_pager, fx->account_id, 0, 0, &out, &count, &total),
                     STORE_ERROR);
    assert_null(out);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    assert_int_equal(store__page(fx->s, &zone_pager, fx->account_id, -1, 3, &out, &count, &total),
                     STORE_ERROR);
    assert_null(out);
}

/* A row reader's error fails the whole page; the rows read so far are cleared (ASan
 * reports a leak otherwise) and the connection is usable again. */
static void test_page_row_error(void **state)
{
    struct fixture *fx = *state;
    struct store__pager failing = zone_pager;
    failing.read_row = read_failing;
    fail_third = 0;
    void *out = (void *)1;
    int count = -1, total = -1;
    assert_int_equal(store__page(fx->s, &failing, fx->account_id, 0, 5, &out, &count, &total),
                     STORE_ERROR);
    assert_null(out);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    assert_int_equal(store__page(fx->s, &zone_pager, fx->account_id, 5, 5, &out, &count, &total),
                     STORE_OK);
    assert_int_equal(count, 2);
    free_rows(out, count);
}

/* The pack list's count comes from the zone's counter: a zone that does not exist has no
 * row, which is a total of 0, not an error. The zone list's count(*) always has one. */
static void test_page_missing_count_row(void **state)
{
    struct fixture *fx = *state;
    struct store_pack *packs = NULL;
    int count = -1, total = -1;
    struct store_pack_filter f = {.zone_id = "0123456789abcdef0123456789abcdef", .limit = 5};
    assert_int_equal(store_pack_list(fx->s, &f, &packs, &count, &total), STORE_OK);
    assert_int_equal(count, 0);
    assert_int_equal(total, 0);
    store_pack_list_free(packs, count);
    /* Through the public zone list too: the last page of 3. */
    struct store_zone *zones = NULL;
    struct store_zone_filter zf = {.who.account_id = fx->account_id, .offset = 6, .limit = 3};
    assert_int_equal(store_zone_list(fx->s, &zf, &zones, &count, &total), STORE_OK);
    assert_int_equal(count, 1);
    assert_int_equal(total, NZONES);
    assert_string_equal(zones[0].id, fx->zone_ids[6]);
    xfree(zones);
}

/* ---- descriptors ---- */

/* The n-th column of a comma-separated SQL list (commas inside parentheses do not split),
 * trimmed, into out; false when the list has fewer columns. */
static bool list_column(const char *sql, int n, char *out, size_t size)
{
    int depth = 0, index = 0;
    const char *start = sql;
    for (const char *p = sql;; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        if (*p == '\0' || (*p == ',' && depth == 0)) {
            if (index == n) {
                while (*start == ' ')
                    start++;
                size_t len = (size_t)(p - start);
                while (len && start[len - 1] == ' ')
                    len--;
                assert_true(len < size);
                memcpy(out, start, len);
                out[len] = '\0';
                return true;
            }
            if (*p == '\0')
                return false;
            index++;
            start = p + 1;
        }
    }
}

/* Every table names its list's columns, in order, no more and no fewer. */
static void test_cols_match_sql_lists(void **state)
{
    (void)state;
    assert_true(store__ncol_lists >= 15);
    for (int l = 0; l < store__ncol_lists; l++) {
        const struct store__col_list *list = &store__col_lists[l];
        char col[256];
        int n = *list->ncols;
        for (int i = 0; i < n; i++) {
            if (!list_column(list->sql, i, col, sizeof col))
                fail_msg("%s has %d columns, its descriptor table %d", list->macro, i, n);
            if (strcmp(col, list->cols[i].name) != 0)
                fail_msg("%s column %d is \"%s\", its descriptor says \"%s\"", list->macro, i, col,
                         list->cols[i].name);
        }
        if (list_column(list->sql, n, col, sizeof col))
            fail_msg("%s has more columns than its %d descriptors (next: %s)", list->macro, n, col);
    }
}

/* The list check itself catches a drift: a list with one column too many, too few, or two
 * swapped does not match the user table. */
static void test_cols_check_catches_drift(void **state)
{
    (void)state;
    static const char *const drifted[] = {
        "id, email, key_hash, created_on, extra",
        "id, email, key_hash",
        "id, key_hash, email, created_on",
    };
    for (size_t d = 0; d < sizeof drifted / sizeof drifted[0]; d++) {
        char col[64];
        bool same = true;
        for (int i = 0; i < store__user_ncols && same; i++)
            same = list_column(drifted[d], i, col, sizeof col) &&
                   strcmp(col, store__user_cols[i].name) == 0;
        if (same)
            same = !list_column(drifted[d], store__user_ncols, col, sizeof col);
        assert_false(same);
    }
    char col[64];
    assert_true(list_column("a, f(b, c), d", 1, col, sizeof col));
    assert_string_equal(col, "f(b, c)");
}

/* Each descriptor's kind fits the size of the field it names. */
static void test_cols_kinds_fit_fields(void **state)
{
    (void)state;
    for (int l = 0; l < store__ncol_lists; l++) {
        const struct store__col_list *list = &store__col_lists[l];
        for (int i = 0; i < *list->ncols; i++) {
            const struct store__col *d = &list->cols[i];
            switch (d->kind) {
            case STORE__COL_TEXT:
            case STORE__COL_BLOB:
                assert_true(d->size > 1);
                break;
            case STORE__COL_HEAP_TEXT:
                assert_int_equal(d->size, sizeof(char *));
                break;
            case STORE__COL_HEAP_BLOB:
                assert_int_equal(d->size, sizeof(unsigned char *));
                assert_int_not_equal(d->len_offset, d->offset);
                break;
            case STORE__COL_INT:
                assert_int_equal(d->size, sizeof(int));
                break;
            case STORE__COL_INT64:
                assert_int_equal(d->size, sizeof(int64_t));
                break;
            case STORE__COL_BOOL:
                assert_int_equal(d->size, sizeof(bool));
                break;
            case STORE__COL_ENUM:
                assert_int_equal(d->size, sizeof(int));
                assert_non_null(d->names);
                break;
            default:
                fail_msg("%s: %s has an unknown kind", list->macro, d->name);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cols_match_sql_lists),
        cmocka_unit_test(test_cols_check_catches_drift),
        cmocka_unit_test(test_cols_kinds_fit_fields),
        cmocka_unit_test_setup_teardown(test_page_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_bad_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_row_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_missing_count_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
