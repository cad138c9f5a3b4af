/* The statement registry: every SQL statement the store runs, by id (the list and its
 * texts are in store/statements.def). */
#ifndef TLSWARD_STORE_STATEMENTS_H
#define TLSWARD_STORE_STATEMENTS_H

#include <stdbool.h>

enum stmt_id {
#define STMT(name, sql) STMT_##name,
#define STMT_PG(name, sql, pg_sql) STMT_##name,
#include "store/statements.def"
#undef STMT
#undef STMT_PG
    STMT__COUNT
};

/* The statement's SQLite text (parameters ?1..?N). */
const char *stmt_sqlite_sql(enum stmt_id id);
/* Its PostgreSQL text (parameters $1..$N): a statement of its own where the dialects
 * differ, else the SQLite text with its parameters renumbered. */
const char *stmt_pg_sql(enum stmt_id id);
/* The highest parameter number the statement uses (PostgreSQL prepares with it). */
int stmt_param_count(enum stmt_id id);
/* A heap copy of sql with ?N rewritten as $N (xfree); *max_param the highest N. */
char *stmt_renumber(const char *sql, int *max_param);
/* A short name for logs ("PACKS_GET"). */
const char *stmt_name(enum stmt_id id);

#endif
