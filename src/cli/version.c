/* tlsward version */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cli_version(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs("Usage: tlsward version [--json]\n\nPrints the version of tlsward.\n", stdout);
            return CLI_OK;
        } else {
            return cli_usage("version", "unexpected argument '%s'", argv[i]);
        }
    }
    if (json)
        cli_print_json(json_pack("{s:s}", "version", TLSWARD_VERSION));
    else
        printf("tlsward %s\n", TLSWARD_VERSION);
    return CLI_OK;
}
