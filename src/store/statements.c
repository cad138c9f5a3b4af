/* The statement registry's texts (see statements.h). */
#include "store/statements.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/sql_columns.h"
#include "store/store.h"

static const char *const sqlite_sql[STMT__COUNT] = {
#define STMT(name, sql) [STMT_##name] = sql,
#define STMT_PG(name, sql, pg_sql) [STMT_##name] = sql,
#include "store/statements.def"
#undef STMT
#undef STMT_PG
};

/* NULL where the PostgreSQL text is derived from the SQLite one. */
static const char *const pg_override[STMT__COUNT] = {
#define STMT(name, sql)
#define STMT_PG(name, sql, pg_sql) [STMT_##name] = pg_sql,
#include "store/statements.def"
#undef STMT
#undef STMT_PG
};

static const char *const names[STMT__COUNT] = {
#define STMT(name, sql) [STMT_##name] = #name,
#define STMT_PG(name, sql, pg_sql) [STMT_##name] = #name,
#include "store/statements.def"
#undef STMT
#undef STMT_PG
};

static char *pg_sql[STMT__COUNT];
static int param_count[STMT__COUNT];
static pthread_once_t derive_once = PTHREAD_ONCE_INIT;

/* Rewrites ?N as $N (outside quoted literals and identifiers) and returns the highest N
 * seen in either spelling. */
char *stmt_renumber(const char *in, int *max_param)
{
    size_t n = strlen(in);
    char *out = xmalloc(n + 1), *o = out;
    char quote = 0;
    *max_param = 0;
    for (const char *p = in; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if ((*p == '?' || *p == '$') && isdigit((unsigned char)p[1])) {
            int v = atoi(p + 1);
            if (v > *max_param)
                *max_param = v;
            *o++ = '$';
            continue;
        }
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

static void derive(void)
{
    for (int i = 0; i < STMT__COUNT; i++) {
        assert(sqlite_sql[i]);
        int sqlite_max = 0, pg_max = 0;
        char *from_sqlite = stmt_renumber(sqlite_sql[i], &sqlite_max);
        if (pg_override[i]) {
            xfree(from_sqlite);
            pg_sql[i] = stmt_renumber(pg_override[i], &pg_max);
        } else {
            pg_sql[i] = from_sqlite;
            pg_max = sqlite_max;
        }
        param_count[i] = pg_max > sqlite_max ? pg_max : sqlite_max;
    }
}

const char *stmt_sqlite_sql(enum stmt_id id)
{
    return sqlite_sql[id];
}

const char *stmt_pg_sql(enum stmt_id id)
{
    pthread_once(&derive_once, derive);
    return pg_sql[id];
}

int stmt_param_count(enum stmt_id id)
{
    pthread_once(&derive_once, derive);
    return param_count[id];
}

const char *stmt_name(enum stmt_id id)
{
    return names[id];
}
