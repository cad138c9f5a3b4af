/* Zone settings kept in their own columns of `zones` on SQLite (store.h): the Automatic
 * SSL/TLS mode of SPEC §4.7 and when it last changed. */
#include "store/sqlite_internal.h"

#include <string.h>

/* A never-changed setting (modified_on 0) reports the zone's creation time. */
static const char sql_ssl_mode_get[] =
    "SELECT ssl_automatic_mode, CASE WHEN ssl_automatic_mode_modified_on = 0 THEN created_on "
    "ELSE ssl_automatic_mode_modified_on END FROM zones WHERE id = ?1 AND deleting_on = 0";
/* SET expressions read the old row, so the time moves only when the value differs. */
static const char sql_ssl_mode_set[] =
    "UPDATE zones SET ssl_automatic_mode_modified_on = CASE WHEN ssl_automatic_mode = ?2 "
    "THEN ssl_automatic_mode_modified_on ELSE ?3 END, ssl_automatic_mode = ?2 WHERE id = ?1 "
    "AND deleting_on = 0";

int store_zone_ssl_mode_get(struct store *s, const char *zone_id, char out[STORE_SSL_MODE_SIZE],
                            int64_t *modified_on)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_ssl_mode_get);
    int rc =
        store__read(c, st, st ? store__bind_str(st, 1, zone_id) : SQLITE_OK, "zone ssl mode get");
    if (rc == STORE_OK) {
        store__col_text(st, 0, out, STORE_SSL_MODE_SIZE);
        *modified_on = sqlite3_column_int64(st, 1);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_zone_ssl_mode_set(struct store *s, const char *zone_id, const char *value, int64_t now)
{
    struct conn *c = store__borrow(s);
    sqlite3_stmt *st = store__prepare(c, sql_ssl_mode_set);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, zone_id);
        b = b ? b : store__bind_str(st, 2, value);
        b = b ? b : sqlite3_bind_int64(st, 3, now);
        rc = store__write(c, st, b, true, "zone ssl mode set");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
