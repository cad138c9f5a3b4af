/* The SQLite schema as an append-only list of migrations. Version v (1-based) is the SQL
 * that takes a database from PRAGMA user_version v-1 to v; sqlite.c applies the missing
 * ones in order, in one transaction, when a store is opened. Never edit a released
 * migration: add a new one. */
#ifndef TLSWARD_STORE_MIGRATIONS_H
#define TLSWARD_STORE_MIGRATIONS_H

/* The newest schema version this build knows (the number of migrations). */
int store_sqlite_schema_latest(void);
/* The SQL of migration `version` (1 ..= latest); one or more statements. */
const char *store_sqlite_migration_sql(int version);

#endif
