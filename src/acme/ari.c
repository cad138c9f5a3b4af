/* ACME Renewal Information (RFC 9773): the CertID that names a certificate to the server,
 * the renewalInfo request and its suggested window, and the random point in the window at
 * which to renew (spreading renewals so a CA is not hit by all its clients at once). */
#include <openssl/asn1.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "acme/acme.h"
#include "acme/acme_internal.h"
#include "common/alloc.h"
#include "common/util.h"

char *acme_ari_cert_id(X509 *leaf)
{
    char *out = NULL, *aki64 = NULL, *serial64 = NULL;
    unsigned char *der = NULL;
    AUTHORITY_KEYID *akid = X509_get_ext_d2i(leaf, NID_authority_key_identifier, NULL, NULL);
    if (!akid || !akid->keyid || ASN1_STRING_length(akid->keyid) <= 0)
        goto out;
    aki64 =
        acme_b64url(ASN1_STRING_get0_data(akid->keyid), (size_t)ASN1_STRING_length(akid->keyid));
    /* The serial's DER content octets: the INTEGER's encoding without its tag and length,
     * so a positive serial whose top bit is set keeps the 0x00 that DER puts before it. */
    int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(leaf), &der);
    if (n <= 0)
        goto out;
    const unsigned char *p = der;
    long content_len = 0;
    int tag = 0, cls = 0;
    int ret = ASN1_get_object(&p, &content_len, &tag, &cls, n);
    if ((ret & 0x80) || tag != V_ASN1_INTEGER || content_len <= 0 || p + content_len != der + n)
        goto out;
    serial64 = acme_b64url(p, (size_t)content_len);
    out = xasprintf("%s.%s", aki64, serial64);
out:
    xfree(serial64);
    xfree(aki64);
    OPENSSL_free(der);
    AUTHORITY_KEYID_free(akid);
    return out;
}

void acme_renewal_free(struct acme_renewal *r)
{
    xfree(r->explanation_url);
    memset(r, 0, sizeof *r);
}

int acme_ari_parse(const char *body, size_t len, struct acme_renewal *out)
{
    memset(out, 0, sizeof *out);
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *win = json_object_get(doc, "suggestedWindow");
    const char *start = json_string_value(json_object_get(win, "start"));
    const char *end = json_string_value(json_object_get(win, "end"));
    int rc = -1;
    if (start && end && util_parse_time(start, &out->start_us) == 0 &&
        util_parse_time(end, &out->end_us) == 0 && out->start_us < out->end_us) {
        out->explanation_url = acme__url_member(doc, "explanationURL");
        rc = 0;
    }
    json_decref(doc);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int64_t acme_ari_pick(const struct acme_renewal *r, int64_t now_us)
{
    if (r->end_us <= now_us)
        return now_us; /* the window has passed: renew now */
    int64_t from = r->start_us > now_us ? r->start_us : now_us;
    uint64_t span = (uint64_t)(r->end_us - from), rnd;
    util_random_bytes(&rnd, sizeof rnd);
    /* Modulo bias is at most span / 2^64: far below a microsecond for any real window. */
    return from + (int64_t)(rnd % span);
}

int acme_ari_get(struct acme_client *c, const char *cert_id, struct acme_renewal *out,
                 struct acme_error *err)
{
    memset(out, 0, sizeof *out);
    const struct acme_directory *d;
    int rc = acme_client_directory(c, &d, err);
    if (rc)
        return rc;
    if (!d->renewal_info)
        return acme__fail(err, ACME_E_INVALID, "the directory has no renewalInfo");
    if (!cert_id || strlen(cert_id) > 512 ||
        strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
            strlen(cert_id))
        return acme__fail(err, ACME_E_INVALID, "not an ARI CertID");
    const char *base = d->renewal_info;
    size_t bl = strlen(base);
    char *url = xasprintf("%s%s%s", base, bl && base[bl - 1] == '/' ? "" : "/", cert_id);
    struct acme__resp r;
    rc = acme__get(c, ACME_EP_RENEWAL_INFO, url, &r, err);
    xfree(url);
    if (rc == 0 && acme_ari_parse(r.body, r.len, out) != 0) {
        err->endpoint = acme_endpoint_name(ACME_EP_RENEWAL_INFO);
        rc = acme__fail(err, ACME_E_PROTOCOL, "renewalInfo has no valid suggestedWindow");
    }
    if (rc == 0)
        out->retry_after_us = r.retry_after_us;
    acme__resp_free(&r);
    return rc;
}
