/* The name tables of the store's domain values (store.h "domain values"): one per enum,
 * used both to store a value and to show it, and the one definition of "live". */
#include "store/store_internal.h"

#include <string.h>

#include "common/log.h"

#define N(t) ((int)(sizeof t / sizeof t[0]))
#define NAME_AT(e, n) [e] = n,

/* A table and its two functions for an enum of store.h. */
#define DEFINE_ENUM(type, table, MAP, count, label)                                                \
    const char *const type##_names[] = {MAP(NAME_AT) NULL};                                        \
    _Static_assert(N(type##_names) == count + 1, "one name per value of " #type);                  \
    _Static_assert(sizeof(enum type) == sizeof(int), #type " is stored as an int");                \
    const struct store__enum store__enum_##table = {label, type##_names, count};                   \
    const char *type##_name(enum type v)                                                           \
    {                                                                                              \
        const char *n = store__enum_name(&store__enum_##table, (int)v);                            \
        return n ? n : "invalid";                                                                  \
    }                                                                                              \
    int type##_parse(const char *name, enum type *out)                                             \
    {                                                                                              \
        int v = store__enum_parse(&store__enum_##table, name);                                     \
        if (v < 0)                                                                                 \
            return -1;                                                                             \
        *out = (enum type)v;                                                                       \
        return 0;                                                                                  \
    }

DEFINE_ENUM(store_pack_type, pack_type, STORE_PACK_TYPE_MAP, STORE_PACK_TYPE_COUNT, "pack type")
DEFINE_ENUM(store_zone_type, zone_type, STORE_ZONE_TYPE_MAP, STORE_ZONE_TYPE_COUNT, "zone type")
DEFINE_ENUM(store_zone_status, zone_status, STORE_ZONE_STATUS_MAP, STORE_ZONE_STATUS_COUNT,
            "zone status")
DEFINE_ENUM(store_cert_status, cert_status, STORE_CERT_STATUS_MAP, STORE_CERT_STATUS_COUNT,
            "client certificate status")
DEFINE_ENUM(store_aop_kind, aop_kind, STORE_AOP_KIND_MAP, STORE_AOP_KIND_COUNT, "origin-pull kind")
DEFINE_ENUM(store_aop_status, aop_status, STORE_AOP_STATUS_MAP, STORE_AOP_STATUS_COUNT,
            "origin-pull status")
DEFINE_ENUM(store_key_type, key_type, STORE_KEY_TYPE_MAP, STORE_KEY_TYPE_COUNT, "key type")
DEFINE_ENUM(store_job_kind, job_kind, STORE_JOB_KIND_MAP, STORE_JOB_KIND_COUNT, "job kind")

/* Core's domain values: its tables are the only ones. */
const struct store__enum store__enum_pack_status = {"pack status", pack_status_names,
                                                    PACK_STATUS_COUNT};
const struct store__enum store__enum_pack_ca = {"certificate authority", pack_ca_names,
                                                PACK_CA_COUNT};
const struct store__enum store__enum_pack_method = {"validation method", pack_method_names,
                                                    PACK_METHOD_COUNT};

int store__enum_parse(const struct store__enum *e, const char *name)
{
    for (int i = 0; name && i < e->count; i++)
        if (strcmp(e->names[i], name) == 0)
            return i;
    return -1;
}

const char *store__enum_name(const struct store__enum *e, int v)
{
    return v >= 0 && v < e->count ? e->names[v] : NULL;
}

int store__col_enum(struct db_stmt *st, int i, const struct store__enum *e)
{
    const char *text = db_col_text(st, i);
    int v = store__enum_parse(e, text);
    if (v < 0)
        /* The value itself may be anything (a damaged row): its length, not its text. */
        log_msg(LOG_ERROR, "store: %s: a %s this build does not know (%zu bytes), read as invalid",
                stmt_name(st->id), e->what, text ? db_col_bytes(st, i) : (size_t)0);
    return v;
}

int store__bind_enum(struct db_stmt *st, int i, const struct store__enum *e, int v)
{
    const char *name = store__enum_name(e, v);
    if (!name) {
        log_msg(LOG_ERROR, "store: %s: refusing to store an invalid %s", stmt_name(st->id),
                e->what);
        return DB_ERROR;
    }
    return db_bind_text(st, i, name, -1);
}

/* ---- "live" ---- */

bool store_pack_live(enum pack_status status)
{
    return status != PACK_STATUS_INVALID && status != PACK_PENDING_DELETION &&
           status != PACK_DELETED && status != PACK_DELETION_TIMED_OUT;
}

bool store_aop_live(enum store_aop_status status)
{
    return status != STORE_AOP_STATUS_INVALID && status != STORE_AOP_PENDING_DELETION &&
           status != STORE_AOP_DELETED;
}
