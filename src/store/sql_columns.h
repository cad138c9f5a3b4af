/* Column lists and SQL fragments shared by several statements of the registry
 * (statements.def). Each list's order is the order the store reads and binds them in. */
#ifndef TLSWARD_STORE_SQL_COLUMNS_H
#define TLSWARD_STORE_SQL_COLUMNS_H

/* store.c */
#define USER_COLS "id, email, key_hash, created_on"
#define ACCOUNT_COLS "id, name, owner_user_id, created_on"
#define TOKEN_COLS                                                                                 \
    "id, account_id, hash, permissions, zone_scope, expires_on, revoked_on, created_on"
/* What a zone insert writes. */
#define ZONE_COLS                                                                                  \
    "id, account_id, name, type, status, universal_ssl, advanced_quota, created_on, "              \
    "modified_on, activated_on"
/* What a zone read returns (ZONE_SELECT). A zone being deleted has given its name up
 * (migration 8): its real name is deleting_name. */
#define ZONE_READ_COLS                                                                             \
    "z.id, z.account_id, CASE WHEN z.deleting_on <> 0 THEN z.deleting_name ELSE z.name END, "      \
    "z.type, z.status, z.universal_ssl, z.advanced_quota, z.created_on, z.modified_on, "           \
    "z.activated_on, a.name, a.owner_user_id, u.email, z.deleting_on"
#define ZONE_SELECT                                                                                \
    "SELECT " ZONE_READ_COLS " "                                                                   \
    "FROM zones z JOIN accounts a ON a.id = z.account_id JOIN users u ON u.id = a.owner_user_id "
/* ?1 account (visibility), ?2 owner user, ?3 zone scope, ?4 name, ?5 account, ?6 status;
 * a NULL parameter disables its condition. */
#define ZONE_FILTER                                                                                \
    "WHERE (?1 IS NULL OR z.account_id = ?1) AND (?2 IS NULL OR a.owner_user_id = ?2) "            \
    "AND (?3 IS NULL OR instr(' ' || ?3 || ' ', ' ' || z.id || ' ') > 0) "                         \
    "AND (?4 IS NULL OR z.name = ?4) AND (?5 IS NULL OR z.account_id = ?5) "                       \
    "AND (?6 IS NULL OR z.status = ?6) AND z.deleting_on = 0 "

/* store_aop.c */
#define AOP_COLS                                                                                   \
    "id, zone_id, kind, status, certificate, key_sealed, issuer, serial, signature, expires_on, "  \
    "uploaded_on, updated_on"

/* store_aop.c */
#define HOST_COLS "hostname, cert_id, enabled, created_at, updated_at"

/* store_client.c */
#define CERT_COLS                                                                                  \
    "id, zone_id, ca_id, status, serial, fingerprint, ski, signature, common_name, country, "      \
    "state, location, organization, organizational_unit, csr, certificate, validity_days, "        \
    "issued_on, expires_on, revoked_on, created_on, modified_on"

/* store_client.c */
#define CA_COLS                                                                                    \
    "id, account_id, name, cert_pem, key_sealed, crl_number, crl_der, crl_next_update, created_on"

/* store_packs.c */
#define PACK_COLS                                                                                  \
    "id, zone_id, type, status, status_since, certificate_authority, validation_method, "          \
    "validity_days, cloudflare_branding, hosts, validation_records, validation_errors, "           \
    "dcv_delegation_records, check_failures, renewal_failures, cert_generation, version, "         \
    "created_on, modified_on"

/* store_packs.c: what an update of a pack writes (from ?3 of PACKS_PACK_UPDATE). */
#define PACK_UPDATE_COLS                                                                           \
    "status, status_since, validation_method, cloudflare_branding, hosts, validation_records, "    \
    "validation_errors, dcv_delegation_records, check_failures, renewal_failures, "                \
    "cert_generation"

/* store_packs.c */
#define PACK_CERT_COLS                                                                             \
    "id, pack_id, generation, priority, key_type, signature, issuer, serial, chain_pem, "          \
    "key_sealed, not_before, expires_on, uploaded_on, modified_on"

/* store_packs.c: what a cached rendering of a pack is found by (its key). */
#define PACK_KEY_COLS "id, zone_id, status, cert_generation, version, modified_on"

/* store_packs.c: what the API shows of a pack's certificates, all in the covering index
 * pack_certificates_shown (no chain or sealed key is read to render a pack). */
#define PACK_CERT_SHOWN_COLS                                                                       \
    "id, pack_id, generation, priority, signature, issuer, expires_on, uploaded_on, modified_on"

/* store_acme.c */
#define ACME_ACCOUNT_COLS                                                                          \
    "account_id, ca, directory_url, account_url, key_sealed, created_on, updated_on"
#define ACME_ORDER_COLS                                                                            \
    "pack_id, key_type, order_url, authz_urls, finalize_url, certificate_url, status, "            \
    "expires_on, key_sealed, created_on, updated_on"
#define ACME_CERT_COLS "cert_id, pack_id, account_id, ca, serial, leaf_pem, created_on, revoked_on"

/* "Live" (store_pack_live, store_aop_live in store.h, defined alike): a pack that still
 * holds or is getting a certificate, counting against the advanced quota; an origin-pull
 * certificate counting against its zone's maximum. */
#define PACK_LIVE "status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out')"
#define AOP_LIVE "status NOT IN ('pending_deletion', 'deleted')"
/* Packs that use a zone's advanced allocation. */
#define LIVE_ADVANCED "type = 'advanced' AND " PACK_LIVE

/* jobs: a rescheduled job keeps the earlier of its two due times (in an upsert). */
#define EARLIER_RUN                                                                                \
    "CASE WHEN excluded.next_run_at < jobs.next_run_at THEN excluded.next_run_at "                 \
    "ELSE jobs.next_run_at END"
/* jobs: ?5 is a comma-wrapped list of kinds (",a,b,") and ?6 says whether the claim takes
 * the listed kinds (0) or every kind but those (1). */
#define KIND_FILTER "(CASE WHEN instr(?5, ',' || kind || ',') > 0 THEN 1 ELSE 0 END) <> ?6"

#endif
