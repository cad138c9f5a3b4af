/* tlsward account create: adds an account owned by the data dir's user. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

static const char account_help[] =
    "Usage: tlsward account create --data DIR --name NAME [--json]\n\n"
    "Creates an account owned by the user made by 'tlsward init' and prints its id.\n\n"
    "  --data DIR   data directory (or TLSWARD_DATA)\n"
    CLI_DATABASE_HELP
    "  --name NAME  account name (1 to 255 bytes of UTF-8)\n"
    "  --json       print one JSON object {id, name}\n"
    "  --help       this text\n";

static int create_account(const char *data, const char *name, bool json)
{
    struct store *s;
    int rc = cli_open_store(data, 1, &s);
    if (rc != CLI_OK)
        return rc;
    struct store_user owner;
    struct store_account account = {.created_on = util_now_us()};
    util_random_id(account.id);
    snprintf(account.name, sizeof account.name, "%s", name);
    if (store_user_first(s, &owner) != STORE_OK) {
        rc = cli_fail("the store of %s has no user; was it made by 'tlsward init'?", data);
    } else {
        memcpy(account.owner_user_id, owner.id, sizeof owner.id);
        if (store_account_create(s, &account) != STORE_OK)
            rc = cli_fail("cannot create the account (see the log line above)");
    }
    store_close(s);
    if (rc != CLI_OK)
        return rc;
    if (json)
        cli_print_json(json_pack("{s:s, s:s}", "id", account.id, "name", account.name));
    else
        printf("account %s created: %s\n", account.name, account.id);
    return CLI_OK;
}

int cli_account(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         CLI_DATABASE_OPTION,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(account_help, stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return cli_usage("account", "expected the sub-command 'create'");
    const char *data = NULL, *name = NULL;
    bool json = false;
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc - 1, argv + 1, "", opts)) != -1;) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'n': name = optarg; break;
        case 'j': json = true; break;
        case CLI_OPT_DATABASE:
            if (cli_set_database(optarg) != CLI_OK)
                return CLI_USER_ERROR;
            break;
        case 'h': fputs(account_help, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc - 1)
        return cli_usage("account", "unexpected argument '%s'", argv[optind + 1]);
    if (cli_store_args("account", &data) != CLI_OK)
        return CLI_USAGE;
    if (!name)
        return cli_usage("account", "--name NAME is required");
    json_t *probe = json_string(name); /* NULL unless valid UTF-8 */
    bool valid = probe && *name && strlen(name) < STORE_NAME_SIZE;
    json_decref(probe);
    if (!valid)
        return cli_fail("--name must be 1 to 255 bytes of UTF-8");
    return create_account(data, name, json);
}
