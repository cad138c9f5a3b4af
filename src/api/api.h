/* The API layer: one file per resource maps routes to domain calls. This header holds
 * the route table and the helpers every resource handler shares. */
#ifndef TLSWARD_API_API_H
#define TLSWARD_API_API_H

#include <jansson.h>
#include <stddef.h>

#include "http/request.h"
#include "http/router.h"
#include "store/store.h"

extern const struct route api_routes[];
extern const size_t api_route_count;
/* Whether a route's handler may block the thread it runs on (writes, and /metrics, which
 * scans tables); the HTTP server runs those off its event threads. */
bool api_route_may_block(const struct route *r);

/* Loads the zone named by the route's first parameter if the caller can see it. A zone
 * that is malformed, unknown or invisible fails identically (400, 7003 + 7000): callers
 * cannot probe for other accounts' zones. Returns 0 or -1 (error recorded). */
int api_visible_zone(struct request *req, struct store_zone *zone);

/* Records a store failure as a 500 (the cause is logged with the request id; the client
 * gets no detail). */
void api_store_failed(struct request *req, int rc, const char *what);

/* A time (µs) as RFC 3339, or JSON null when 0. */
json_t *api_time(int64_t us);

/* The pack object of seed 000 (with its certificates); NULL after recording a failure. */
json_t *api_pack_json(struct request *req, const struct store_pack *p);
/* The same object as compact JSON text (xfree), from app->pack_cache when it holds this
 * rendering, else rendered and kept there; NULL with the request failed. */
char *api_pack_text(struct request *req, const struct store_pack *p, size_t *len);
/* Loads the pack named by the route's second parameter in a visible zone (404/1472). */
int api_visible_pack(struct request *req, struct store_zone *zone, struct store_pack *pack);

/* The route's pack exists in a visible zone (7003 or 1472 recorded otherwise): checked
 * before a handler reads its body, so an unknown pack is a 404 whatever the body. 0/-1. */
int api_pack_exists(struct request *req);

/* Applies an API-side change to the visible pack named by the route and saves it. The
 * change checks the status (recording 1406/1004 itself) and edits *p; a concurrent save by
 * the worker makes the whole read-change-save run again on a fresh read. On success *p is
 * the saved pack (store_pack_clear) and the worker is woken. 0 or -1 (recorded). */
typedef int (*api_pack_change_fn)(struct request *req, const struct store_zone *zone,
                                  struct store_pack *p, void *ctx);
int api_pack_change(struct request *req, struct store_zone *zone, struct store_pack *p,
                    api_pack_change_fn change, void *ctx);
/* 0 when a pack of CA may use method; -1 with a 400/1004 recorded when the CA goes to an
 * ACME upstream (--acme-directory) and the method is one ACME has not (e-mail). */
int api_acme_method_refused(struct request *req, enum pack_ca ca, enum pack_method method);
/* Fresh validation records for `method`, back to pending_validation (the timeout
 * restarts); for a change function. 0 or -1 (recorded). */
enum pack_method;
int api_pack_new_records(struct request *req, const struct store_zone *zone, struct store_pack *p,
                         enum pack_method method);

/* A new universal pack for the zone ([apex, *.apex], txt), not yet stored. */
void api_universal_pack(const struct store_zone *zone, int64_t now, struct store_pack *p);

/* Handlers, one group per resource file. */
void ops_healthz(struct request *req);
void ops_metrics(struct request *req);
void user_token_verify(struct request *req);
void zones_list(struct request *req);
void zones_create(struct request *req);
void zones_get(struct request *req);
void zones_delete(struct request *req);
void client_certificates_create(struct request *req);
void client_certificates_list(struct request *req);
void client_certificates_get(struct request *req);
void client_certificates_delete(struct request *req);
void client_certificates_reactivate(struct request *req);
void pki_client_ca_pem(struct request *req);
void pki_local_ca_pem(struct request *req);
void pki_local_ca_intermediate(struct request *req);
void certificate_packs_list(struct request *req);
void certificate_packs_get(struct request *req);
void certificate_packs_quota(struct request *req);
void certificate_packs_order(struct request *req);
void certificate_packs_patch(struct request *req);
void certificate_packs_delete(struct request *req);
void universal_settings_get(struct request *req);
void verification_get(struct request *req);
void verification_patch(struct request *req);
void universal_settings_patch(struct request *req);
void pki_client_ca_crl(struct request *req);
void ssl_analyze(struct request *req);
void zone_settings_ssl_mode_get(struct request *req);
void zone_settings_ssl_mode_patch(struct request *req);
void zone_settings_ssl_recommendation_get(struct request *req);
void aop_zone_certs_create(struct request *req);
void aop_zone_certs_list(struct request *req);
void aop_zone_certs_get(struct request *req);
void aop_zone_certs_delete(struct request *req);
void aop_settings_get(struct request *req);
void aop_settings_put(struct request *req);
void aop_hostname_certs_create(struct request *req);
void aop_hostname_certs_list(struct request *req);
void aop_hostname_certs_get(struct request *req);
void aop_hostname_certs_delete(struct request *req);
void aop_hostnames_put(struct request *req);
void aop_hostnames_get(struct request *req);

#endif
