/* tlsward init: creates a data dir with its store, master key, a user with a global API
 * key, an account "Default" and an API token with every permission on it.
 *
 * Crash safety: the store is built under a temporary name and renamed into place last,
 * so a data dir either has a complete tlsward.db or none (then init may simply be rerun;
 * a master key left by an interrupted run is reused). */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/dburl.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "core/permission.h"
#include "http/auth.h"
#include "pki/local_ca.h"
#include "pki/seal.h"

#include <openssl/crypto.h>

static const char init_help[] =
    "Usage: tlsward init --data DIR [--database URI|FILE] [--email E] [--json]\n\n"
    "Creates DIR (mode 0700) with the store, the master key, a user (default\n"
    "admin@localhost) with a global API key, an account \"Default\" and an API token\n"
    "with every permission on that account, and prints them. Refuses (exit 1, nothing\n"
    "changed) when DIR is already initialised.\n"
    "With --database the store is created there instead (refused, nothing changed, when it\n"
    "already is a store) and DIR holds only the master key (or TLSWARD_MASTER_KEY_FILE).\n\n"
    "  --data DIR   data directory (or TLSWARD_DATA)\n"
    CLI_DATABASE_HELP
    "  --email E    e-mail of the user (X-Auth-Email for the global key)\n"
    "  --json       print one JSON object {user_email, api_key, account_id, token}\n"
    "  --help       this text\n";

struct init_result {
    char email[STORE_NAME_SIZE];
    char api_key[AUTH_GLOBAL_KEY_LEN + 1];
    char account_id[STORE_ID_SIZE];
    char token[AUTH_TOKEN_LEN + 1];
};

/* A plain check: one '@' with text on both sides, printable ASCII, no spaces. */
static bool valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    if (!at || at == e || !at[1] || strchr(at + 1, '@') || strlen(e) > 254)
        return false;
    for (const char *p = e; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

/* The master key: reuse an existing file (left by an interrupted init, or provided by the
 * operator through TLSWARD_MASTER_KEY_FILE), else create one. */
static int ensure_master_key(const char *data_dir)
{
    char *path = cli_master_key_path(data_dir);
    unsigned char key[SEAL_KEY_LEN];
    int rc = CLI_OK;
    if (access(path, F_OK) == 0) {
        if (seal_key_load(path, key) < 0)
            rc = cli_fail("%s exists but is not a usable master key (32 bytes, mode 0600)", path);
    } else if (seal_key_create(path) < 0) {
        rc = cli_fail("cannot create the master key %s: %s", path, strerror(errno));
    }
    OPENSSL_cleanse(key, sizeof key);
    xfree(path);
    return rc;
}

/* The built-in CA (SPEC §5): created here so the data dir is complete from the start. */
static int create_local_ca(struct store *s, const char *data_dir, int64_t now)
{
    unsigned char key[SEAL_KEY_LEN];
    char *path = cli_master_key_path(data_dir);
    struct store_local_ca ca;
    int rc = seal_key_load(path, key) < 0 || local_ca_create(key, now, &ca) < 0 ? -1 : 0;
    OPENSSL_cleanse(key, sizeof key);
    xfree(path);
    if (rc == 0) {
        rc = store_local_ca_create(s, &ca) == STORE_OK ? 0 : -1;
        store_local_ca_clear(&ca);
    }
    return rc;
}

static int populate(struct store *s, const char *data_dir, struct init_result *out)
{
    int64_t now = util_now_us();
    struct store_user user = {.created_on = now};
    util_random_id(user.id);
    snprintf(user.email, sizeof user.email, "%s", out->email);
    auth_new_global_key(out->api_key);
    util_sha256(out->api_key, strlen(out->api_key), user.key_hash);

    struct store_account account = {.created_on = now};
    util_random_id(account.id);
    snprintf(account.name, sizeof account.name, "Default");
    memcpy(account.owner_user_id, user.id, sizeof user.id);
    memcpy(out->account_id, account.id, sizeof account.id);

    struct store_token token = {.permissions = PERM_ALL, .created_on = now};
    util_random_id(token.id);
    memcpy(token.account_id, account.id, sizeof account.id);
    auth_new_token_secret(out->token);
    util_sha256(out->token, strlen(out->token), token.hash);

    if (store_user_create(s, &user) != STORE_OK || store_account_create(s, &account) != STORE_OK ||
        store_token_create(s, &token) != STORE_OK || create_local_ca(s, data_dir, now) < 0)
        return -1;
    return 0;
}

/* Removes a temporary store left by an interrupted init, with its WAL side files. */
static void remove_stale(const char *tmp)
{
    char *wal = xasprintf("%s-wal", tmp), *shm = xasprintf("%s-shm", tmp);
    unlink(tmp);
    unlink(wal);
    unlink(shm);
    xfree(wal);
    xfree(shm);
}

/* The directory of a file path ("." for a bare name); caller xfree's. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    return slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

/* --database postgres://...: the backend creates and migrates the schema, and refuses a
 * database that already holds one. */
static int build_remote_store(const char *uri, const char *data_dir, struct init_result *result)
{
    char shown[512];
    struct store *s = NULL;
    dburl_redact(uri, shown, sizeof shown);
    int rc = CLI_OK;
    if (store_open(uri, STORE_OPEN_CREATE, 1, &s) != STORE_OK)
        rc = cli_fail("cannot create the store at %s (already a store, or unreachable: see the "
                      "log line above); nothing changed there",
                      shown);
    else if (populate(s, data_dir, result) < 0)
        rc = cli_fail("cannot populate the store at %s (see the log line above)", shown);
    store_close(s);
    return rc;
}

/* The store at db (an SQLite file: DATA/tlsward.db, or --database FILE). */
static int build_store(const char *data_dir, const char *db, struct init_result *result)
{
    char *db_dir = dir_of(db);
    char *tmp = xasprintf("%s.init", db);
    struct store *s = NULL;
    int rc = CLI_OK;
    remove_stale(tmp);
    if (store_open(tmp, STORE_OPEN_CREATE, 1, &s) != STORE_OK || populate(s, data_dir, result) < 0) {
        rc = cli_fail("cannot create the store in %s (see the log line above)", data_dir);
    }
    store_close(s);
    if (rc == CLI_OK && (rename(tmp, db) < 0 || fsutil_fsync_dir(db_dir) < 0))
        rc = cli_fail("cannot move the store into place: %s", strerror(errno));
    if (rc != CLI_OK)
        remove_stale(tmp);
    xfree(tmp);
    xfree(db_dir);
    return rc;
}

static void print_result(const struct init_result *r, bool json)
{
    if (json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "user_email", r->email, "api_key",
                                 r->api_key, "account_id", r->account_id, "token", r->token));
        return;
    }
    printf("Initialised. Keep these secrets safe; they are not shown again.\n"
           "  user e-mail:    %s\n  global API key: %s\n  account id:     %s\n"
           "  API token:      %s\n",
           r->email, r->api_key, r->account_id, r->token);
}

static int parse_args(int argc, char **argv, const char **data, const char **email, bool *json)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"email", required_argument, NULL, 'e'},
                                         {"json", no_argument, NULL, 'j'},
                                         CLI_DATABASE_OPTION,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        switch (c) {
        case 'd': *data = optarg; break;
        case 'e': *email = optarg; break;
        case 'j': *json = true; break;
        case CLI_OPT_DATABASE:
            if (cli_set_database(optarg) != CLI_OK)
                return CLI_USER_ERROR;
            break;
        case 'h': fputs(init_help, stdout); return CLI_HELP;
        default: return CLI_USAGE;
        }
    }
    return cli_finish_args("init", argc, argv, data);
}

int cli_init(int argc, char **argv)
{
    const char *data = NULL, *email = "admin@localhost";
    bool json = false;
    int rc = parse_args(argc, argv, &data, &email, &json);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!valid_email(email))
        return cli_fail("--email %s is not a valid e-mail address", email);

    const char *database = cli_database();
    char *db = database ? xstrdup(database) : cli_db_path(data);
    bool remote = dburl_is_postgres(db);
    bool initialised = !remote && access(db, F_OK) == 0;
    if (initialised) {
        char shown[512];
        dburl_redact(db, shown, sizeof shown);
        xfree(db);
        return database ? cli_fail("%s is already a tlsward store; nothing changed", shown)
                        : cli_fail("%s is already initialised; nothing changed", data);
    }
    if (fsutil_mkdirs(data, 0700) < 0 || chmod(data, 0700) < 0) {
        xfree(db);
        return cli_fail("cannot create %s: %s", data, strerror(errno));
    }

    struct init_result result = {0};
    snprintf(result.email, sizeof result.email, "%s", email);
    if ((rc = ensure_master_key(data)) == CLI_OK)
        rc = remote ? build_remote_store(db, data, &result) : build_store(data, db, &result);
    xfree(db);
    if (rc != CLI_OK)
        return rc;
    print_result(&result, json);
    return CLI_OK;
}
