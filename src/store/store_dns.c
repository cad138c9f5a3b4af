/* DCV TXT records that tlsward published in DNS itself (store.h): written before
 * the record is added, removed after it is deleted, so cleanup always knows what exactly
 * to delete. */
#include "store/store_internal.h"

#include <string.h>

#include "common/alloc.h"

#define DNS_RECORDS_MAX 512 /* a pack has at most 51 hosts; old values linger briefly */


/* Binds (pack_id, name, value) to ?1..?3. */
static int bind_key(struct db_stmt *st, const char *pack_id, const char *name, const char *value)
{
    int b = store__bind_str(st, 1, pack_id);
    b = b ? b : store__bind_str(st, 2, name);
    return b ? b : store__bind_str(st, 3, value);
}

int store_dns_record_intent(struct store *s, const struct store_dns_record *r, int64_t now)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_DNS_INTENT);
    int rc = STORE_ERROR;
    if (st) {
        int b = bind_key(st, r->pack_id, r->name, r->value);
        b = b ? b : store__bind_str(st, 4, r->zone);
        b = b ? b : db_bind_int64(st, 5, now);
        rc = store__write(c, st, b, false, "dns record intent");
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

static int write_key(struct store *s, enum stmt_id sql, bool must_change, const char *pack_id,
                     const char *name, const char *value, const char *what)
{
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, sql);
    int rc = st ? store__write(c, st, bind_key(st, pack_id, name, value), must_change, what)
                : STORE_ERROR;
    store__reset(st);
    store__give_back(s, c);
    return rc;
}

int store_dns_record_published(struct store *s, const char *pack_id, const char *name,
                               const char *value)
{
    return write_key(s, STMT_DNS_PUBLISHED, true, pack_id, name, value, "dns record published");
}

int store_dns_record_remove(struct store *s, const char *pack_id, const char *name,
                            const char *value)
{
    return write_key(s, STMT_DNS_REMOVE, false, pack_id, name, value, "dns record remove");
}

int store_dns_records(struct store *s, const char *pack_id, struct store_dns_record **out,
                      int *count)
{
    *out = NULL;
    *count = 0;
    struct conn *c = store__borrow(s);
    struct db_stmt *st = store__prepare(c, STMT_DNS_LIST);
    int rc = STORE_ERROR, step = DB_DONE;
    if (st) {
        int b = store__bind_str(st, 1, pack_id);
        b = b ? b : db_bind_int64(st, 2, DNS_RECORDS_MAX);
        rc = b ? store__fail(c, b, "dns records") : STORE_OK;
        struct store_dns_record *list = NULL;
        int n = 0, cap = 0;
        while (rc == STORE_OK && (step = db_step(st)) == DB_ROW) {
            if (n == cap)
                list = xrealloc(list, (size_t)(cap = cap ? cap * 2 : 8) * sizeof *list);
            struct store_dns_record *r = &list[n++];
            memset(r, 0, sizeof *r);
            store__col_text(st, 0, r->pack_id, sizeof r->pack_id);
            store__col_text(st, 1, r->name, sizeof r->name);
            store__col_text(st, 2, r->value, sizeof r->value);
            store__col_text(st, 3, r->zone, sizeof r->zone);
            r->published = db_col_int(st, 4) != 0;
        }
        if (rc == STORE_OK && step != DB_DONE)
            rc = store__fail(c, step, "dns records");
        if (rc == STORE_OK) {
            *out = list;
            *count = n;
        } else {
            xfree(list);
        }
    }
    store__reset(st);
    store__give_back(s, c);
    return rc;
}
