/* tlsward serve: runs the API until SIGTERM/SIGINT, then stops accepting, lets in-flight
 * requests finish and exits 0. */
#include "cli/cli.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "http/challenge.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "http/server.h"
#include "pki/seal.h"
#include "worker/worker.h"

/* Store connections shared by the request threads and the worker (a request borrows one
 * per store call, so a few dozen serve any number of connections). */
#define SERVE_STORE_CONNECTIONS 16

static const char serve_help[] =
    "Usage: tlsward serve --data DIR [OPTIONS]\n\n"
    "Runs the Cloudflare-compatible API under /client/v4.\n\n"
    "  --data DIR              data directory made by 'tlsward init' (or TLSWARD_DATA)\n"
    "  --listen HOST:PORT      address to listen on (default 127.0.0.1:8443; port 0 = any)\n"
    "  --rate-limit N/DUR      requests per credential per window (default 1200/5m; 0 = off)\n"
    "  --auth-fail-limit N/DUR failed authentications per client address per window, then\n"
    "                          429 for every request from it (default 60/1m; 0 = off)\n"
    "  --log-format text|json  log line format on stderr (default text)\n"
    "  --name-servers A,B      name servers reported on zones (default ns1/ns2.tlsward.local)\n"
    "  --no-worker             run no lifecycle worker here (run 'tlsward worker' instead)\n"
    CLI_WORKER_HELP
    "  --tls-cert F --tls-key F  serve HTTPS with this PEM certificate chain and key\n"
    "  --help                  this text\n";

/* Splits the comma-separated --name-servers value in place into the config. */
static int parse_name_servers(char *list, struct app_config *cfg)
{
    cfg->name_server_count = 0;
    for (char *save = NULL, *ns = strtok_r(list, ",", &save); ns; ns = strtok_r(NULL, ",", &save)) {
        if (cfg->name_server_count == APP_MAX_NAME_SERVERS)
            return -1;
        cfg->name_servers[cfg->name_server_count++] = ns;
    }
    return cfg->name_server_count ? 0 : -1;
}

/* Long-only options (no short letter to collide with). */
enum { OPT_AUTH_FAIL_LIMIT = 1000 };

static int parse_option(int c, struct app_config *cfg)
{
    switch (c) {
    case 'd': cfg->data_dir = optarg; return CLI_OK;
    case 'l': cfg->listen = optarg; return CLI_OK;
    case 'c': cfg->tls_cert_file = optarg; return CLI_OK;
    case 'k': cfg->tls_key_file = optarg; return CLI_OK;
    case 'r':
        if (ratelimit_parse(optarg, &cfg->rate_limit_count, &cfg->rate_limit_window_us) < 0)
            return cli_fail("--rate-limit %s: expected N/DURATION (e.g. 1200/5m) or 0", optarg);
        return CLI_OK;
    case 'f': return cli_log_format(optarg);
    case OPT_AUTH_FAIL_LIMIT:
        if (ratelimit_parse(optarg, &cfg->auth_fail_limit_count, &cfg->auth_fail_limit_window_us) < 0)
            return cli_fail("--auth-fail-limit %s: expected N/DURATION (e.g. 60/1m) or 0", optarg);
        return CLI_OK;
    case 'n':
        if (parse_name_servers(optarg, cfg) < 0)
            return cli_fail("--name-servers: 1 to %d comma-separated names", APP_MAX_NAME_SERVERS);
        return CLI_OK;
    case 'w':
    case 'W':
    case 'C':
    case 'M':
    case 'R':
    case 'P':
    case 'V':
    case 'I':
    case 'H':
    case CLI_OPT_DCV_ALLOW_PRIVATE:
    case CLI_OPT_CAA_IDENTITY: return cli_worker_option(c, cfg);
    case CLI_OPT_LEASE:
    case CLI_OPT_WORKER_THREADS:
    case CLI_OPT_RSA_KEY_POOL: return cli_worker_option(c, cfg);
    case CLI_OPT_PUBLIC_URL: return cli_worker_option(c, cfg);
    case CLI_OPT_HTTP_CHALLENGE_LISTEN:
    case CLI_OPT_WEBROOT: return cli_worker_option(c, cfg);
    case CLI_OPT_DNS_UPDATE:
    case CLI_OPT_DNS_TSIG:
    case CLI_OPT_DNS_HOOK:
    case CLI_OPT_DCV_DOMAIN: return cli_worker_option(c, cfg);
    case CLI_OPT_ACME_DIRECTORY:
    case CLI_OPT_ACME_EAB:
    case CLI_OPT_ACME_CONTACT:
    case CLI_OPT_ACME_CA_FILE:
    case CLI_OPT_ACME_PREFERRED_CHAIN: return cli_acme_option(c, cfg);
    case CLI_OPT_NODE_NAME:
    case CLI_OPT_NODE_LIVENESS:
    case CLI_OPT_DATABASE: return cli_worker_option(c, cfg);
    case 'h': fputs(serve_help, stdout); return CLI_HELP;
    default: return CLI_USAGE;
    }
}

static int parse_args(int argc, char **argv, struct app_config *cfg)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"rate-limit", required_argument, NULL, 'r'}, {"log-format", required_argument, NULL, 'f'},
        {"name-servers", required_argument, NULL, 'n'},
        {"tls-cert", required_argument, NULL, 'c'},   {"tls-key", required_argument, NULL, 'k'},
        {"no-worker", no_argument, NULL, 'W'},        CLI_WORKER_OPTIONS,
        {"auth-fail-limit", required_argument, NULL, OPT_AUTH_FAIL_LIMIT},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    static char default_ns[] = "ns1.tlsward.local,ns2.tlsward.local";
    *cfg = (struct app_config){.listen = "127.0.0.1:8443",
                               .rate_limit_count = 1200, .rate_limit_window_us = 300 * 1000000LL};
    cli_worker_defaults(cfg);
    cfg->auth_fail_limit_count = 60;
    cfg->auth_fail_limit_window_us = 60 * 1000000LL;
    parse_name_servers(default_ns, cfg);
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        int rc = parse_option(c, cfg);
        if (rc != CLI_OK)
            return rc;
    }
    return cli_finish_args("serve", argc, argv, &cfg->data_dir);
}

int cli_serve(int argc, char **argv)
{
    struct app app = {0};
    int rc = parse_args(argc, argv, &app.config);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;

    sigset_t stop_signals;
    cli_block_stop_signals(&stop_signals);

    struct http_server *server = NULL;
    int connections = SERVE_STORE_CONNECTIONS + app.config.worker_threads; /* + the worker's */
    if ((rc = cli_app_open(&app, connections)) != CLI_OK ||
        http_server_start(&app, &server) < 0) {
        cli_app_close(&app);
        return rc != CLI_OK ? rc : cli_fail("cannot start the server (see the log line above)");
    }
    /* After the API, so its "listening on" line is the first on stderr. */
    struct http_challenge_server *responder = NULL;
    if (app.config.http_challenge_listen &&
        http_challenge_start(app.store, app.config.http_challenge_listen, &responder) < 0) {
        http_server_stop(server);
        cli_app_close(&app);
        return cli_fail("cannot start the challenge responder (see the log line above)");
    }
    if (app.config.run_worker)
        app.worker = worker_start(&app, app.config.worker_interval_us);
    log_msg(LOG_INFO, "received %s: finishing in-flight requests",
            cli_wait_stop_signal(&stop_signals));
    http_server_stop(server);
    worker_stop(app.worker); /* after the API: no request can wake it any more */
    http_challenge_stop(responder); /* after the worker, whose checks may fetch from it */
    cli_app_close(&app);
    log_msg(LOG_INFO, "stopped");
    return CLI_OK;
}
