/* Helpers shared by the sub-commands: option parsing, messages, data-dir paths. */
#include "cli/cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/dburl.h"
#include "common/log.h"

#include <string.h>

void cli_getopt_reset(void)
{
    optind = 1;
    opterr = 0;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?') {
        if (optopt)
            cli_usage(argv[0], "option -%c is unknown or needs a value", optopt);
        else
            cli_usage(argv[0], "option %s is unknown or needs a value", argv[optind - 1]);
    }
    return c;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tlsward %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'tlsward %s --help'.\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tlsward: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USER_ERROR;
}

int cli_finish_args(const char *cmd, int argc, char **argv, const char **data)
{
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!(*data = cli_data_dir(*data)))
        return cli_usage(cmd, "--data DIR is required (or set TLSWARD_DATA)");
    return CLI_OK;
}

const char *cli_data_dir(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("TLSWARD_DATA");
    return env && *env ? env : NULL;
}

char *cli_db_path(const char *data_dir)
{
    return xasprintf("%s/tlsward.db", data_dir);
}

char *cli_master_key_path(const char *data_dir)
{
    const char *env = getenv("TLSWARD_MASTER_KEY_FILE");
    return env && *env ? xstrdup(env) : xasprintf("%s/master.key", data_dir);
}

/* --database as given (cli_database falls back to the environment). */
static const char *database_flag;

int cli_set_database(const char *value)
{
    if (!*value || strlen(value) > DBURL_MAX)
        return cli_fail("--database: expected a postgres:// URI or a file path of 1 to %d bytes",
                        DBURL_MAX);
    database_flag = value;
    return CLI_OK;
}

const char *cli_database(void)
{
    if (database_flag)
        return database_flag;
    const char *env = getenv("TLSWARD_DATABASE");
    return env && *env && strlen(env) <= DBURL_MAX ? env : NULL;
}

/* The store named by --database (see cli_open_store); messages show it redacted. */
static int open_database(const char *db, int pool_size, struct store **out)
{
    char shown[512];
    struct stat st;
    dburl_redact(db, shown, sizeof shown);
    if (!dburl_is_postgres(db) && stat(db, &st) < 0)
        return cli_fail("%s is not a tlsward store (no such file); run 'tlsward init "
                        "--database %s --data DIR' first",
                        shown, shown);
    if (store_open(db, STORE_OPEN_EXISTING, pool_size, out) != STORE_OK)
        return cli_fail("cannot open the store %s (see the log line above)", shown);
    return CLI_OK;
}

int cli_store_args(const char *cmd, const char **data)
{
    if (!(*data = cli_data_dir(*data)) && !cli_database())
        return cli_usage(cmd, "--data DIR or --database is required (or set TLSWARD_DATA)");
    return CLI_OK;
}

int cli_open_store(const char *data_dir, int pool_size, struct store **out)
{
    if (cli_database())
        return open_database(cli_database(), pool_size, out);
    char *path = cli_db_path(data_dir);
    struct stat st;
    int rc = CLI_OK;
    if (stat(path, &st) < 0)
        rc = cli_fail("%s is not initialised (no %s); run 'tlsward init --data %s' first",
                      data_dir, path, data_dir);
    else if (store_open(path, STORE_OPEN_EXISTING, pool_size, out) != STORE_OK)
        rc = cli_fail("cannot open the store %s (see the log line above)", path);
    xfree(path);
    return rc;
}

void cli_print_json(json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    puts(text);
    fflush(stdout);
    free(text);
    json_decref(obj);
}

int cli_log_format(const char *value)
{
    if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
        return cli_fail("--log-format %s: expected text or json", value);
    log_set_format(strcmp(value, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    return CLI_OK;
}

void cli_block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *cli_wait_stop_signal(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}
