/* A pack's validation and delegation records (seed 000: validation_records[],
 * dcv_delegation_records[]) built into the pack's arrays (store.h). Pure: randomness only. */
#ifndef TLSWARD_CORE_PACK_RECORDS_H
#define TLSWARD_CORE_PACK_RECORDS_H

#include <stddef.h>

#include "core/pack_rules.h"
#include "store/store.h"

/* Fresh records for every host of p, for `method`: replaces p's validation records and
 * delegation records. 0, or -1 (p unchanged) for hosts that are not valid. */
int pack_records_build(struct store_pack *p, enum pack_method method, const char *apex,
                       const char *zone_id);
/* The same, with delegation targets under dcv_domain (--dcv-domain; NULL = the default). */
int pack_records_build_dcv(struct store_pack *p, enum pack_method method, const char *apex,
                           const char *zone_id, const char *dcv_domain);

/* Drops from p's delegation records every entry whose cname an earlier entry already has
 * (the apex and its wildcard are validated at one name, so they share one delegation). */
void pack_records_unique_delegation(struct store_pack *p);

/* Marks every validation record of p with `status` ("pending" -> "active"). */
void pack_records_set_status(struct store_pack *p, const char *status);

/* The hosts of p as a NULL-terminated vector of borrowed strings (the caller xfree's the
 * vector). NULL if p has no hosts or more than STORE_PACK_HOSTS_MAX. *count gets the number. */
const char **pack_hosts_vector(const struct store_pack *p, size_t *count);

#endif
