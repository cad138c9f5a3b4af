/* Authentication (who is calling) and the visibility rules (what they may see).
 *
 * Credentials: `Authorization: Bearer <token>` (an API token of one account, optionally
 * limited to some zones, with PERM_* permissions and an optional expiry), or the legacy
 * `X-Auth-Email` + `X-Auth-Key` pair (the user's global key: every permission on every
 * account the user owns). Secrets are only ever compared as SHA-256 hashes, in constant
 * time, and never logged. */
#ifndef TLSWARD_HTTP_AUTH_H
#define TLSWARD_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "store/store.h"

/* Authenticates req from its headers into req->principal. Returns 0, or -1 after recording
 * the error of SPEC §3 (9106, 6003/6111, 9109 invalid token, 9103, or 500). */
int auth_authenticate(struct request *req);

/* For GET /user/tokens/verify: like auth_authenticate for bearer tokens only, but an
 * unknown, revoked or expired token fails with 401/1000 as Cloudflare does there. */
int auth_authenticate_token(struct request *req);

/* True when a string is a syntactically valid RFC 6750 token68 ("Bearer <this>"). */
bool auth_is_token68(const char *s);

/* Secrets minted by tlsward: a 40-character bearer token, a 37-hex-character global key. */
#define AUTH_TOKEN_LEN 40
#define AUTH_GLOBAL_KEY_LEN 37
void auth_new_token_secret(char out[AUTH_TOKEN_LEN + 1]);
void auth_new_global_key(char out[AUTH_GLOBAL_KEY_LEN + 1]);

/* Visibility: may this principal see this zone / use this account? */
bool auth_can_see_zone(const struct principal *p, const struct store_zone *z);
bool auth_can_use_account(const struct principal *p, const struct store_account *a);
/* The store filter that restricts a listing to what the principal sees. */
struct store_visibility auth_visibility(const struct principal *p);

#endif
