/* tlsward token create|revoke: API tokens of an account. The secret is printed once and
 * stored only as its SHA-256. A running server sees changes on its next request. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "core/permission.h"
#include "http/auth.h"

static const char token_help[] =
    "Usage: tlsward token create --data DIR --account ID --permission P [--permission P ...]\n"
    "                            [--zone ZONE_ID ...] [--expires RFC3339] [--json]\n"
    "       tlsward token revoke --data DIR TOKEN_ID\n\n"
    "create prints the new token's id and secret (shown once). P is one of ssl:read,\n"
    "ssl:write, zone:read, zone:write (write implies read). Without --zone the token\n"
    "covers every zone of the account. revoke disables a token at once.\n\n"
    "  --data DIR        data directory (or TLSWARD_DATA)\n"
    CLI_DATABASE_HELP
    "  --account ID      the account the token belongs to\n"
    "  --permission P    a permission (repeatable)\n"
    "  --zone ZONE_ID    limit the token to this zone of the account (repeatable, max 64)\n"
    "  --expires TIME    expiry, RFC 3339 (e.g. 2027-01-01T00:00:00Z), in the future\n"
    "  --json            print one JSON object {id, token}\n"
    "  --help            this text\n";

struct token_args {
    const char *data, *account;
    unsigned permissions;
    const char *zones[STORE_SCOPE_MAX];
    int zone_count;
    int64_t expires_on;
    bool json;
};

static int parse_create_option(int c, struct token_args *a)
{
    switch (c) {
    case 'd': a->data = optarg; return CLI_OK;
    case 'a': a->account = optarg; return CLI_OK;
    case 'j': a->json = true; return CLI_OK;
    case 'p':
        if (permission_parse(optarg, &a->permissions) < 0)
            return cli_fail("--permission %s: expected ssl:read, ssl:write, zone:read or zone:write",
                            optarg);
        return CLI_OK;
    case 'z':
        if (a->zone_count == STORE_SCOPE_MAX)
            return cli_fail("--zone: at most %d zones", STORE_SCOPE_MAX);
        if (!util_is_id(optarg))
            return cli_fail("--zone %s: not a zone id (32 lowercase hex characters)", optarg);
        a->zones[a->zone_count++] = optarg;
        return CLI_OK;
    case 'e':
        if (util_parse_time(optarg, &a->expires_on) < 0)
            return cli_fail("--expires %s: expected an RFC 3339 time", optarg);
        if (a->expires_on <= util_now_us())
            return cli_fail("--expires %s is in the past", optarg);
        return CLI_OK;
    case CLI_OPT_DATABASE: return cli_set_database(optarg);
    case 'h': fputs(token_help, stdout); return CLI_HELP;
    default: return CLI_USAGE;
    }
}

static int parse_create(int argc, char **argv, struct token_args *a)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},    {"account", required_argument, NULL, 'a'},
        {"permission", required_argument, NULL, 'p'}, {"zone", required_argument, NULL, 'z'},
        {"expires", required_argument, NULL, 'e'}, {"json", no_argument, NULL, 'j'},
        CLI_DATABASE_OPTION,
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        int rc = parse_create_option(c, a);
        if (rc != CLI_OK)
            return rc;
    }
    if (optind < argc)
        return cli_usage("token", "unexpected argument '%s'", argv[optind]);
    int rc = cli_store_args("token", &a->data);
    if (rc != CLI_OK)
        return rc;
    if (!a->account)
        return cli_usage("token", "--account ID is required");
    if (!a->permissions)
        return cli_usage("token", "at least one --permission is required");
    return CLI_OK;
}

/* Checks the account and every --zone against the store, then fills the scope. */
static int check_scope(struct store *s, const struct token_args *a, struct store_token *t)
{
    struct store_account account;
    if (!util_is_id(a->account) || store_account_get(s, a->account, &account) != STORE_OK)
        return cli_fail("--account %s: no such account", a->account);
    size_t used = 0;
    for (int i = 0; i < a->zone_count; i++) {
        struct store_zone zone;
        if (store_zone_get(s, a->zones[i], &zone) != STORE_OK ||
            strcmp(zone.account_id, account.id) != 0)
            return cli_fail("--zone %s: no such zone in account %s", a->zones[i], account.id);
        used += (size_t)snprintf(t->zone_scope + used, sizeof t->zone_scope - used, "%s%s",
                                 used ? " " : "", a->zones[i]);
    }
    return CLI_OK;
}

static int token_create(int argc, char **argv)
{
    struct token_args a = {0};
    int rc = parse_create(argc, argv, &a);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    struct store *s;
    if ((rc = cli_open_store(a.data, 1, &s)) != CLI_OK)
        return rc;
    struct store_token t = {.permissions = a.permissions, .expires_on = a.expires_on,
                            .created_on = util_now_us()};
    char secret[AUTH_TOKEN_LEN + 1];
    util_random_id(t.id);
    memcpy(t.account_id, a.account, sizeof t.account_id - 1);
    auth_new_token_secret(secret);
    util_sha256(secret, strlen(secret), t.hash);
    if ((rc = check_scope(s, &a, &t)) == CLI_OK && store_token_create(s, &t) != STORE_OK)
        rc = cli_fail("cannot create the token (see the log line above)");
    store_close(s);
    if (rc != CLI_OK)
        return rc;
    if (a.json)
        cli_print_json(json_pack("{s:s, s:s}", "id", t.id, "token", secret));
    else
        printf("token %s created. Secret (shown once): %s\n", t.id, secret);
    return CLI_OK;
}

static int token_revoke(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         CLI_DATABASE_OPTION,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data = NULL;
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == 'd')
            data = optarg;
        else if (c == CLI_OPT_DATABASE) {
            if (cli_set_database(optarg) != CLI_OK)
                return CLI_USER_ERROR;
        }
        else if (c == 'h')
            return fputs(token_help, stdout), CLI_OK;
        else
            return CLI_USAGE;
    }
    if (optind != argc - 1)
        return cli_usage("token", "revoke takes exactly one TOKEN_ID");
    if (cli_store_args("token", &data) != CLI_OK)
        return CLI_USAGE;
    const char *id = argv[optind];
    struct store *s;
    int rc = cli_open_store(data, 1, &s);
    if (rc != CLI_OK)
        return rc;
    int src = util_is_id(id) ? store_token_revoke(s, id, util_now_us()) : STORE_NOT_FOUND;
    store_close(s);
    if (src == STORE_NOT_FOUND)
        return cli_fail("no token with id %s", id);
    if (src != STORE_OK)
        return cli_fail("cannot revoke the token (see the log line above)");
    printf("token %s revoked\n", id);
    return CLI_OK;
}

int cli_token(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(token_help, stdout);
        return CLI_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "create") == 0)
        return token_create(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
        return token_revoke(argc - 1, argv + 1);
    return cli_usage("token", "expected the sub-command 'create' or 'revoke'");
}
