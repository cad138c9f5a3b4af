/* The route table: every endpoint tlsward serves, with the credential and permission
 * it needs (SPEC §3: reads need :read, mutations :write, per resource family). */
#include "api/api.h"

#include <string.h>

#include "core/permission.h"

const struct route api_routes[] = {
    {"GET", "/healthz", ops_healthz, ROUTE_AUTH_NONE, PERM_NONE},
    {"GET", "/metrics", ops_metrics, ROUTE_AUTH_NONE, PERM_NONE},
    {"GET", "/client/v4/user/tokens/verify", user_token_verify, ROUTE_AUTH_VERIFY, PERM_NONE},
    {"GET", "/client/v4/zones", zones_list, ROUTE_AUTH_REQUIRED, PERM_ZONE_READ},
    {"POST", "/client/v4/zones", zones_create, ROUTE_AUTH_REQUIRED, PERM_ZONE_WRITE},
    {"GET", "/client/v4/zones/:zone_id", zones_get, ROUTE_AUTH_REQUIRED, PERM_ZONE_READ},
    {"DELETE", "/client/v4/zones/:zone_id", zones_delete, ROUTE_AUTH_REQUIRED, PERM_ZONE_WRITE},

    {"POST", "/client/v4/zones/:zone_id/client_certificates", client_certificates_create,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"GET", "/client/v4/zones/:zone_id/client_certificates", client_certificates_list,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"GET", "/client/v4/zones/:zone_id/client_certificates/:id", client_certificates_get,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"PATCH", "/client/v4/zones/:zone_id/client_certificates/:id", client_certificates_reactivate,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"DELETE", "/client/v4/zones/:zone_id/client_certificates/:id", client_certificates_delete,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},

    {"GET", "/client/v4/zones/:zone_id/ssl/certificate_packs", certificate_packs_list,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"GET", "/client/v4/zones/:zone_id/ssl/certificate_packs/quota", certificate_packs_quota,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"GET", "/client/v4/zones/:zone_id/ssl/certificate_packs/:id", certificate_packs_get,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"POST", "/client/v4/zones/:zone_id/ssl/certificate_packs/order", certificate_packs_order,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"PATCH", "/client/v4/zones/:zone_id/ssl/certificate_packs/:id", certificate_packs_patch,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"DELETE", "/client/v4/zones/:zone_id/ssl/certificate_packs/:id", certificate_packs_delete,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},

    {"GET", "/client/v4/zones/:zone_id/ssl/universal/settings", universal_settings_get,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"PATCH", "/client/v4/zones/:zone_id/ssl/universal/settings", universal_settings_patch,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},

    {"GET", "/client/v4/zones/:zone_id/ssl/verification", verification_get, ROUTE_AUTH_REQUIRED,
     PERM_SSL_READ},
    {"PATCH", "/client/v4/zones/:zone_id/ssl/verification/:id", verification_patch,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},

    {"GET", "/client/v4/zones/:zone_id/settings/ssl_automatic_mode", zone_settings_ssl_mode_get,
     ROUTE_AUTH_REQUIRED, PERM_ZONE_READ},
    {"PATCH", "/client/v4/zones/:zone_id/settings/ssl_automatic_mode", zone_settings_ssl_mode_patch,
     ROUTE_AUTH_REQUIRED, PERM_ZONE_WRITE},
    {"GET", "/client/v4/zones/:zone_id/ssl/recommendation", zone_settings_ssl_recommendation_get,
     ROUTE_AUTH_REQUIRED, PERM_ZONE_READ},

    {"POST", "/client/v4/zones/:zone_id/ssl/analyze", ssl_analyze, ROUTE_AUTH_REQUIRED,
     PERM_SSL_READ},

    {"POST", "/client/v4/zones/:zone_id/origin_tls_client_auth", aop_zone_certs_create,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth", aop_zone_certs_list,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth/settings", aop_settings_get,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"PUT", "/client/v4/zones/:zone_id/origin_tls_client_auth/settings", aop_settings_put,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth/:id", aop_zone_certs_get,
     ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"DELETE", "/client/v4/zones/:zone_id/origin_tls_client_auth/:id", aop_zone_certs_delete,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"POST", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames/certificates",
     aop_hostname_certs_create, ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames/certificates",
     aop_hostname_certs_list, ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames/certificates/:id",
     aop_hostname_certs_get, ROUTE_AUTH_REQUIRED, PERM_SSL_READ},
    {"DELETE", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames/certificates/:id",
     aop_hostname_certs_delete, ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"PUT", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames", aop_hostnames_put,
     ROUTE_AUTH_REQUIRED, PERM_SSL_WRITE},
    {"GET", "/client/v4/zones/:zone_id/origin_tls_client_auth/hostnames/:hostname",
     aop_hostnames_get, ROUTE_AUTH_REQUIRED, PERM_SSL_READ},

    /* Publication for TLS terminators (no credentials, as a CRL distribution point). */
    {"GET", "/pki/accounts/:account_id/client-ca.pem", pki_client_ca_pem, ROUTE_AUTH_NONE,
     PERM_NONE},
    {"GET", "/pki/accounts/:account_id/ca.pem", pki_local_ca_pem, ROUTE_AUTH_NONE, PERM_NONE},
    {"GET", "/pki/accounts/:account_id/client-ca.crl", pki_client_ca_crl, ROUTE_AUTH_NONE,
     PERM_NONE},
    {"GET", "/pki/intermediate.crt", pki_local_ca_intermediate, ROUTE_AUTH_NONE, PERM_NONE},
};

const size_t api_route_count = sizeof api_routes / sizeof api_routes[0];

/* The reads that may block their thread: /metrics counts the rows of whole tables (every
 * pack by status), which takes milliseconds at 100,000 packs. Every other read looks a few
 * rows up; every write may block (a group commit, a signature). */
static const route_handler_fn blocking_reads[] = {ops_metrics};

bool api_route_may_block(const struct route *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return true;
    for (size_t i = 0; i < sizeof blocking_reads / sizeof blocking_reads[0]; i++)
        if (r->handler == blocking_reads[i])
            return true;
    return false;
}
