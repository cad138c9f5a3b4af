/* Authentication from request headers and the zone/account visibility rules. */
#include "http/auth.h"

#include <ctype.h>
#include <string.h>

#include "app.h"
#include "common/log.h"
#include "common/util.h"

bool auth_is_token68(const char *s)
{
    size_t i = 0;
    while (s[i] && (isalnum((unsigned char)s[i]) || strchr("-._~+/", s[i])))
        i++;
    if (i == 0)
        return false;
    while (s[i] == '=')
        i++;
    return s[i] == '\0';
}

/* Splits "Bearer <token68>" (scheme case-insensitive, RFC 7235). NULL if malformed. */
static const char *bearer_token(const char *header)
{
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *token = header + 7;
    return auth_is_token68(token) ? token : NULL;
}

enum token_state { TOKEN_VALID, TOKEN_INVALID, TOKEN_STORE_ERROR };

/* Looks a bearer secret up by its hash and checks revocation and expiry. */
static enum token_state load_token(struct request *req, const char *secret, struct store_token *t)
{
    unsigned char hash[32];
    util_sha256(secret, strlen(secret), hash);
    int rc = store_token_by_hash(req->app->store, hash, t);
    if (rc == STORE_NOT_FOUND)
        return TOKEN_INVALID;
    if (rc != STORE_OK)
        return TOKEN_STORE_ERROR;
    if (!util_secure_equal(hash, t->hash, sizeof hash))
        return TOKEN_INVALID;
    int64_t now = util_now_us();
    if (t->revoked_on || (t->expires_on && t->expires_on <= now))
        return TOKEN_INVALID;
    return TOKEN_VALID;
}

static void principal_from_token(struct principal *p, const struct store_token *t)
{
    memset(p, 0, sizeof *p);
    p->kind = PRINCIPAL_TOKEN;
    memcpy(p->id, t->id, sizeof p->id);
    memcpy(p->account_id, t->account_id, sizeof p->account_id);
    p->permissions = t->permissions;
    memcpy(p->zone_scope, t->zone_scope, sizeof p->zone_scope);
    p->expires_on = t->expires_on;
}

/* The legacy pair. Unknown e-mail and wrong key take the same path through a hash
 * comparison so their timing does not tell which one was wrong. */
static int authenticate_global_key(struct request *req, const char *email, const char *key)
{
    struct store_user user;
    unsigned char hash[32];
    util_sha256(key, strlen(key), hash);
    int rc = store_user_by_email(req->app->store, email, &user);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        request_fail(req, API_E_INTERNAL, NULL);
        return -1;
    }
    if (rc == STORE_NOT_FOUND)
        memset(user.key_hash, 0, sizeof user.key_hash);
    bool match = util_secure_equal(hash, user.key_hash, sizeof hash);
    if (rc == STORE_NOT_FOUND || !match) {
        request_fail(req, API_E_UNKNOWN_KEY, NULL);
        return -1;
    }
    memset(&req->principal, 0, sizeof req->principal);
    req->principal.kind = PRINCIPAL_USER;
    memcpy(req->principal.id, user.id, sizeof user.id);
    req->principal.permissions = PERM_ALL;
    return 0;
}

/* Shared bearer path; `invalid` is the error for an unknown/revoked/expired token. */
static int authenticate_bearer(struct request *req, const char *header, enum api_error invalid)
{
    const char *secret = bearer_token(header);
    if (!secret) {
        request_fail_auth_format(req);
        return -1;
    }
    struct store_token t;
    switch (load_token(req, secret, &t)) {
    case TOKEN_VALID:
        principal_from_token(&req->principal, &t);
        return 0;
    case TOKEN_INVALID:
        request_fail(req, invalid, NULL);
        return -1;
    case TOKEN_STORE_ERROR:
        break;
    }
    request_fail(req, API_E_INTERNAL, NULL);
    return -1;
}

int auth_authenticate(struct request *req)
{
    const char *authorization = request_header(req, "Authorization");
    if (authorization)
        return authenticate_bearer(req, authorization, API_E_INVALID_TOKEN);
    const char *email = request_header(req, "X-Auth-Email");
    const char *key = request_header(req, "X-Auth-Key");
    if (!email || !key || !*email || !*key) {
        request_fail(req, API_E_MISSING_AUTH, NULL);
        return -1;
    }
    return authenticate_global_key(req, email, key);
}

int auth_authenticate_token(struct request *req)
{
    const char *authorization = request_header(req, "Authorization");
    if (!authorization) {
        request_fail(req, API_E_MISSING_AUTH, NULL);
        return -1;
    }
    return authenticate_bearer(req, authorization, API_E_VERIFY_INVALID);
}

void auth_new_token_secret(char out[AUTH_TOKEN_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[AUTH_TOKEN_LEN];
    util_random_bytes(raw, sizeof raw);
    for (size_t i = 0; i < AUTH_TOKEN_LEN; i++)
        out[i] = alphabet[raw[i] & 63]; /* 64 symbols: no modulo bias, 240 bits */
    out[AUTH_TOKEN_LEN] = '\0';
}

void auth_new_global_key(char out[AUTH_GLOBAL_KEY_LEN + 1])
{
    unsigned char raw[(AUTH_GLOBAL_KEY_LEN + 1) / 2];
    char hex[sizeof raw * 2 + 1];
    util_random_bytes(raw, sizeof raw);
    util_hex(raw, sizeof raw, hex);
    memcpy(out, hex, AUTH_GLOBAL_KEY_LEN);
    out[AUTH_GLOBAL_KEY_LEN] = '\0';
}

/* True when id is one of the space-separated ids in scope. */
static bool scope_contains(const char *scope, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = scope; (p = strstr(p, id)) != NULL; p += n) {
        bool starts = p == scope || p[-1] == ' ';
        bool ends = p[n] == '\0' || p[n] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

bool auth_can_see_zone(const struct principal *p, const struct store_zone *z)
{
    switch (p->kind) {
    case PRINCIPAL_TOKEN:
        return strcmp(p->account_id, z->account_id) == 0 &&
               (!p->zone_scope[0] || scope_contains(p->zone_scope, z->id));
    case PRINCIPAL_USER:
        return strcmp(p->id, z->owner_user_id) == 0;
    case PRINCIPAL_NONE:
        break;
    }
    return false;
}

bool auth_can_use_account(const struct principal *p, const struct store_account *a)
{
    switch (p->kind) {
    case PRINCIPAL_TOKEN:
        return strcmp(p->account_id, a->id) == 0;
    case PRINCIPAL_USER:
        return strcmp(p->id, a->owner_user_id) == 0;
    case PRINCIPAL_NONE:
        break;
    }
    return false;
}

struct store_visibility auth_visibility(const struct principal *p)
{
    struct store_visibility v = {0};
    if (p->kind == PRINCIPAL_TOKEN) {
        v.account_id = p->account_id;
        v.zone_scope = p->zone_scope;
    } else {
        v.owner_user_id = p->id;
    }
    return v;
}
