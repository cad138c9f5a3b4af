/* tlsward migrate: moves a data dir's SQLite store into an empty PostgreSQL database
 * (store_sqlite_to_pg), for running several nodes on one database. The URL may carry a
 * password: it is never printed; messages name host:port/database only. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/dburl.h"

static const char migrate_help[] =
    "Usage: tlsward migrate --data DIR --to postgres://USER:PASSWORD@HOST:PORT/DB [--json]\n\n"
    "Copies the SQLite store DIR/tlsward.db into the PostgreSQL database at the URL,\n"
    "whose tlsward store, if any, must have no data yet (an empty one left by a failed\n"
    "migrate is reused): the schema is created, then every row of every table is copied\n"
    "in one transaction, which commits only when each table has the same number of rows\n"
    "on both sides (otherwise nothing is copied). Private keys are copied sealed as they\n"
    "are: start the PostgreSQL nodes with the same master key (DIR/master.key or\n"
    "TLSWARD_MASTER_KEY_FILE). DIR/tlsward.db is only read.\n"
    "The copy is one consistent snapshot even while a server is running, but writes made\n"
    "after it are not moved: stop the servers and workers using DIR first (recommended).\n"
    "The store must be at this tlsward's schema version: start this tlsward on DIR once\n"
    "to upgrade an older store.\n"
    "Progress (table and rows) goes to stderr.\n\n"
    "  --data DIR      data directory (or TLSWARD_DATA)\n"
    "  --to URL        the PostgreSQL database (postgres:// or postgresql://, libpq's form)\n"
    "  --json          print one JSON object {to, tables: {name: rows}}\n"
    "  --help          this text\n\n"
    "Exit status: 0 copied and verified, 1 refused or failed (nothing copied), 2 usage.\n";

#define MIGRATE_URL_MAX 4096

static void report_table(const char *table, int64_t rows, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "tlsward migrate: %s: %lld rows\n", table, (long long)rows);
}

/* One line on stderr saying why nothing was copied. */
static int explain_failure(int rc, const char *data, const char *db, const char *where,
                           const struct store_migrate_result *res)
{
    if (rc == STORE_NOT_FOUND)
        return cli_fail("%s is not initialised (no %s)", data, db);
    if (rc == STORE_CONFLICT)
        return cli_fail("the PostgreSQL database %s already holds a tlsward store; nothing "
                        "changed (migrate copies into an empty database only)",
                        where);
    if (res->old_schema)
        return cli_fail("%s has schema version %d, this tlsward expects %d: start this "
                        "tlsward on %s once (tlsward serve) to upgrade it, stop it, then "
                        "migrate; nothing changed",
                        db, res->source_version, res->expected_version, data);
    const char *reason = res->reason[0] ? res->reason : "see the log line above";
    if (res->failed_table[0])
        return cli_fail("copying table %s into %s failed: %s; rolled back, no row was copied",
                        res->failed_table, where, reason);
    return cli_fail("cannot migrate %s to %s: %s; no row was copied", db, where, reason);
}

static int run_migrate(const char *data, const char *url, bool json)
{
    char *db = cli_db_path(data);
    char where[256];
    store_pg_describe(url, where, sizeof where); /* parsed by cli_migrate */
    struct store_migrate_result *res = xcalloc(1, sizeof *res);
    int rc = store_sqlite_to_pg(db, url, report_table, NULL, res);
    if (rc != STORE_OK) {
        rc = explain_failure(rc, data, db, where, res);
        goto out;
    }
    int64_t total = 0;
    json_t *tables = json_object();
    for (int i = 0; i < res->ntables; i++) {
        json_object_set_new(tables, res->tables[i].name, json_integer(res->tables[i].rows));
        total += res->tables[i].rows;
    }
    if (json) {
        cli_print_json(json_pack("{s:s, s:o}", "to", where, "tables", tables));
    } else {
        json_decref(tables);
        printf("migrated %s to %s: %d tables, %lld rows, row counts verified\n", db, where,
               res->ntables, (long long)total);
    }
    rc = CLI_OK;
out:
    xfree(res);
    xfree(db);
    return rc;
}

int cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"to", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data = NULL, *url = NULL;
    bool json = false;
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 't':
            url = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(migrate_help, stdout);
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    int rc = cli_finish_args("migrate", argc, argv, &data);
    if (rc != CLI_OK)
        return rc;
    if (!url || !*url)
        return cli_usage("migrate", "--to URL is required (postgres://...)");
    /* The URL is never echoed back: it may carry a password. */
    if (!dburl_is_postgres(url))
        return cli_usage("migrate", "--to: expected a postgres:// or postgresql:// URL");
    if (strlen(url) > MIGRATE_URL_MAX)
        return cli_usage("migrate", "--to: the URL is longer than %d bytes", MIGRATE_URL_MAX);
    char where[256];
    if (!store_pg_describe(url, where, sizeof where))
        return cli_usage("migrate", "--to: libpq cannot parse the URL (check its host, port, "
                                    "percent-encoding and parameters)");
    return run_migrate(data, url, json);
}
