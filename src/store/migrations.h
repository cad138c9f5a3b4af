/* Each backend's schema as an append-only list of migrations. Version v (1-based) is the
 * SQL that takes a database from version v-1 to v; the driver applies the missing ones in
 * order, in one transaction, when a store is opened (SQLite tracks the version in PRAGMA
 * user_version, PostgreSQL in table tlsward_schema). Never edit a released migration:
 * add a new one — to both lists, keeping the tables, columns and values the same. */
#ifndef TLSWARD_STORE_MIGRATIONS_H
#define TLSWARD_STORE_MIGRATIONS_H

/* The newest schema version this build knows (the number of migrations). */
int store_sqlite_schema_latest(void);
/* The SQL of migration `version` (1 ..= latest); one or more statements. */
const char *store_sqlite_migration_sql(int version);

/* The PostgreSQL list (pg_schema.c); its version 1 is SQLite's version 12, and each
 * later one mirrors the SQLite migration its comment names. */
int store_pg_schema_latest(void);
const char *store_pg_migration_sql(int version);

#endif
