/* tlsward backup: a consistent snapshot of a data dir's SQLite store, taken while a server
 * may be writing to it (store_sqlite_backup). A PostgreSQL store is refused: its own
 * pg_dump does that job. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/dburl.h"

static const char backup_help[] =
    "Usage: tlsward backup --data DIR --out FILE [--json]\n\n"
    "Writes a consistent snapshot of DIR/tlsward.db to FILE (mode 0600), online: a running\n"
    "server keeps serving and writing meanwhile. The copy is checked with SQLite's\n"
    "PRAGMA integrity_check before it is given its name; FILE must not exist.\n"
    "The snapshot does not contain the master key: keep DIR/master.key safe separately.\n"
    "Restore: stop the server, replace DIR/tlsward.db with FILE, remove DIR/tlsward.db-wal\n"
    "and DIR/tlsward.db-shm, start the server with the same master key.\n"
    "A PostgreSQL store (--database or TLSWARD_DATABASE) is backed up with pg_dump instead.\n\n"
    "  --data DIR        data directory (or TLSWARD_DATA)\n"
    "  --out FILE        the snapshot to create\n"
    "  --database FILE   the SQLite store, if not DIR/tlsward.db (or TLSWARD_DATABASE)\n"
    "  --json            print one JSON object {out, pages, schema_version, integrity}\n"
    "  --help            this text\n";

/* Stores this large (pages of 4 KiB: 16 MiB) report their progress on stderr. */
#define BACKUP_PROGRESS_MIN_PAGES 4096

/* Prints "N/M pages" each time another tenth of a large store is copied. */
static void report_progress(int done, int total, void *ctx)
{
    int *last_tenth = ctx;
    if (total < BACKUP_PROGRESS_MIN_PAGES)
        return;
    int tenth = (int)((long long)done * 10 / total);
    if (tenth > *last_tenth) {
        *last_tenth = tenth;
        fprintf(stderr, "tlsward backup: %d/%d pages copied\n", done, total);
    }
}

/* database: an SQLite file named by --database, or NULL for DIR/tlsward.db. */
static int run_backup(const char *data, const char *database, const char *out_path, bool json)
{
    char *db = database ? xstrdup(database) : cli_db_path(data);
    struct store_backup_result res;
    int last_tenth = 0;
    int rc = store_sqlite_backup(db, out_path, report_progress, &last_tenth, &res);
    if (rc == STORE_NOT_FOUND)
        cli_fail("%s is not a store (no such file)", db);
    else if (rc == STORE_CONFLICT)
        cli_fail("%s exists; refusing to overwrite it", out_path);
    else if (rc != STORE_OK && res.checked && !res.integrity_ok)
        cli_fail("the snapshot failed PRAGMA integrity_check (see the log line above); "
                 "nothing written");
    else if (rc != STORE_OK)
        cli_fail("cannot back up %s (see the log line above); nothing written", db);
    xfree(db);
    if (rc != STORE_OK)
        return CLI_USER_ERROR;
    if (json)
        cli_print_json(json_pack("{s:s, s:i, s:i, s:s}", "out", out_path, "pages", res.pages,
                                 "schema_version", res.schema_version, "integrity", "ok"));
    else
        printf("backup written to %s: %d pages, schema version %d, integrity ok\n", out_path,
               res.pages, res.schema_version);
    return CLI_OK;
}

int cli_backup(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"out", required_argument, NULL, 'o'},
                                         CLI_DATABASE_OPTION,
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data = NULL, *out_path = NULL;
    bool json = false;
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case CLI_OPT_DATABASE:
            if (cli_set_database(optarg) != CLI_OK)
                return CLI_USER_ERROR;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(backup_help, stdout);
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    int rc = cli_finish_args("backup", argc, argv, &data);
    if (rc != CLI_OK)
        return rc;
    if (!out_path || !*out_path)
        return cli_usage("backup", "--out FILE is required");
    /* The URL is never printed: it may carry a password. */
    const char *database = cli_database();
    if (database && dburl_is_postgres(database))
        return cli_fail("the store is a PostgreSQL database: back it up with pg_dump (e.g. "
                        "pg_dump --format=custom --file=FILE with the same connection "
                        "settings); tlsward backup copies SQLite stores only");
    return run_backup(data, database, out_path, json);
}
