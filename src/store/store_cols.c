/* The column descriptors of every record the store reads and writes whole: one table per
 * `*_COLS` list of sql_columns.h, in the list's order (test_store_rows holds each table to
 * its list, so the two cannot drift apart). */
#include "store/sql_columns.h"
#include "store/store_internal.h"

#define N(t) ((int)(sizeof t / sizeof t[0]))
#define DEFINE_COLS(name, ...)                                                                     \
    const struct store__col store__##name##_cols[] = {__VA_ARGS__};                                \
    const int store__##name##_ncols = N(store__##name##_cols)

#define U struct store_user
DEFINE_COLS(user, STORE__COL(U, id, TEXT), STORE__COL(U, email, TEXT),
            STORE__COL(U, key_hash, BLOB), STORE__COL(U, created_on, INT64));
#undef U

#define A struct store_account
DEFINE_COLS(account, STORE__COL(A, id, TEXT), STORE__COL(A, name, TEXT),
            STORE__COL(A, owner_user_id, TEXT), STORE__COL(A, created_on, INT64));
#undef A

#define T struct store_token
DEFINE_COLS(token, STORE__COL(T, id, TEXT), STORE__COL(T, account_id, TEXT),
            STORE__COL_AS(T, hash, "hash", BLOB), STORE__COL(T, permissions, INT),
            STORE__COL(T, zone_scope, TEXT), STORE__COL(T, expires_on, INT64),
            STORE__COL(T, revoked_on, INT64), STORE__COL(T, created_on, INT64));
#undef T

#define Z struct store_zone
DEFINE_COLS(zone, STORE__COL(Z, id, TEXT), STORE__COL(Z, account_id, TEXT),
            STORE__COL(Z, name, TEXT), STORE__COL_ENUM(Z, type, zone_type),
            STORE__COL_ENUM(Z, status, zone_status), STORE__COL(Z, universal_ssl, BOOL),
            STORE__COL(Z, advanced_quota, INT), STORE__COL(Z, created_on, INT64),
            STORE__COL(Z, modified_on, INT64), STORE__COL(Z, activated_on, INT64));
DEFINE_COLS(zone_read, STORE__COL_AS(Z, id, "z.id", TEXT),
            STORE__COL_AS(Z, account_id, "z.account_id", TEXT),
            STORE__COL_AS(Z, name,
                          "CASE WHEN z.deleting_on <> 0 THEN z.deleting_name ELSE z.name END",
                          TEXT),
            STORE__COL_ENUM_AS(Z, type, "z.type", zone_type),
            STORE__COL_ENUM_AS(Z, status, "z.status", zone_status),
            STORE__COL_AS(Z, universal_ssl, "z.universal_ssl", BOOL),
            STORE__COL_AS(Z, advanced_quota, "z.advanced_quota", INT),
            STORE__COL_AS(Z, created_on, "z.created_on", INT64),
            STORE__COL_AS(Z, modified_on, "z.modified_on", INT64),
            STORE__COL_AS(Z, activated_on, "z.activated_on", INT64),
            STORE__COL_AS(Z, account_name, "a.name", TEXT),
            STORE__COL_AS(Z, owner_user_id, "a.owner_user_id", TEXT),
            STORE__COL_AS(Z, owner_email, "u.email", TEXT),
            STORE__COL_AS(Z, deleting_on, "z.deleting_on", INT64));
#undef Z

/* A packs row (store_internal.h): the pack's fields and its arrays' JSON texts ("[]" when
 * unset). */
#define P struct store__pack_row
#define PF(f, k) STORE__COL_AS(P, p.f, #f, k)
#define PE(f, table) STORE__COL_ENUM_AS(P, p.f, #f, table)
#define PACK_JSON(f)                                                                               \
    {                                                                                              \
        .name = #f, .kind = STORE__COL_HEAP_TEXT, .offset = offsetof(P, f),                        \
        .size = sizeof(((P *)0)->f), .if_null = "[]"                                               \
    }
DEFINE_COLS(pack, PF(id, TEXT), PF(zone_id, TEXT), PE(type, pack_type), PE(status, pack_status),
            PF(status_since, INT64), PE(certificate_authority, pack_ca),
            PE(validation_method, pack_method), PF(validity_days, INT),
            PF(cloudflare_branding, BOOL), PACK_JSON(hosts), PACK_JSON(validation_records),
            PACK_JSON(validation_errors), PACK_JSON(dcv_delegation_records),
            PF(check_failures, INT), PF(renewal_failures, INT), PF(cert_generation, INT),
            PF(version, INT), PF(created_on, INT64), PF(modified_on, INT64));
DEFINE_COLS(pack_update, PE(status, pack_status), PF(status_since, INT64),
            PE(validation_method, pack_method), PF(cloudflare_branding, BOOL), PACK_JSON(hosts),
            PACK_JSON(validation_records), PACK_JSON(validation_errors),
            PACK_JSON(dcv_delegation_records), PF(check_failures, INT), PF(renewal_failures, INT),
            PF(cert_generation, INT));
#undef PACK_JSON
#undef PE
#undef PF
#undef P

#define K struct store_pack_cert
DEFINE_COLS(pack_cert, STORE__COL(K, id, TEXT), STORE__COL(K, pack_id, TEXT),
            STORE__COL(K, generation, INT), STORE__COL(K, priority, INT),
            STORE__COL_ENUM(K, key_type, key_type), STORE__COL(K, signature, TEXT),
            STORE__COL(K, issuer, TEXT), STORE__COL(K, serial, TEXT),
            STORE__COL(K, chain_pem, HEAP_TEXT),
            STORE__COL_HEAP_BLOB(K, key_sealed, key_sealed_len), STORE__COL(K, not_before, INT64),
            STORE__COL(K, expires_on, INT64), STORE__COL(K, uploaded_on, INT64),
            STORE__COL(K, modified_on, INT64));
DEFINE_COLS(pack_cert_shown, STORE__COL(K, id, TEXT), STORE__COL(K, pack_id, TEXT),
            STORE__COL(K, generation, INT), STORE__COL(K, priority, INT),
            STORE__COL(K, signature, TEXT), STORE__COL(K, issuer, TEXT),
            STORE__COL(K, expires_on, INT64), STORE__COL(K, uploaded_on, INT64),
            STORE__COL(K, modified_on, INT64));
#undef K

#define PK struct store_pack
DEFINE_COLS(pack_key, STORE__COL(PK, id, TEXT), STORE__COL(PK, zone_id, TEXT),
            STORE__COL_ENUM(PK, status, pack_status), STORE__COL(PK, cert_generation, INT),
            STORE__COL(PK, version, INT), STORE__COL(PK, modified_on, INT64));
#undef PK

#define CA struct store_client_ca
DEFINE_COLS(client_ca, STORE__COL(CA, id, TEXT), STORE__COL(CA, account_id, TEXT),
            STORE__COL(CA, name, TEXT), STORE__COL(CA, cert_pem, HEAP_TEXT),
            STORE__COL_HEAP_BLOB(CA, key_sealed, key_sealed_len), STORE__COL(CA, crl_number, INT64),
            STORE__COL_HEAP_BLOB(CA, crl_der, crl_len), STORE__COL(CA, crl_next_update, INT64),
            STORE__COL(CA, created_on, INT64));
#undef CA

#define C struct store_client_cert
DEFINE_COLS(client_cert, STORE__COL(C, id, TEXT), STORE__COL(C, zone_id, TEXT),
            STORE__COL(C, ca_id, TEXT), STORE__COL_ENUM(C, status, cert_status),
            STORE__COL(C, serial, TEXT), STORE__COL(C, fingerprint, TEXT), STORE__COL(C, ski, TEXT),
            STORE__COL(C, signature, TEXT), STORE__COL(C, common_name, TEXT),
            STORE__COL(C, country, TEXT), STORE__COL(C, state, TEXT), STORE__COL(C, location, TEXT),
            STORE__COL(C, organization, TEXT), STORE__COL(C, organizational_unit, TEXT),
            STORE__COL(C, csr, HEAP_TEXT), STORE__COL(C, certificate, HEAP_TEXT),
            STORE__COL(C, validity_days, INT), STORE__COL(C, issued_on, INT64),
            STORE__COL(C, expires_on, INT64), STORE__COL(C, revoked_on, INT64),
            STORE__COL(C, created_on, INT64), STORE__COL(C, modified_on, INT64));
#undef C

#define O struct store_aop_cert
DEFINE_COLS(aop_cert, STORE__COL(O, id, TEXT), STORE__COL(O, zone_id, TEXT),
            STORE__COL_ENUM(O, kind, aop_kind), STORE__COL_ENUM(O, status, aop_status),
            STORE__COL(O, certificate, HEAP_TEXT),
            STORE__COL_HEAP_BLOB(O, key_sealed, key_sealed_len), STORE__COL(O, issuer, TEXT),
            STORE__COL(O, serial, TEXT), STORE__COL(O, signature, TEXT),
            STORE__COL(O, expires_on, INT64), STORE__COL(O, uploaded_on, INT64),
            STORE__COL(O, updated_on, INT64));
#undef O

#define H struct store_aop_hostname
DEFINE_COLS(aop_host, STORE__COL(H, hostname, TEXT), STORE__COL(H, cert_id, TEXT),
            STORE__COL(H, enabled, INT), STORE__COL(H, created_at, INT64),
            STORE__COL(H, updated_at, INT64));
#undef H

#define AA struct store_acme_account
DEFINE_COLS(acme_account, STORE__COL(AA, account_id, TEXT), STORE__COL_ENUM(AA, ca, pack_ca),
            STORE__COL(AA, directory_url, TEXT), STORE__COL(AA, account_url, TEXT),
            STORE__COL_HEAP_BLOB(AA, key_sealed, key_sealed_len), STORE__COL(AA, created_on, INT64),
            STORE__COL(AA, updated_on, INT64));
#undef AA

/* authz_urls is "" when unset. */
#define AO struct store_acme_order
DEFINE_COLS(acme_order, STORE__COL(AO, pack_id, TEXT), STORE__COL_ENUM(AO, key_type, key_type),
            STORE__COL(AO, order_url, TEXT),
            {.name = "authz_urls",
             .kind = STORE__COL_HEAP_TEXT,
             .offset = offsetof(AO, authz_urls),
             .size = sizeof(char *),
             .if_null = ""},
            STORE__COL(AO, finalize_url, TEXT), STORE__COL(AO, certificate_url, TEXT),
            STORE__COL(AO, status, TEXT), STORE__COL(AO, expires_on, INT64),
            STORE__COL_HEAP_BLOB(AO, key_sealed, key_sealed_len), STORE__COL(AO, created_on, INT64),
            STORE__COL(AO, updated_on, INT64));
#undef AO

#define AC struct store_acme_cert
DEFINE_COLS(acme_cert, STORE__COL(AC, cert_id, TEXT), STORE__COL(AC, pack_id, TEXT),
            STORE__COL(AC, account_id, TEXT), STORE__COL_ENUM(AC, ca, pack_ca),
            STORE__COL(AC, serial, TEXT), STORE__COL(AC, leaf_pem, HEAP_TEXT),
            STORE__COL(AC, created_on, INT64), STORE__COL(AC, revoked_on, INT64));
#undef AC

#define LIST(m, name)                                                                              \
    {                                                                                              \
#m, m, store__##name##_cols, &store__##name##_ncols                                        \
    }
const struct store__col_list store__col_lists[] = {
    LIST(USER_COLS, user),
    LIST(ACCOUNT_COLS, account),
    LIST(TOKEN_COLS, token),
    LIST(ZONE_COLS, zone),
    LIST(ZONE_READ_COLS, zone_read),
    LIST(PACK_COLS, pack),
    LIST(PACK_UPDATE_COLS, pack_update),
    LIST(PACK_CERT_COLS, pack_cert),
    LIST(PACK_CERT_SHOWN_COLS, pack_cert_shown),
    LIST(PACK_KEY_COLS, pack_key),
    LIST(CA_COLS, client_ca),
    LIST(CERT_COLS, client_cert),
    LIST(AOP_COLS, aop_cert),
    LIST(HOST_COLS, aop_host),
    LIST(ACME_ACCOUNT_COLS, acme_account),
    LIST(ACME_ORDER_COLS, acme_order),
    LIST(ACME_CERT_COLS, acme_cert),
};
const int store__ncol_lists = N(store__col_lists);
