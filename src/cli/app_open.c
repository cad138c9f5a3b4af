/* Opening and closing the server context, shared by `serve` and `worker`. */
#include "cli/cli.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "api/api.h"
#include "api/pack_cache.h"
#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "core/hostname.h"
#include "http/metrics.h"
#include "http/ratelimit.h"
#include "common/log.h"
#include "pki/chain.h"
#include "pki/client_ca.h"
#include "pki/key_pool.h"
#include "pki/local_ca.h"
#include "pki/seal.h"
#include "worker/worker.h"

/* RSA keys kept ready for pack issuance: generating one takes 0.1-0.3 s, several times an
 * order's whole path, so a burst of orders larger than the pool waits on key generation.
 * Thirty-two cover a burst of twenty back-to-back orders with room to spare (sixteen did
 * not: the last orders of such a burst waited for keys); a full pool is ~100 KB. */
#define RSA_POOL_DEFAULT 32

void cli_worker_defaults(struct app_config *cfg)
{
    cfg->run_worker = true;
    cfg->worker_interval_us = 1000000;
    cfg->client_ca_key = PKI_KEY_RSA_2048;
    /* Never issue without validation unless asked for on the command line. */
    cfg->dcv_mode = DCV_MODE_CHECK;
    dcv_resolver_init(&cfg->dcv);
    cfg->validation_timeout_us = 24 * 3600 * 1000000LL;
    cfg->issuance_timeout_us = 3600 * 1000000LL;
    cfg->lease_us = WORKER_LEASE_DEFAULT_US;
    cfg->worker_threads = WORKER_THREADS_DEFAULT;
    cfg->rsa_key_pool = RSA_POOL_DEFAULT;
    dns_publish_init(&cfg->dns);
}

/* A duration flag of at least 1 ms. */
static int duration_option(const char *flag, int64_t *out)
{
    if (util_parse_duration(optarg, out) < 0 || *out < 1000)
        return cli_fail("%s %s: expected a duration of 1ms or more (e.g. 30s, 24h)", flag, optarg);
    return CLI_OK;
}

/* The lifecycle options of serve and worker (see cli_worker_option). */
static int lifecycle_option(int c, struct app_config *cfg)
{
    long long port;
    const char *why = NULL;
    switch (c) {
    case 'M':
        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "check") != 0)
            return cli_fail("--dcv-mode %s: expected auto or check", optarg);
        cfg->dcv_mode = strcmp(optarg, "auto") == 0 ? DCV_MODE_AUTO : DCV_MODE_CHECK;
        return CLI_OK;
    case 'R':
        if (dcv_resolver_set_dns(&cfg->dcv, optarg, &why) < 0)
            return cli_fail("--dns-resolver %s: %s", optarg, why ? why : "expected IP:PORT");
        return CLI_OK;
    case 'P':
        if (util_parse_int(optarg, 1, 65535, &port) < 0)
            return cli_fail("--dcv-http-port %s: expected a port from 1 to 65535", optarg);
        cfg->dcv.http_port = (int)port;
        return CLI_OK;
    case 'V': return duration_option("--validation-timeout", &cfg->validation_timeout_us);
    case 'I': return duration_option("--issuance-timeout", &cfg->issuance_timeout_us);
    case 'H': cfg->deploy_hook = *optarg ? optarg : NULL; return CLI_OK;
    }
    return CLI_USAGE;
}

/* --dcv-allow-private and --caa-identity (a domain name as CAA records write it: no
 * trailing dot; compared case-insensitively, so kept as given). */
static int dcv_option(int c, struct app_config *cfg)
{
    char identity[HOSTNAME_SIZE];
    const char *why = NULL;
    switch (c) {
    case CLI_OPT_DCV_ALLOW_PRIVATE: cfg->dcv.allow_private = true; return CLI_OK;
    case CLI_OPT_CAA_IDENTITY:
        if (hostname_normalize(optarg, HOSTNAME_REQUIRE_DOT, identity, &why) < 0)
            return cli_fail("--caa-identity %s: %s", optarg, why ? why : "not a domain name");
        if (strcasecmp(identity, optarg) != 0)
            return cli_fail("--caa-identity %s: write the domain name without a trailing dot",
                            optarg);
        cfg->dcv.caa_identity = optarg;
        return CLI_OK;
    }
    return CLI_USAGE;
}

/* --http-challenge-listen (bound when the responder starts) and --webroot (an existing
 * directory, so a typo fails now rather than at the first pack). */
static int http01_option(int c, struct app_config *cfg)
{
    if (c == CLI_OPT_HTTP_CHALLENGE_LISTEN) {
        const char *colon = strrchr(optarg, ':');
        if (!colon || colon == optarg || !colon[1])
            return cli_fail("--http-challenge-listen %s: expected ADDR:PORT", optarg);
        cfg->http_challenge_listen = optarg;
        return CLI_OK;
    }
    struct stat st;
    if (!*optarg || stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_fail("--webroot %s: not an existing directory", optarg);
    cfg->webroot = optarg;
    return CLI_OK;
}

/* --dns-update, --dns-tsig, --dns-hook, --dcv-domain. A bad --dns-tsig never echoes the
 * secret. */
static int dns_option(int c, struct app_config *cfg)
{
    const char *why = NULL;
    char domain[HOSTNAME_SIZE];
    switch (c) {
    case CLI_OPT_DNS_UPDATE:
        if (dns_publish_set_server(&cfg->dns, optarg, &why) < 0)
            return cli_fail("--dns-update %s: %s", optarg, why);
        return CLI_OK;
    case CLI_OPT_DNS_TSIG:
        if (dns_publish_set_tsig(&cfg->dns, optarg, &why) < 0)
            return cli_fail("--dns-tsig: %s", why);
        return CLI_OK;
    case CLI_OPT_DNS_HOOK: cfg->dns.hook = *optarg ? optarg : NULL; return CLI_OK;
    case CLI_OPT_DCV_DOMAIN:
        /* The CNAME targets are <host>.<zone id>.<D>: D leaves room for a host. */
        if (hostname_normalize(optarg, HOSTNAME_REQUIRE_DOT, domain, &why) < 0 ||
            strcmp(domain, optarg) != 0 || strlen(optarg) > 120)
            return cli_fail("--dcv-domain %s: expected a lower-case domain name of at most 120 "
                            "bytes, without a trailing dot",
                            optarg);
        cfg->dcv_domain = optarg;
        return CLI_OK;
    }
    return CLI_USAGE;
}

/* --database, --node-name (printable, bounded) and --node-liveness. */
static int node_option(int c, struct app_config *cfg)
{
    if (c == CLI_OPT_DATABASE)
        return cli_set_database(optarg);
    if (c == CLI_OPT_NODE_NAME) {
        size_t n = strlen(optarg);
        bool ok = n > 0 && n < STORE_NAME_SIZE;
        for (const char *p = optarg; ok && *p; p++)
            ok = *p > ' ' && *p < 0x7f;
        if (!ok)
            return cli_fail("--node-name: expected 1 to %d printable ASCII characters, no spaces",
                            STORE_NAME_SIZE - 1);
        cfg->node_name = optarg;
        return CLI_OK;
    }
    if (util_parse_duration(optarg, &cfg->node_liveness_us) < 0 ||
        cfg->node_liveness_us < 1000000LL || cfg->node_liveness_us > 3600 * 1000000LL)
        return cli_fail("--node-liveness %s: expected a duration from 1s to 1h", optarg);
    return CLI_OK;
}

int cli_worker_option(int c, struct app_config *cfg)
{
    if (CLI_OPT_IS_DNS(c))
        return dns_option(c, cfg);
    if (CLI_OPT_IS_NODE(c))
        return node_option(c, cfg);
    switch (c) {
    case 'w': return duration_option("--worker-interval", &cfg->worker_interval_us);
    case 'W': cfg->run_worker = false; return CLI_OK;
    case 'M':
    case 'R':
    case 'P':
    case 'V':
    case 'I':
    case 'H': return lifecycle_option(c, cfg);
    case CLI_OPT_DCV_ALLOW_PRIVATE:
    case CLI_OPT_CAA_IDENTITY: return dcv_option(c, cfg);
    case CLI_OPT_LEASE:
        if (util_parse_duration(optarg, &cfg->lease_us) < 0 ||
            cfg->lease_us < WORKER_LEASE_MIN_US || cfg->lease_us > WORKER_LEASE_MAX_US)
            return cli_fail("--lease %s: expected a duration from 1s to 1h (e.g. 15s)", optarg);
        return CLI_OK;
    case CLI_OPT_WORKER_THREADS: {
        long long n;
        if (util_parse_int(optarg, 1, WORKER_THREADS_MAX, &n) < 0)
            return cli_fail("--worker-threads %s: expected a number from 1 to %d", optarg,
                            WORKER_THREADS_MAX);
        cfg->worker_threads = (int)n;
        return CLI_OK;
    }
    case CLI_OPT_RSA_KEY_POOL: {
        long long n;
        if (util_parse_int(optarg, 1, KEY_POOL_MAX, &n) < 0)
            return cli_fail("--rsa-key-pool %s: expected a number from 1 to %d", optarg,
                            KEY_POOL_MAX);
        cfg->rsa_key_pool = (int)n;
        return CLI_OK;
    }
    case CLI_OPT_PUBLIC_URL: {
        const char *why = NULL;
        if (util_public_url(optarg, &why) < 0)
            return cli_fail("--public-url %s: %s", optarg, why);
        cfg->public_url = optarg;
        return CLI_OK;
    }
    case CLI_OPT_HTTP_CHALLENGE_LISTEN:
    case CLI_OPT_WEBROOT: return http01_option(c, cfg);
    case CLI_OPT_ACME_DIRECTORY:
    case CLI_OPT_ACME_EAB:
    case CLI_OPT_ACME_CONTACT:
    case CLI_OPT_ACME_CA_FILE:
    case CLI_OPT_ACME_PREFERRED_CHAIN: return cli_acme_option(c, cfg);
    case 'C':
        if (strcmp(optarg, "rsa") == 0)
            cfg->client_ca_key = PKI_KEY_RSA_2048;
        else if (strcmp(optarg, "ec") == 0)
            cfg->client_ca_key = PKI_KEY_EC_P256;
        else
            return cli_fail("--client-ca-key %s: expected rsa or ec", optarg);
        return CLI_OK;
    }
    return CLI_USAGE;
}

/* Loads the built-in CA, creating it for data dirs initialised before it existed. */
static int open_local_ca(struct app *app)
{
    struct store_local_ca persisted;
    int rc = store_local_ca_get(app->store, &persisted);
    if (rc == STORE_NOT_FOUND) {
        if (local_ca_create(app->master_key, util_now_us(), &persisted) < 0)
            return cli_fail("cannot create the built-in CA");
        rc = store_local_ca_create(app->store, &persisted);
        store_local_ca_clear(&persisted);
        if (rc == STORE_OK)
            log_msg(LOG_INFO, "created the built-in CA");
        if (rc == STORE_OK || rc == STORE_CONFLICT) /* CONFLICT: another process won */
            rc = store_local_ca_get(app->store, &persisted);
    }
    if (rc != STORE_OK)
        return cli_fail("cannot read the built-in CA from the store");
    rc = local_ca_load(app->master_key, &persisted, &app->local_ca);
    store_local_ca_clear(&persisted);
    if (rc == 0)
        local_ca_set_public_url(app->local_ca, app->config.public_url);
    return rc < 0 ? cli_fail("cannot unseal the built-in CA (wrong master key?)") : CLI_OK;
}

int cli_app_open(struct app *app, int pool_size)
{
    const char *dns_why = NULL;
    if (dns_publish_check(&app->config.dns, &dns_why) < 0)
        return cli_fail("%s", dns_why);
    if (cli_acme_check(&app->config) != CLI_OK)
        return CLI_USER_ERROR;
    /* With --database the data dir holds only this node's own files (master key, deploy
     * tree, node id): a new node may start from an empty one. */
    if (cli_database() && (fsutil_mkdirs(app->config.data_dir, 0700) < 0))
        return cli_fail("cannot create %s: %s", app->config.data_dir, strerror(errno));
    char *key_path = cli_master_key_path(app->config.data_dir);
    int rc = seal_key_load(key_path, app->master_key) < 0
                 ? cli_fail("cannot load the master key %s (missing, wrong size or not 0600)%s",
                            key_path,
                            cli_database() ? "; every node of a store needs the same one: copy it "
                                             "there or set TLSWARD_MASTER_KEY_FILE"
                                           : "")
                 : CLI_OK;
    xfree(key_path);
    if (rc != CLI_OK)
        return rc;
    rc = cli_open_store(app->config.data_dir, pool_size, &app->store);
    if (rc != CLI_OK)
        return rc;
    app->ratelimit = ratelimit_create(app->config.rate_limit_count, app->config.rate_limit_window_us);
    app->auth_failures = ratelimit_create(app->config.auth_fail_limit_count,
                                          app->config.auth_fail_limit_window_us);
    app->metrics = metrics_create(api_routes, api_route_count);
    app->client_cas = client_ca_cache_create();
    app->rsa_keys = key_pool_create(PKI_KEY_RSA_2048, app->config.rsa_key_pool);
    char *trust_dir = xasprintf("%s/trust", app->config.data_dir);
    app->trust = pki_trust_cache_create(trust_dir);
    xfree(trust_dir);
    app->pack_cache = pack_cache_create(PACK_CACHE_ENTRIES, PACK_CACHE_BYTES);
    return open_local_ca(app);
}

void cli_app_close(struct app *app)
{
    pack_cache_destroy(app->pack_cache);
    app->pack_cache = NULL;
    pki_trust_cache_destroy(app->trust);
    local_ca_destroy(app->local_ca);
    key_pool_destroy(app->rsa_keys);
    client_ca_cache_destroy(app->client_cas);
    metrics_destroy(app->metrics);
    ratelimit_destroy(app->ratelimit);
    ratelimit_destroy(app->auth_failures);
    app->auth_failures = NULL;
    if (app->store)
        store_close(app->store);
    OPENSSL_cleanse(app->master_key, sizeof app->master_key);
    app->client_cas = NULL;
    app->local_ca = NULL;
    app->trust = NULL;
    app->rsa_keys = NULL;
    app->metrics = NULL;
    app->ratelimit = NULL;
    app->store = NULL;
}
