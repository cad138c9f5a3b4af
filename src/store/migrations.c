/* The SQLite migrations, in order (see migrations.h). Tables are STRICT so a wrong type
 * is an error rather than a silent conversion; times are INTEGER microseconds with 0 for
 * "absent"; identifiers are 32-hex TEXT; hashes are 32-byte BLOBs. */
#include "store/migrations.h"

#include <assert.h>
#include <stddef.h>

static const char *const migrations[] = {
    /* 1: users, accounts, API tokens, zones. */
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  email TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    "  key_hash BLOB NOT NULL,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  owner_user_id TEXT NOT NULL REFERENCES users(id),"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX accounts_owner ON accounts(owner_user_id);"
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  permissions INTEGER NOT NULL,"
    "  zone_scope TEXT NOT NULL DEFAULT '',"
    "  expires_on INTEGER NOT NULL DEFAULT 0,"
    "  revoked_on INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX tokens_account ON tokens(account_id);"
    "CREATE TABLE zones ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  universal_ssl INTEGER NOT NULL DEFAULT 1,"
    "  advanced_quota INTEGER NOT NULL DEFAULT 50,"
    "  created_on INTEGER NOT NULL,"
    "  modified_on INTEGER NOT NULL,"
    "  activated_on INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (account_id, name)"
    ") STRICT;"
    "CREATE INDEX zones_created ON zones(created_on, id);",
};

int store_sqlite_schema_latest(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

const char *store_sqlite_migration_sql(int version)
{
    assert(version >= 1 && version <= store_sqlite_schema_latest());
    return migrations[version - 1];
}
