/* tlsward: command dispatch. Each sub-command lives in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/alloc.h"
#include "dcv/dcv.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"init", cli_init, "create a data dir: store, master key, user, account, token"},
    {"serve", cli_serve, "run the API server (and the lifecycle worker)"},
    {"worker", cli_worker, "run the lifecycle worker alone"},
    {"account", cli_account, "manage accounts (create)"},
    {"token", cli_token, "manage API tokens (create, revoke)"},
    {"zone", cli_zone, "zone settings (quota)"},
    {"dcv", cli_dcv, "domain-control validation (approve)"},
    {"backup", cli_backup, "write a consistent snapshot of a running SQLite store"},
    {"migrate", cli_migrate, "copy a SQLite store into an empty PostgreSQL database"},
    {"version", cli_version, "print the version"},
};

static int dispatch(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out, "Usage: tlsward COMMAND [OPTIONS]\n\n"
                 "A self-hosted TLS certificate lifecycle server speaking Cloudflare's API v4.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'tlsward COMMAND --help' for a command's options.\n"
                 "--data DIR may also come from the TLSWARD_DATA environment variable.\n");
}

int main(int argc, char **argv)
{
    alloc_install_json();
    alloc_tune_heap();
    if (dcv_global_init() < 0) {
        fprintf(stderr, "tlsward: cannot initialise the DNS/HTTP libraries\n");
        return CLI_USER_ERROR;
    }
    int rc = dispatch(argc, argv);
    dcv_global_cleanup();
    return rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cli_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tlsward: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
