/* DCV TXT records a pack's validation needs, published in DNS by tlsward itself
 * (--dns-update by RFC 2136, or --dns-hook), and removed once validation is over.
 *
 * A txt pack's records go at their txt_name; a cname pack's (delegated DCV) at the
 * cname_target of its dcv_delegation_records, in the --dcv-domain zone. Each record is
 * noted in the store before it is added and forgotten only after it is deleted, so what
 * tlsward added is always known, across crashes and restarts, and cleanup deletes exactly
 * those records (never the whole set at a name: an apex and its wildcard share one). Every
 * DNS change is preceded by worker_lease_held(). */
#ifndef TLSWARD_WORKER_PACK_DNS_H
#define TLSWARD_WORKER_PACK_DNS_H

#include <stdbool.h>

#include "core/pack_state.h"

struct app;
struct store_job;
struct store_pack;
struct store_zone;

/* True while a pack in `status` needs its records in DNS: validation pending, or a
 * renewal that has not succeeded yet (renewal_failures > 0). */
bool pack_dns_wanted(enum pack_status status, int renewal_failures);

/* Brings DNS in line with the pack's current records: adds each one not yet added, deletes
 * those it added for values the pack no longer has (a restarted or switched validation).
 * Nothing to do without --dns-update/--dns-hook. Returns NULL, or a heap message for
 * validation_errors naming the first record that could not be published (caller xfree's).
 * *lost is set when the job's lease was lost (stop without further side effects). */
char *pack_dns_sync(struct app *app, const struct store_job *job, const char *owner,
                    const struct store_zone *zone, const struct store_pack *p, bool *lost);

/* Deletes every record added for pack_id. 0 when none is left, -1 when one could not be
 * deleted (logged; the row stays, so a later call tries again) or the lease was lost. */
int pack_dns_cleanup(struct app *app, const struct store_job *job, const char *owner,
                     const char *pack_id);

#endif
