/* JSON forms of validation and delegation records (pack_records.h). */
#include "core/pack_records.h"

#include <string.h>

#include "common/alloc.h"
#include "core/dcv_records.h"
#include "core/hostname.h"

const char **pack_hosts_vector(const char *hosts_json, json_t **arr, size_t *count)
{
    *arr = json_loads(hosts_json, 0, NULL);
    *count = json_is_array(*arr) ? json_array_size(*arr) : 0;
    if (!*count || *count > PACK_HOSTS_MAX + 1) {
        json_decref(*arr);
        *arr = NULL;
        return NULL;
    }
    const char **hosts = xcalloc(*count + 1, sizeof *hosts);
    for (size_t i = 0; i < *count; i++) {
        hosts[i] = json_string_value(json_array_get(*arr, i));
        if (!hosts[i]) {
            xfree(hosts);
            json_decref(*arr);
            *arr = NULL;
            return NULL;
        }
    }
    return hosts;
}

static json_t *record_json(const struct dcv_record *r)
{
    switch (r->method) {
    case PACK_METHOD_TXT:
    case PACK_METHOD_CNAME: /* the same TXT values, published at the CNAME target */
        return json_pack("{s:s, s:s, s:s}", "txt_name", r->txt_name, "txt_value", r->txt_value,
                         "status", "pending");
    case PACK_METHOD_HTTP:
        return json_pack("{s:s, s:s, s:s}", "http_url", r->http_url, "http_body", r->http_body,
                         "status", "pending");
    default: {
        json_t *emails = json_array();
        for (int i = 0; i < DCV_EMAIL_COUNT; i++)
            json_array_append_new(emails, json_string(r->emails[i]));
        return json_pack("{s:o, s:s}", "emails", emails, "status", "pending");
    }
    }
}

static char *dump_and_free(json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text;
}

int pack_records_build(const char *hosts_json, enum pack_method method, const char *apex,
                       const char *zone_id, char **records, char **delegation)
{
    return pack_records_build_dcv(hosts_json, method, apex, zone_id, NULL, records, delegation);
}

int pack_records_build_dcv(const char *hosts_json, enum pack_method method, const char *apex,
                           const char *zone_id, const char *dcv_domain, char **records,
                           char **delegation)
{
    json_t *arr;
    size_t n;
    const char **hosts = pack_hosts_vector(hosts_json, &arr, &n);
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
    json_t *rj = json_array(), *dj = json_array();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct dcv_delegation d;
        json_array_append_new(rj, record_json(&recs[i]));
        dcv_delegation_init(&d, hosts[i], zone_id, dcv_domain);
        json_array_append_new(dj, json_pack("{s:s, s:s}", "cname", d.cname, "cname_target",
                                            d.cname_target));
    }
    pack_records_unique_delegation(dj);
    *records = rc == 0 ? dump_and_free(rj) : (json_decref(rj), NULL);
    *delegation = rc == 0 ? dump_and_free(dj) : (json_decref(dj), NULL);
    xfree(recs);
    xfree(hosts);
    json_decref(arr);
    return rc;
}

void pack_records_unique_delegation(json_t *delegation)
{
    /* Quadratic, but over at most a pack's hosts (51). */
    for (size_t i = 0; i < json_array_size(delegation); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(delegation, i),
                                                             "cname"));
        for (size_t j = i + 1; name && j < json_array_size(delegation);) {
            const char *other = json_string_value(
                json_object_get(json_array_get(delegation, j), "cname"));
            if (other && strcmp(other, name) == 0)
                json_array_remove(delegation, j);
            else
                j++;
        }
    }
}

char *pack_records_set_status(const char *records, const char *status)
{
    json_t *arr = json_loads(records ? records : "[]", 0, NULL);
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r) json_object_set_new(r, "status", json_string(status));
    return dump_and_free(arr ? arr : json_array());
}
