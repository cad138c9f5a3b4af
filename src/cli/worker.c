/* tlsward worker: the lifecycle worker alone, for deployments that run the API and the
 * worker as separate processes on one store. SIGTERM/SIGINT stop it at a safe point. */
#include "cli/cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/log.h"
#include "http/challenge.h"
#include "worker/worker.h"

static const char worker_help[] =
    "Usage: tlsward worker --data DIR [OPTIONS]\n\n"
    "Runs the lifecycle worker without the API (several may share one store).\n\n"
    "  --data DIR              data directory made by 'tlsward init' (or TLSWARD_DATA)\n"
    CLI_WORKER_HELP
    "  --log-format text|json  log line format on stderr (default text)\n"
    "  --help                  this text\n";

static int parse_args(int argc, char **argv, struct app_config *cfg)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         CLI_WORKER_OPTIONS,
                                         {"log-format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    cli_worker_defaults(cfg);
    cli_getopt_reset();
    for (int c; (c = cli_getopt(argc, argv, "", opts)) != -1;) {
        int rc = CLI_OK;
        if (c == 'd')
            cfg->data_dir = optarg;
        else if (c == 'f')
            rc = cli_log_format(optarg);
        else if (c == 'h')
            return fputs(worker_help, stdout), CLI_HELP;
        else if ((c < 256 && strchr("wCMRPVIH", c)) || c == CLI_OPT_DCV_ALLOW_PRIVATE ||
                 c == CLI_OPT_CAA_IDENTITY || c == CLI_OPT_LEASE || c == CLI_OPT_WORKER_THREADS ||
                 c == CLI_OPT_RSA_KEY_POOL ||
                 c == CLI_OPT_PUBLIC_URL || c == CLI_OPT_HTTP_CHALLENGE_LISTEN ||
                 c == CLI_OPT_WEBROOT || CLI_OPT_IS_DNS(c) || CLI_IS_ACME_OPTION(c) ||
                 CLI_OPT_IS_NODE(c))
            rc = cli_worker_option(c, cfg);
        else
            return CLI_USAGE;
        if (rc != CLI_OK)
            return rc;
    }
    return cli_finish_args("worker", argc, argv, &cfg->data_dir);
}

int cli_worker(int argc, char **argv)
{
    struct app app = {0};
    int rc = parse_args(argc, argv, &app.config);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    sigset_t stop_signals;
    cli_block_stop_signals(&stop_signals);
    /* A connection for each worker thread (lanes, heartbeat) and a few to spare. */
    /* (and a few more for the challenge responder's requests) */
    int connections = app.config.worker_threads + 4 + (app.config.http_challenge_listen ? 4 : 0);
    if ((rc = cli_app_open(&app, connections)) != CLI_OK) {
        cli_app_close(&app);
        return rc;
    }
    struct http_challenge_server *responder = NULL;
    if (app.config.http_challenge_listen &&
        http_challenge_start(app.store, app.config.http_challenge_listen, &responder) < 0) {
        cli_app_close(&app);
        return cli_fail("cannot start the challenge responder (see the log line above)");
    }
    app.worker = worker_start(&app, app.config.worker_interval_us);
    if (!app.worker) {
        http_challenge_stop(responder);
        cli_app_close(&app);
        return cli_fail("cannot start the worker");
    }
    log_msg(LOG_INFO, "received %s: stopping the worker", cli_wait_stop_signal(&stop_signals));
    worker_stop(app.worker);
    http_challenge_stop(responder);
    cli_app_close(&app);
    return CLI_OK;
}
