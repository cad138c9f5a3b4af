/* Operations endpoints, unauthenticated as Prometheus and load balancers expect:
 * /healthz (200, or 503 when the store is unusable) and /metrics (counts only: never an
 * id, a token or a secret). */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "core/pack_state.h"
#include "http/metrics.h"

void ops_healthz(struct request *req)
{
    bool ok = store_ping(req->app->store) == STORE_OK;
    char *body = xstrdup(ok ? "{\"status\":\"ok\"}" : "{\"status\":\"unavailable\"}");
    request_raw(req, ok ? 200 : 503, "application/json", body, strlen(body));
}

/* Certificate packs by status and the soonest expiry of a served certificate. */
static char *pack_gauges(struct app *app)
{
    long long counts[PACK_STATUS_COUNT] = {0};
    int64_t soonest = 0;
    if (store_pack_count_by_status(app->store, pack_status_names, PACK_STATUS_COUNT, counts) !=
            STORE_OK ||
        store_pack_soonest_expiry(app->store, &soonest) != STORE_OK)
        return xstrdup("");
    char *text = xstrdup("# HELP tlsward_certificate_packs Certificate packs by status.\n"
                         "# TYPE tlsward_certificate_packs gauge\n");
    for (int i = 0; i < PACK_STATUS_COUNT; i++) {
        if (!counts[i])
            continue;
        char *more = xasprintf("%stlsward_certificate_packs{status=\"%s\"} %lld\n", text,
                               pack_status_names[i], counts[i]);
        xfree(text);
        text = more;
    }
    char *all = xasprintf("%s# HELP tlsward_certificate_soonest_expiry_seconds Unix time of the "
                          "earliest expiry of a served pack certificate (0: none).\n"
                          "# TYPE tlsward_certificate_soonest_expiry_seconds gauge\n"
                          "tlsward_certificate_soonest_expiry_seconds %lld\n",
                          text, (long long)(soonest / 1000000));
    xfree(text);
    return all;
}

/* Gauges read from the store at scrape time: certificates by status, the job queue. */
static char *store_gauges(struct app *app)
{
    long long counts[STORE_CERT_STATUS_COUNT] = {0};
    int depth = 0;
    int64_t lag = 0;
    if (store_client_cert_count_by_status(app->store, store_cert_status_names,
                                          STORE_CERT_STATUS_COUNT, counts) != STORE_OK ||
        store_job_stats(app->store, util_now_us(), &depth, &lag) != STORE_OK)
        return xstrdup("");
    char *text = xstrdup("# HELP tlsward_client_certificates Client certificates by status.\n"
                         "# TYPE tlsward_client_certificates gauge\n");
    for (int i = 0; i < STORE_CERT_STATUS_COUNT; i++) {
        char *more = xasprintf("%stlsward_client_certificates{status=\"%s\"} %lld\n", text,
                               store_cert_status_names[i], counts[i]);
        xfree(text);
        text = more;
    }
    char *packs = pack_gauges(app);
    char *more = xasprintf("%s%s", text, packs);
    xfree(text);
    xfree(packs);
    text = more;
    char *all = xasprintf("%s# HELP tlsward_worker_queue_depth Jobs in the worker's queue.\n"
                          "# TYPE tlsward_worker_queue_depth gauge\n"
                          "tlsward_worker_queue_depth %d\n"
                          "# HELP tlsward_worker_queue_lag_seconds How long the oldest due job "
                          "has waited.\n"
                          "# TYPE tlsward_worker_queue_lag_seconds gauge\n"
                          "tlsward_worker_queue_lag_seconds %.3f\n",
                          text, depth, (double)lag / 1e6);
    xfree(text);
    return all;
}

void ops_metrics(struct request *req)
{
    char *requests, *gauges = store_gauges(req->app);
    size_t len;
    metrics_render(req->app->metrics, &requests, &len);
    char *text = xasprintf("%s%s", requests, gauges);
    xfree(requests);
    xfree(gauges);
    request_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}
