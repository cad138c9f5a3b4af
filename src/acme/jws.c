/* The signing side of the ACME client: base64url, the account key's JWK and its RFC 7638
 * thumbprint, flattened JWS with ES256 (RFC 7515 + RFC 8555 §6.2), the HS256 external
 * account binding (RFC 8555 §7.3.4), and the account key helpers. Pure: no I/O.
 *
 * ES256 needs the raw R‖S form (two 32-byte big-endian integers, RFC 7518 §3.4) while
 * OpenSSL signs in DER (an ASN.1 SEQUENCE of two INTEGERs), so every signature is
 * converted through ECDSA_SIG. */
#include "acme/acme.h"
#include "acme/acme_internal.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <string.h>

#include "common/alloc.h"
#include "core/dcv_records.h"
#include "pki/pki.h"

char *acme_b64url(const void *data, size_t len)
{
    char *out = xmalloc((4 * len + 2) / 3 + 1);
    dcv_base64url(data, len, out);
    return out;
}

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

int acme_b64url_decode(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 == 1)
        return -1; /* one leftover character carries fewer than 8 bits */
    unsigned char *buf = xmalloc(n * 3 / 4 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0) {
            xfree(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* The unused low bits of the last character must be zero (canonical encoding). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        xfree(buf);
        return -1;
    }
    *out = buf;
    *len = o;
    return 0;
}

/* base64url of a BIGNUM parameter of the key, left-padded to width bytes (0: minimal). */
static char *bn_param_b64(EVP_PKEY *key, const char *name, int width)
{
    BIGNUM *bn = NULL;
    char *out = NULL;
    if (!EVP_PKEY_get_bn_param(key, name, &bn))
        return NULL;
    int n = width ? width : BN_num_bytes(bn);
    unsigned char *buf = xmalloc((size_t)n + 1);
    if (BN_bn2binpad(bn, buf, n) == n)
        out = acme_b64url(buf, (size_t)n);
    xfree(buf);
    BN_free(bn);
    return out;
}

static bool is_p256(EVP_PKEY *key)
{
    char group[32];
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          NULL) &&
           strcmp(group, "prime256v1") == 0;
}

json_t *acme_jwk(EVP_PKEY *key)
{
    json_t *jwk = NULL;
    char *x = NULL, *y = NULL, *e = NULL, *n = NULL;
    if (is_p256(key)) {
        x = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        y = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        if (x && y)
            jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", x, "y", y);
    } else if (EVP_PKEY_is_a(key, "RSA")) {
        e = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E, 0);
        n = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N, 0);
        if (e && n)
            jwk = json_pack("{s:s, s:s, s:s}", "e", e, "kty", "RSA", "n", n);
    }
    xfree(x);
    xfree(y);
    xfree(e);
    xfree(n);
    return jwk;
}

/* RFC 7638: the required members only, sorted, no white space. json_pack above puts in only
 * the required members, and JSON_SORT_KEYS | JSON_COMPACT gives the canonical text. */
int acme_jwk_thumbprint(EVP_PKEY *key, char out[44])
{
    json_t *jwk = acme_jwk(key);
    if (!jwk)
        return -1;
    char *text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(jwk);
    if (!text)
        return -1;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    xfree(text);
    if (!ok)
        return -1;
    dcv_base64url(md, sizeof md, out);
    return 0;
}

/* "<b64(protected)>.<b64(payload)>": the JWS signing input (RFC 7515 §5.1). */
static char *signing_input(const char *prot64, const char *payload64)
{
    return xasprintf("%s.%s", prot64, payload64);
}

/* ES256 over input: DER from OpenSSL → raw R‖S (64 bytes), base64url. */
static char *es256_sign(EVP_PKEY *key, const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    ECDSA_SIG *sig = NULL;
    char *out = NULL;
    size_t derlen = 0;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    der = xmalloc(derlen);
    if (EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    const unsigned char *p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!sig)
        goto out;
    unsigned char raw[64];
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
        goto out;
    out = acme_b64url(raw, sizeof raw);
out:
    ECDSA_SIG_free(sig);
    xfree(der);
    EVP_MD_CTX_free(md);
    return out;
}

/* {"protected","payload","signature"} from a header object (consumed) and payload text. */
static json_t *flattened(json_t *header, const char *payload,
                         char *(*sign)(const void *, const char *), const void *sign_ctx)
{
    json_t *jws = NULL;
    char *hdr = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(header);
    if (!hdr)
        return NULL;
    char *prot64 = acme_b64url(hdr, strlen(hdr));
    char *pay64 = payload ? acme_b64url(payload, strlen(payload)) : xstrdup("");
    char *input = signing_input(prot64, pay64);
    char *sig = sign(sign_ctx, input);
    if (sig)
        jws = json_pack("{s:s, s:s, s:s}", "protected", prot64, "payload", pay64, "signature", sig);
    xfree(sig);
    xfree(input);
    xfree(pay64);
    xfree(prot64);
    xfree(hdr);
    return jws;
}

static char *sign_es256(const void *ctx, const char *input)
{
    return es256_sign((EVP_PKEY *)ctx, input);
}

char *acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                    const char *payload)
{
    if (!is_p256(key) || !nonce || !url)
        return NULL;
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
    if (kid) {
        json_object_set_new(header, "kid", json_string(kid));
    } else {
        json_t *jwk = acme_jwk(key);
        if (!jwk) {
            json_decref(header);
            return NULL;
        }
        json_object_set_new(header, "jwk", jwk);
    }
    json_t *jws = flattened(header, payload, sign_es256, key);
    if (!jws)
        return NULL;
    char *text = json_dumps(jws, JSON_COMPACT);
    json_decref(jws);
    return text;
}

struct hmac_key {
    const unsigned char *key;
    size_t len;
};

static char *sign_hs256(const void *ctx, const char *input)
{
    const struct hmac_key *k = ctx;
    unsigned char mac[32];
    size_t maclen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->key, k->len, (const unsigned char *)input,
                   strlen(input), mac, sizeof mac, &maclen) ||
        maclen != sizeof mac)
        return NULL;
    return acme_b64url(mac, maclen);
}

json_t *acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid, const unsigned char *mac_key,
                     size_t mac_len, const char *url)
{
    if (!eab_kid || !url || !mac_key || mac_len == 0)
        return NULL;
    json_t *jwk = acme_jwk(account_key);
    if (!jwk)
        return NULL;
    char *payload = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(jwk);
    if (!payload)
        return NULL;
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url);
    struct hmac_key k = {mac_key, mac_len};
    json_t *jws = flattened(header, payload, sign_hs256, &k);
    xfree(payload);
    return jws;
}

EVP_PKEY *acme_key_generate(void)
{
    return pki_key_generate(PKI_KEY_EC_P256);
}

int acme_key_to_pem(EVP_PKEY *key, char **pem, size_t *len)
{
    return pki_key_to_pem(key, pem, len);
}

EVP_PKEY *acme_key_from_pem(const char *pem, size_t len)
{
    EVP_PKEY *key = pki_key_from_pem(pem, len);
    if (key && !is_p256(key)) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* Key authorizations (RFC 8555 §8.1): the token must be base64url, as the server sent it. */
char *acme__key_authorization(const char *thumbprint, const char *token)
{
    size_t n = token ? strlen(token) : 0;
    if (n == 0 || n > 256)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (b64url_value((unsigned char)token[i]) < 0)
            return NULL;
    }
    return xasprintf("%s.%s", token, thumbprint);
}

int acme__dns01_value(const char *keyauth, char out[44])
{
    unsigned char md[32];
    if (!EVP_Digest(keyauth, strlen(keyauth), md, NULL, EVP_sha256(), NULL))
        return -1;
    dcv_base64url(md, sizeof md, out);
    return 0;
}
