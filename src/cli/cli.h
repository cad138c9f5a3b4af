/* Sub-commands of the tlsward binary and the helpers they share.
 * Exit codes (SPEC §2): 0 success, 1 user error (one line on stderr), 2 usage error. */
#ifndef TLSWARD_CLI_CLI_H
#define TLSWARD_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>

#include "store/store.h"

enum { CLI_HELP = -1, CLI_OK = 0, CLI_USER_ERROR = 1, CLI_USAGE = 2 };
/* CLI_HELP: an option parser printed --help; the command then exits 0. */

int cli_init(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_account(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_version(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_zone(int argc, char **argv);
int cli_dcv(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_migrate(int argc, char **argv);

struct app;
struct app_config;
/* Opens what a server process needs: master key, store (pool_size connections), rate
 * limiter, metrics, client-CA cache. On failure prints why and returns CLI_USER_ERROR. */
int cli_app_open(struct app *app, int pool_size);
void cli_app_close(struct app *app);
/* The worker options shared by serve and worker: defaults, and parsing of
 * --worker-interval ('w'), --no-worker ('W'), --client-ca-key ('C'), --dcv-mode ('M'),
 * --dns-resolver ('R'), --dcv-http-port ('P'), --validation-timeout ('V'),
 * --issuance-timeout ('I'), --deploy-hook ('H'), --dcv-allow-private, --caa-identity,
 * --lease, --worker-threads, --public-url, --http-challenge-listen and --webroot (CLI_OPT_*).
 * CLI_WORKER_OPTIONS lists them for getopt_long tables. */
/* Long-only options have values outside the character range. */
#define CLI_OPT_PUBLIC_URL 0x1001
#define CLI_WORKER_OPTIONS                                                                         \
    {"worker-interval", required_argument, NULL, 'w'},                                            \
        {"client-ca-key", required_argument, NULL, 'C'},                                          \
        {"dcv-mode", required_argument, NULL, 'M'},                                               \
        {"dns-resolver", required_argument, NULL, 'R'},                                           \
        {"dcv-http-port", required_argument, NULL, 'P'},                                          \
        {"validation-timeout", required_argument, NULL, 'V'},                                     \
        {"issuance-timeout", required_argument, NULL, 'I'},                                       \
        {"deploy-hook", required_argument, NULL, 'H'},                                            \
        {"dcv-allow-private", no_argument, NULL, CLI_OPT_DCV_ALLOW_PRIVATE},                      \
        {"caa-identity", required_argument, NULL, CLI_OPT_CAA_IDENTITY},                          \
        {"lease", required_argument, NULL, CLI_OPT_LEASE},                                         \
        {"worker-threads", required_argument, NULL, CLI_OPT_WORKER_THREADS},                      \
        {"rsa-key-pool", required_argument, NULL, CLI_OPT_RSA_KEY_POOL},                          \
        {"public-url", required_argument, NULL, CLI_OPT_PUBLIC_URL},                              \
        {"http-challenge-listen", required_argument, NULL, CLI_OPT_HTTP_CHALLENGE_LISTEN},        \
        {"webroot", required_argument, NULL, CLI_OPT_WEBROOT}, CLI_DNS_OPTIONS, CLI_ACME_OPTIONS,  \
        CLI_NODE_OPTIONS
/* Options without a short letter (values above any char). */
enum { CLI_OPT_DCV_ALLOW_PRIVATE = 0xdc01, CLI_OPT_CAA_IDENTITY = 0xdc02 };
#define CLI_WORKER_HELP                                                                            \
    "  --worker-interval DUR   how often the lifecycle worker looks for due jobs (default 1s)\n"  \
    "  --client-ca-key rsa|ec  key type of new managed client CAs (default rsa: RSA-2048)\n"      \
    "  --dcv-mode auto|check   auto: every DCV record counts as present (CI, development);\n"    \
    "                          check: real DNS TXT / HTTP / CAA checks (default check)\n"       \
    "  --dns-resolver IP:PORT  DNS server for DCV, CAA and HTTP-DCV lookups (default: system)\n" \
    "  --dcv-http-port PORT    port HTTP DCV connects to (default 80)\n"                         \
    "  --validation-timeout DUR  pending_validation gives up after (default 24h)\n"             \
    "  --issuance-timeout DUR  pending_issuance gives up after (default 1h)\n"                   \
    "  --deploy-hook CMD       run via /bin/sh -c after each pack deployment (60 s limit)\n"     \
    "  --dcv-allow-private     let HTTP DCV connect to loopback/private/link-local addresses\n" \
    "  --caa-identity D        CAA issuer domain of the built-in CA (default tlsward.local)\n" \
    "  --lease DUR             lease of a running job, renewed while it runs; a dead worker's\n" \
    "                          jobs are taken over within one lease (default 15s; 1s to 1h)\n"  \
    "  --worker-threads N      jobs run at once besides revocations and CRLs (default 4)\n"   \
    "  --rsa-key-pool N        RSA-2048 keys generated ahead, while idle, for issuance: an\n"  \
    "                          order that finds none waits ~0.1-0.3 s for its own (default 32;\n" \
    "                          1 to 64)\n"                                                     \
    "  --public-url URL        base URL of /pki/... for clients: certificates tlsward signs\n"  \
    "                          name their CRL and issuer under it\n"                          \
    "  --http-challenge-listen ADDR:PORT  serve /.well-known/acme-challenge/<token> of pending\n" \
    "                          http validation records here (port 0 = any)\n"                  \
    "  --webroot DIR           write pending http validation records as files under\n"         \
    "                          DIR/.well-known/acme-challenge/ (removed after validation)\n" CLI_DNS_HELP CLI_ACME_HELP\
        CLI_NODE_HELP
/* Long-only worker options (values beyond any short option's). */
enum { CLI_OPT_LEASE = 0x4c00, CLI_OPT_WORKER_THREADS, CLI_OPT_RSA_KEY_POOL };
/* The HTTP-01 publication options (--http-challenge-listen, --webroot). */
enum { CLI_OPT_HTTP_CHALLENGE_LISTEN = 0x4801, CLI_OPT_WEBROOT = 0x4802 };
/* DNS publication and delegated DCV, also parsed by cli_worker_option: --dns-update,
 * --dns-tsig, --dns-hook, --dcv-domain (long-only values 0xd500..0xd5ff). */
enum { CLI_OPT_DNS_UPDATE = 0xd500, CLI_OPT_DNS_TSIG, CLI_OPT_DNS_HOOK, CLI_OPT_DCV_DOMAIN };
#define CLI_OPT_IS_DNS(c) ((c) >= 0xd500 && (c) <= 0xd5ff)
#define CLI_DNS_OPTIONS                                                                            \
    {"dns-update", required_argument, NULL, CLI_OPT_DNS_UPDATE},                                  \
        {"dns-tsig", required_argument, NULL, CLI_OPT_DNS_TSIG},                                  \
        {"dns-hook", required_argument, NULL, CLI_OPT_DNS_HOOK},                                  \
        {"dcv-domain", required_argument, NULL, CLI_OPT_DCV_DOMAIN}
#define CLI_DNS_HELP                                                                               \
    "  --dns-update IP:PORT    publish DCV TXT records there by RFC 2136 dynamic update\n"      \
    "  --dns-tsig NAME:hmac-sha256:BASE64  the TSIG key that signs those updates\n"            \
    "  --dns-hook CMD          instead, run CMD via /bin/sh -c to publish and remove records\n" \
    "                          (TLSWARD_EVENT=present|cleanup, TLSWARD_RECORD_NAME, ..._VALUE,\n"\
    "                          TLSWARD_ZONE, TLSWARD_PACK_ID; 60 s limit)\n"                    \
    "  --dcv-domain D          zone of delegated DCV CNAME targets (default dcv.tlsward.local)\n"
/* The --acme-* options of serve and worker (parsed by cli/acme_options.c). */
enum {
    CLI_OPT_ACME_DIRECTORY = 0xac00,
    CLI_OPT_ACME_EAB,
    CLI_OPT_ACME_CONTACT,
    CLI_OPT_ACME_CA_FILE,
    CLI_OPT_ACME_PREFERRED_CHAIN,
};
#define CLI_IS_ACME_OPTION(c) ((c) >= CLI_OPT_ACME_DIRECTORY && (c) <= CLI_OPT_ACME_PREFERRED_CHAIN)
#define CLI_ACME_OPTIONS                                                                           \
    {"acme-directory", required_argument, NULL, CLI_OPT_ACME_DIRECTORY},                          \
        {"acme-eab", required_argument, NULL, CLI_OPT_ACME_EAB},                                  \
        {"acme-contact", required_argument, NULL, CLI_OPT_ACME_CONTACT},                          \
        {"acme-ca-file", required_argument, NULL, CLI_OPT_ACME_CA_FILE},                          \
        {"acme-preferred-chain", required_argument, NULL, CLI_OPT_ACME_PREFERRED_CHAIN}
#define CLI_ACME_HELP                                                                              \
    "  --acme-directory CA=URL send packs of CA (lets_encrypt, google, ssl_com) to the ACME\n"     \
    "                          directory URL (https; repeatable; default: the built-in CA)\n"     \
    "  --acme-eab CA=KID:HMAC  external account binding for CA (HMAC: base64url MAC key)\n"      \
    "  --acme-contact mailto:ADDR  contact of the ACME accounts tlsward creates\n"               \
    "  --acme-ca-file FILE     PEM certificates trusted for the ACME servers' HTTPS\n"           \
    "  --acme-preferred-chain CA=ISSUER_CN  pick the alternate chain whose top issuer is CN\n"
/* One --acme-* option (c as CLI_IS_ACME_OPTION); CLI_OK or CLI_USER_ERROR (printed). */
int cli_acme_option(int c, struct app_config *cfg);
/* After parsing: the --acme-* options fit together (--acme-eab and --acme-preferred-chain
 * only for a CA with --acme-directory; --acme-ca-file readable PEM). */
int cli_acme_check(const struct app_config *cfg);
void cli_worker_defaults(struct app_config *cfg);
int cli_worker_option(int c, struct app_config *cfg);

/* Parses options with getopt_long for command `name`; prints `help` and returns 0 from
 * the caller on --help. Returns the option char, -1 at the end, or '?' after printing a
 * usage error (the caller returns CLI_USAGE). Call cli_getopt_reset() before the loop. */
void cli_getopt_reset(void);
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* Prints "tlsward <cmd>: <message>" and the --help hint; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "tlsward: <message>"; returns CLI_USER_ERROR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Blocks SIGTERM/SIGINT in the calling thread (and every thread it starts later, so none
 * is interrupted) and ignores SIGPIPE; the signals are then taken synchronously with
 * cli_wait_stop_signal, which returns the received one's name. */
void cli_block_stop_signals(sigset_t *set);
const char *cli_wait_stop_signal(const sigset_t *set);
/* Applies --log-format text|json; CLI_OK or CLI_USER_ERROR. */
int cli_log_format(const char *value);
/* The end of option parsing for a command taking no positional argument: refuses one,
 * and resolves *data (--data, else $TLSWARD_DATA). CLI_OK or CLI_USAGE (printed). */
int cli_finish_args(const char *cmd, int argc, char **argv, const char **data);
/* --data, else $TLSWARD_DATA, else NULL. */
const char *cli_data_dir(const char *flag);
/* DIR/tlsward.db (caller xfree's). */
char *cli_db_path(const char *data_dir);
/* The master key file: $TLSWARD_MASTER_KEY_FILE, else DIR/master.key (caller xfree's). */
char *cli_master_key_path(const char *data_dir);
/* Opens the store of an initialised data dir; on failure prints why, returns CLI_USER_ERROR. */
int cli_open_store(const char *data_dir, int pool_size, struct store **out);
/* Prints one JSON object on stdout (compact, newline) and releases it. */
void cli_print_json(json_t *obj);


/* ---- the store's location and the node options (several nodes on one store) ---- */
/* --database URI|FILE (or $TLSWARD_DATABASE): the store is there instead of in
 * DATA/tlsward.db: a postgres:// or postgresql:// URI goes to store_open unchanged, any
 * other value is the path of an SQLite file. Every command that opens the store takes it. */
#define CLI_OPT_DATABASE 0xdb01
#define CLI_DATABASE_OPTION {"database", required_argument, NULL, CLI_OPT_DATABASE}
#define CLI_DATABASE_HELP                                                                          \
    "  --database URI|FILE     the store: a postgres:// URI, or an SQLite file (default\n"       \
    "                          DATA/tlsward.db; or TLSWARD_DATABASE)\n"
/* Records --database (bounded, non-empty); CLI_OK or CLI_USER_ERROR (printed, redacted). */
int cli_set_database(const char *value);
/* --database, else $TLSWARD_DATABASE, else NULL (the store of the data dir). */
const char *cli_database(void);
/* For a command that only opens the store: resolves *data (--data, else $TLSWARD_DATA),
 * which may stay NULL when a database is named. CLI_OK or CLI_USAGE (printed). */
int cli_store_args(const char *cmd, const char **data);
/* The worker's node options: --node-name NAME (how this node is listed; default the host
 * name) and the hidden --node-liveness DUR (how long a node counts as live after its last
 * heartbeat; default 60 s; tests shorten it). --database is parsed here too. */
enum { CLI_OPT_NODE_NAME = 0xde01, CLI_OPT_NODE_LIVENESS = 0xde02 };
#define CLI_OPT_IS_NODE(c)                                                                         \
    ((c) == CLI_OPT_NODE_NAME || (c) == CLI_OPT_NODE_LIVENESS || (c) == CLI_OPT_DATABASE)
#define CLI_NODE_OPTIONS                                                                           \
    {"node-name", required_argument, NULL, CLI_OPT_NODE_NAME},                                    \
        {"node-liveness", required_argument, NULL, CLI_OPT_NODE_LIVENESS}, CLI_DATABASE_OPTION
#define CLI_NODE_HELP                                                                              \
    "  --node-name NAME        this worker's name in the store's node list (default: host name)\n" \
        CLI_DATABASE_HELP

#endif
