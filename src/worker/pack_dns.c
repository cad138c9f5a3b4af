/* Publication of a pack's DCV TXT records in DNS, and their removal (pack_dns.h). */
#include "worker/pack_dns.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h"
#include "core/dcv_records.h"
#include "core/pack_rules.h"
#include "store/store.h"
#include "worker/worker.h"

bool pack_dns_wanted(enum pack_status status, int renewal_failures)
{
    if (status == PACK_PENDING_VALIDATION)
        return true;
    return (status == PACK_ACTIVE || status == PACK_PENDING_EXPIRATION) && renewal_failures > 0;
}

/* The records a pack needs in DNS now, as store rows (caller xfree's; *n the count). */
static struct store_dns_record *wanted_records(const struct app *app, const struct store_zone *zone,
                                               const struct store_pack *p, int *n)
{
    enum pack_method method = p->validation_method;
    *n = 0;
    if (method != PACK_METHOD_TXT && method != PACK_METHOD_CNAME)
        return NULL;
    size_t count = (size_t)p->validation_record_count;
    struct store_dns_record *out = xcalloc(count + 1, sizeof *out);
    for (size_t i = 0; i < count; i++) {
        const struct store_validation_record *rec = &p->validation_records[i];
        const char *name = rec->txt_name, *value = rec->txt_value;
        const char *zone_name = zone->name;
        if (!name[0] || !value[0])
            continue;
        if (method == PACK_METHOD_CNAME) { /* at the target the user's CNAME points to */
            const char *target = NULL;
            for (int j = 0; j < p->dcv_delegation_record_count; j++)
                if (strcmp(p->dcv_delegation_records[j].cname, name) == 0)
                    target = p->dcv_delegation_records[j].cname_target;
            if (!target)
                continue;
            name = target;
            zone_name = app->config.dcv_domain ? app->config.dcv_domain : DCV_DOMAIN_DEFAULT;
        }
        struct store_dns_record *r = &out[*n];
        if (store_field_set(r->name, sizeof r->name, name) < 0 ||
            store_field_set(r->value, sizeof r->value, value) < 0)
            continue;
        snprintf(r->pack_id, sizeof r->pack_id, "%s", p->id);
        snprintf(r->zone, sizeof r->zone, "%s", zone_name);
        (*n)++;
    }
    return out;
}

static bool same_record(const struct store_dns_record *a, const struct store_dns_record *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->value, b->value) == 0;
}

/* Deletes one added record from DNS, then its row. 0, or -1 (logged). */
static int remove_one(struct app *app, const struct store_dns_record *r)
{
    char why[512] = "";
    if (dns_publish_record(&app->config.dns, DNS_PUBLISH_CLEANUP, r->zone, r->name, r->value,
                           r->pack_id, why, sizeof why) < 0) {
        log_msg(LOG_WARN, "pack %s: could not delete the TXT record at %s: %s", r->pack_id, r->name,
                why);
        return -1;
    }
    log_msg(LOG_INFO, "pack %s: deleted its TXT record at %s", r->pack_id, r->name);
    return store_dns_record_remove(app->store, r->pack_id, r->name, r->value) == STORE_OK ? 0 : -1;
}

/* Adds one record: its row first (so a crash right after the add still knows it). NULL or a
 * heap message. */
static char *add_one(struct app *app, const struct store_dns_record *r, int64_t now)
{
    char why[512] = "";
    if (store_dns_record_intent(app->store, r, now) != STORE_OK)
        return xasprintf("could not publish the TXT record at %s: store error", r->name);
    if (dns_publish_record(&app->config.dns, DNS_PUBLISH_PRESENT, r->zone, r->name, r->value,
                           r->pack_id, why, sizeof why) < 0) {
        log_msg(LOG_WARN, "pack %s: could not publish the TXT record at %s: %s", r->pack_id,
                r->name, why);
        return xasprintf("could not publish the TXT record at %s: %s", r->name, why);
    }
    log_msg(LOG_INFO, "pack %s: published its TXT record at %s", r->pack_id, r->name);
    (void)store_dns_record_published(app->store, r->pack_id, r->name, r->value);
    return NULL;
}

char *pack_dns_sync(struct app *app, const struct store_job *job, const char *owner,
                    const struct store_zone *zone, const struct store_pack *p, bool *lost)
{
    *lost = false;
    if (!dns_publish_enabled(&app->config.dns))
        return NULL;
    int nwant = 0, nhave = 0;
    struct store_dns_record *want = wanted_records(app, zone, p, &nwant), *have = NULL;
    if (store_dns_records(app->store, p->id, &have, &nhave) != STORE_OK) {
        xfree(want);
        return xstrdup("could not publish the TXT records: store error");
    }
    char *message = NULL;
    for (int i = 0; i < nhave && !*lost; i++) { /* values the pack no longer has */
        bool still = false;
        for (int j = 0; j < nwant && !still; j++)
            still = same_record(&have[i], &want[j]);
        if (still)
            continue;
        if (!(*lost = !worker_lease_held(app, job, owner)))
            (void)remove_one(app, &have[i]);
    }
    int64_t now = util_now_us();
    for (int j = 0; j < nwant && !*lost; j++) {
        bool done = false;
        for (int i = 0; i < nhave && !done; i++)
            done = have[i].published && same_record(&have[i], &want[j]);
        if (done)
            continue;
        if ((*lost = !worker_lease_held(app, job, owner)))
            break;
        char *m = add_one(app, &want[j], now);
        if (m && !message)
            message = m;
        else
            xfree(m);
    }
    xfree(have);
    xfree(want);
    return message;
}

int pack_dns_cleanup(struct app *app, const struct store_job *job, const char *owner,
                     const char *pack_id)
{
    if (!dns_publish_enabled(&app->config.dns))
        return 0;
    int n = 0, rc = 0;
    struct store_dns_record *have = NULL;
    if (store_dns_records(app->store, pack_id, &have, &n) != STORE_OK)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!worker_lease_held(app, job, owner)) {
            rc = -1;
            break;
        }
        if (remove_one(app, &have[i]) < 0)
            rc = -1; /* the others are still deleted */
    }
    xfree(have);
    return rc;
}
