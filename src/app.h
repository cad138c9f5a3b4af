/* The one server context: configuration and long-lived handles, created by `serve` and
 * passed explicitly to every layer (no other mutable globals). */
#ifndef TLSWARD_APP_H
#define TLSWARD_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "dcv/dcv.h"
#include "dns/publish.h"
#include "pki/pki.h"
#include "pki/seal.h"
#include "store/store.h"

struct store;
struct worker;
struct client_ca_cache;
struct local_ca;
struct key_pool;
struct pki_trust_cache;
struct ratelimit;
struct metrics;
struct pack_cache;

enum dcv_mode { DCV_MODE_AUTO, DCV_MODE_CHECK };

#define APP_MAX_NAME_SERVERS 8

/* ACME upstreams (--acme-* flags), one slot per certificate authority in the order of
 * core/pack_rules' PACK_CA_MAP (google, lets_encrypt, ssl_com). A CA without a directory is
 * served by the built-in CA. The EAB MAC key is a secret: kept here, never logged. */
#define APP_ACME_CAS 3
#define APP_ACME_URL_SIZE 1024
#define APP_ACME_EAB_KID_SIZE 256
#define APP_ACME_EAB_HMAC_SIZE 256 /* base64url text */
#define APP_ACME_CN_SIZE 65
struct app_acme_ca {
    const char *directory; /* NULL: not sent to ACME */
    char eab_kid[APP_ACME_EAB_KID_SIZE];   /* "": no external account binding */
    char eab_hmac[APP_ACME_EAB_HMAC_SIZE]; /* base64url MAC key */
    char preferred_chain[APP_ACME_CN_SIZE]; /* topmost issuer CN wanted; "": default chain */
};
struct app_acme {
    struct app_acme_ca ca[APP_ACME_CAS];
    const char *contact; /* mailto:...; NULL: none */
    const char *ca_file; /* PEM bundle trusted for the upstreams' HTTPS; NULL: system */
};

struct app_config {
    const char *data_dir;
    const char *listen;      /* host:port, [v6]:port; port 0 picks a free one */
    enum dcv_mode dcv_mode;
    int64_t worker_interval_us;
    const char *tls_cert_file, *tls_key_file;
    long rate_limit_count;   /* requests per window per credential; 0 = unlimited */
    int64_t rate_limit_window_us;
    const char *name_servers[APP_MAX_NAME_SERVERS];
    int name_server_count;
    bool run_worker;                  /* serve: run the lifecycle worker in-process */
    enum pki_key_kind client_ca_key;  /* key of new managed client CAs */
    struct dcv_resolver dcv;          /* --dns-resolver, --dcv-http-port */
    int64_t validation_timeout_us;    /* pending_validation → validation_timed_out */
    int64_t issuance_timeout_us;      /* pending_issuance → issuance_timed_out */
    const char *deploy_hook;          /* run after each deployment; NULL = none */
    long auth_fail_limit_count;       /* failed authentications per client address; 0 = off */
    int64_t auth_fail_limit_window_us;
    int64_t lease_us;                 /* --lease: a running job's lease, renewed by a heartbeat */
    int worker_threads;               /* --worker-threads: the general lane's pool */
    int rsa_key_pool;                 /* --rsa-key-pool: RSA keys generated ahead */
    /* --public-url: where clients reach /pki/... (no trailing slash); NULL = not set, and
     * certificates carry no CRL distribution point or caIssuers URL. */
    const char *public_url;
    /* --http-challenge-listen: where tlsward's HTTP-01 responder listens; NULL = none. */
    const char *http_challenge_listen;
    /* --webroot: pending http records are also written as files under it; NULL = not. */
    const char *webroot;
    /* --dns-update/--dns-tsig/--dns-hook: where tlsward publishes DCV TXT records itself. */
    struct dns_publish dns;
    /* --dcv-domain: the zone delegated DCV CNAMEs point into; NULL = dcv.tlsward.local. */
    const char *dcv_domain;
    /* --acme-*: the ACME upstreams (see struct app_acme). */
    struct app_acme acme;
    /* --node-name: this worker node's name in the store (NULL: the host name). */
    const char *node_name;
    /* --node-liveness: a node counts as live this long after its last heartbeat (0: the
     * default, worker/node.h). */
    int64_t node_liveness_us;
};

struct app {
    struct app_config config;
    struct store *store;
    struct ratelimit *ratelimit;
    struct metrics *metrics;
    struct worker *worker;            /* NULL without an in-process worker */
    struct client_ca_cache *client_cas;
    struct local_ca *local_ca;        /* the built-in CA, unsealed (issuing key only) */
    struct key_pool *rsa_keys;        /* pre-generated RSA keys for pack issuance */
    struct pki_trust_cache *trust;    /* analyze: system roots + DATA/trust/ */
    unsigned char master_key[SEAL_KEY_LEN];
    struct ratelimit *auth_failures;  /* failed authentications per client address */
    /* This process's node id (DATA/node.id) while its worker runs; "" otherwise (serve
     * --no-worker, CLI commands, unit tests): deployments are then not recorded per node. */
    char node_id[STORE_ID_SIZE];
    /* Rendered certificate packs by id and version (api/pack_cache.h); NULL: none. */
    struct pack_cache *pack_cache;
};

#endif
