/* Zone settings kept in their own columns of `zones` (store.h): the Automatic
 * SSL/TLS mode of SPEC §4.7 and when it last changed. */
#include "store/store_internal.h"

#include <string.h>


int store_zone_ssl_mode_get(struct store *s, const char *zone_id, char out[STORE_SSL_MODE_SIZE],
                            int64_t *modified_on)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_SETTINGS_SSL_MODE_GET);
    int rc =
        store__read(c, st, st ? store__bind_str(st, 1, zone_id) : DB_OK, "zone ssl mode get");
    if (rc == STORE_OK) {
        store__col_text(st, 0, out, STORE_SSL_MODE_SIZE);
        *modified_on = db_col_int64(st, 1);
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_zone_ssl_mode_set(struct store *s, const char *zone_id, const char *value, int64_t now)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_SETTINGS_SSL_MODE_SET);
    int rc = STORE_ERROR;
    if (st) {
        int b = store__bind_str(st, 1, zone_id);
        b = b ? b : store__bind_str(st, 2, value);
        b = b ? b : db_bind_int64(st, 3, now);
        rc = store__write(c, st, b, true, "zone ssl mode set");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
