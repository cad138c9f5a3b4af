/* A pack's validation and delegation records as the JSON texts the store keeps and the API
 * shows (seed 000: validation_records[], dcv_delegation_records[]). Pure: randomness only. */
#ifndef TLSWARD_CORE_PACK_RECORDS_H
#define TLSWARD_CORE_PACK_RECORDS_H

#include <jansson.h>

#include "core/pack_rules.h"

/* Fresh records for every host of the JSON array hosts_json, for `method`: *records and
 * *delegation are heap JSON texts (xfree). 0, or -1 for hosts that are not valid. */
int pack_records_build(const char *hosts_json, enum pack_method method, const char *apex,
                       const char *zone_id, char **records, char **delegation);
/* The same, with delegation targets under dcv_domain (--dcv-domain; NULL = the default). */
int pack_records_build_dcv(const char *hosts_json, enum pack_method method, const char *apex,
                           const char *zone_id, const char *dcv_domain, char **records,
                           char **delegation);

/* Drops from a dcv_delegation_records[] array every entry whose cname an earlier entry
 * already has (the apex and its wildcard are validated at one name, so they share one
 * delegation). In place; anything that is not an array is left alone. */
void pack_records_unique_delegation(json_t *delegation);

/* Marks every record of a records text with `status` ("pending" → "active"); new text. */
char *pack_records_set_status(const char *records, const char *status);

/* The hosts of a JSON array as a NULL-terminated vector of borrowed strings into `arr`
 * (which the caller json_decref's after use). NULL if hosts_json is not an array of
 * strings. *count gets the number. */
const char **pack_hosts_vector(const char *hosts_json, json_t **arr, size_t *count);

#endif
