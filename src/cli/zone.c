/* tlsward zone quota: a zone's advanced-certificate-pack allocation. tlsward dcv approve:
 * approves the e-mail validation of a pending pack (e-mail sending comes later). Both take
 * effect on a running server's next use of the zone or pack. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"
#include "core/pack_records.h"
#include "core/pack_state.h"

static const char zone_help[] =
    "Usage: tlsward zone quota --data DIR ZONE_ID --advanced N\n\n"
    "Sets how many advanced certificate packs the zone may hold (default 50; 0 = none).\n\n"
    "  --data DIR      data directory (or TLSWARD_DATA)\n"
    "  --advanced N    the allocation, 0 to 100000\n" CLI_DATABASE_HELP
    "  --help          this text\n";

static const char dcv_help[] =
    "Usage: tlsward dcv approve --data DIR PACK_ID\n\n"
    "Approves the e-mail domain-control validation of a certificate pack that is\n"
    "pending_validation with validation_method email; the worker then issues it.\n\n"
    "  --data DIR      data directory (or TLSWARD_DATA)\n" CLI_DATABASE_HELP
    "  --help          this text\n";

/* Parses "--data DIR [--advanced N] ID"; *advanced stays -1 when absent. */
static int parse(int argc, char **argv, const char *cmd, const char *help, const char **data,
                 long long *advanced, const char **id)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"advanced", required_argument, NULL, 'a'},
                                         CLI_DATABASE_OPTION,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        if (c == 'd')
            *data = optarg;
        else if (c == 'a' && advanced) {
            if (util_parse_int(optarg, 0, 100000, advanced) < 0)
                return cli_fail("--advanced %s: expected a number from 0 to 100000", optarg);
        } else if (c == CLI_OPT_DATABASE) {
            if (cli_set_database(optarg) != CLI_OK)
                return CLI_USER_ERROR;
        } else if (c == 'h')
            return fputs(help, stdout), CLI_HELP;
        else
            return cli_usage(cmd, "unexpected option");
    }
    if (optind != argc - 1)
        return cli_usage(cmd, "expected exactly one id");
    *id = argv[optind];
    return cli_store_args(cmd, data);
}

static int zone_quota(int argc, char **argv)
{
    const char *data = NULL, *id = NULL;
    long long advanced = -1;
    int rc = parse(argc, argv, "zone", zone_help, &data, &advanced, &id);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (advanced < 0)
        return cli_usage("zone", "--advanced N is required");
    struct store *s;
    if ((rc = cli_open_store(data, 1, &s)) != CLI_OK)
        return rc;
    int src = util_is_id(id) ? store_zone_set_quota(s, id, (int)advanced) : STORE_NOT_FOUND;
    store_close(s);
    if (src == STORE_NOT_FOUND)
        return cli_fail("no zone with id %s", id);
    if (src != STORE_OK)
        return cli_fail("cannot set the quota (see the log line above)");
    printf("zone %s: advanced quota %lld\n", id, advanced);
    return CLI_OK;
}

/* Marks the e-mail records approved and has the worker check the pack now. */
static int approve(struct store *s, const char *id)
{
    struct store_pack p;
    int rc = util_is_id(id) ? store_pack_by_id(s, id, &p) : STORE_NOT_FOUND;
    if (rc == STORE_NOT_FOUND)
        return cli_fail("no certificate pack with id %s", id);
    if (rc != STORE_OK)
        return cli_fail("cannot read the pack (see the log line above)");
    if (p.validation_method != PACK_METHOD_EMAIL || p.status != PACK_PENDING_VALIDATION) {
        rc = cli_fail("pack %s is %s with validation_method %s: only a pending_validation "
                      "e-mail pack can be approved",
                      id, pack_status_name(p.status), pack_method_name(p.validation_method));
    } else {
        pack_records_set_status(&p, "active");
        int64_t now = util_now_us();
        rc = store_pack_update(s, &p, NULL, NULL, now, now) == STORE_OK
                 ? CLI_OK
                 : cli_fail("the pack changed meanwhile; try again");
    }
    store_pack_clear(&p);
    return rc;
}

static int dcv_approve(int argc, char **argv)
{
    const char *data = NULL, *id = NULL;
    int rc = parse(argc, argv, "dcv", dcv_help, &data, NULL, &id);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    struct store *s;
    if ((rc = cli_open_store(data, 1, &s)) != CLI_OK)
        return rc;
    rc = approve(s, id);
    store_close(s);
    if (rc == CLI_OK)
        printf("pack %s: e-mail validation approved\n", id);
    return rc;
}

/* Dispatches "<group> <verb>" to fn when argv[1] is verb. */
static int sub(int argc, char **argv, const char *group, const char *verb, const char *help,
               int (*fn)(int, char **))
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return fputs(help, stdout), CLI_OK;
    if (argc >= 2 && strcmp(argv[1], verb) == 0)
        return fn(argc - 1, argv + 1);
    return cli_usage(group, "expected the sub-command '%s'", verb);
}

int cli_zone(int argc, char **argv)
{
    return sub(argc, argv, "zone", "quota", zone_help, zone_quota);
}

int cli_dcv(int argc, char **argv)
{
    return sub(argc, argv, "dcv", "approve", dcv_help, dcv_approve);
}
