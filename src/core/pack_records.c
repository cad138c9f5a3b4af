/* Validation and delegation records of a pack's arrays (pack_records.h). */
#include "core/pack_records.h"

#include <string.h>

#include "common/alloc.h"
#include "core/dcv_records.h"
#include "core/hostname.h"

_Static_assert(DCV_NAME_SIZE <= STORE_RECORD_NAME_SIZE, "a TXT name fits a record");
_Static_assert(DCV_TOKEN_SIZE <= STORE_RECORD_VALUE_SIZE, "a TXT value fits a record");
_Static_assert(DCV_HTTP_URL_SIZE <= STORE_RECORD_URL_SIZE, "an http_url fits a record");
_Static_assert(DCV_HTTP_BODY_SIZE <= STORE_RECORD_BODY_SIZE, "an http_body fits a record");
_Static_assert(DCV_EMAIL_SIZE <= STORE_RECORD_NAME_SIZE, "an e-mail fits a record");
_Static_assert(DCV_EMAIL_COUNT <= STORE_RECORD_EMAILS_MAX, "the e-mails fit a record");
_Static_assert(DCV_CNAME_TARGET_SIZE <= STORE_CNAME_TARGET_SIZE, "a target fits a record");

const char **pack_hosts_vector(const struct store_pack *p, size_t *count)
{
    *count = p->host_count > 0 ? (size_t)p->host_count : 0;
    if (!*count || *count > STORE_PACK_HOSTS_MAX)
        return NULL;
    const char **hosts = xcalloc(*count + 1, sizeof *hosts);
    for (size_t i = 0; i < *count; i++)
        hosts[i] = p->hosts[i].name;
    return hosts;
}

/* The record of r (sizes checked above: every field fits). */
static void record_fill(struct store_validation_record *out, const struct dcv_record *r)
{
    switch (r->method) {
    case PACK_METHOD_TXT:
    case PACK_METHOD_CNAME: /* the same TXT values, published at the CNAME target */
        store_field_set(out->txt_name, sizeof out->txt_name, r->txt_name);
        store_field_set(out->txt_value, sizeof out->txt_value, r->txt_value);
        break;
    case PACK_METHOD_HTTP:
        store_field_set(out->http_url, sizeof out->http_url, r->http_url);
        store_field_set(out->http_body, sizeof out->http_body, r->http_body);
        break;
    default:
        for (int i = 0; i < DCV_EMAIL_COUNT; i++)
            store_field_set(out->emails[i], sizeof out->emails[i], r->emails[i]);
        out->email_count = DCV_EMAIL_COUNT;
        break;
    }
    store_field_set(out->status, sizeof out->status, "pending");
}

int pack_records_build(struct store_pack *p, enum pack_method method, const char *apex,
                       const char *zone_id)
{
    return pack_records_build_dcv(p, method, apex, zone_id, NULL);
}

int pack_records_build_dcv(struct store_pack *p, enum pack_method method, const char *apex,
                           const char *zone_id, const char *dcv_domain)
{
    size_t n;
    const char **hosts = pack_hosts_vector(p, &n);
    if (!hosts)
        return -1;
    /* Hosts come from the store; refuse (rather than assert on) any that is not a valid
     * name, so a bad row can never take the worker down. */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char norm[HOSTNAME_SIZE];
        const char *why;
        rc = hostname_normalize(hosts[i], HOSTNAME_ALLOW_WILDCARD | HOSTNAME_REQUIRE_DOT, norm,
                                &why);
    }
    struct dcv_record *recs = xcalloc(n, sizeof *recs);
    if (rc == 0)
        rc = dcv_records_build(recs, method, hosts, n, apex);
    struct store_pack built = {0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct dcv_delegation d;
        struct store_validation_record *r = store_pack_record_add(&built);
        dcv_delegation_init(&d, hosts[i], zone_id, dcv_domain);
        if (!r || !store_pack_delegation_add(&built, d.cname, d.cname_target))
            rc = -1;
        else
            record_fill(r, &recs[i]);
    }
    if (rc == 0) {
        pack_records_unique_delegation(&built);
        store_pack_records_clear(p);
        store_pack_delegation_clear(p);
        p->validation_records = built.validation_records;
        p->validation_record_count = built.validation_record_count;
        p->dcv_delegation_records = built.dcv_delegation_records;
        p->dcv_delegation_record_count = built.dcv_delegation_record_count;
    } else {
        store_pack_clear(&built);
    }
    xfree(recs);
    xfree(hosts);
    return rc;
}

void pack_records_unique_delegation(struct store_pack *p)
{
    /* Quadratic, but over at most a pack's hosts (51). */
    struct store_delegation_record *d = p->dcv_delegation_records;
    for (int i = 0; i < p->dcv_delegation_record_count; i++) {
        for (int j = i + 1; j < p->dcv_delegation_record_count;) {
            if (strcmp(d[j].cname, d[i].cname) == 0) {
                memmove(&d[j], &d[j + 1],
                        (size_t)(p->dcv_delegation_record_count - j - 1) * sizeof *d);
                p->dcv_delegation_record_count--;
            } else {
                j++;
            }
        }
    }
}

void pack_records_set_status(struct store_pack *p, const char *status)
{
    for (int i = 0; i < p->validation_record_count; i++)
        store_field_set(p->validation_records[i].status, sizeof p->validation_records[i].status,
                        status);
}
