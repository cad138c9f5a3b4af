/* libFuzzer target for PEM input, as the API receives it: the CSR of POST
 * client_certificates (parse, signature, key policy, subject fields), the bundle of
 * POST ssl/analyze (chain parsing, every certificate fact the API reports, chain building
 * against an empty trust store) and an origin-pull upload (certificate and private key,
 * split at the first NUL byte or the same text for both, as the combined format some
 * proxies use). Whatever the input: no crash, no leak, bounded output. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "pki/chain.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cert_facts(X509 *cert)
{
    char fp[65], serial[48], ski[48];
    struct pki_subject issuer, subject;
    pki_cert_fingerprint(cert, fp);
    assert(fp[0] == '\0' || strlen(fp) == 64);
    pki_cert_serial_hex(cert, serial, sizeof serial);
    pki_cert_ski_hex(cert, ski, sizeof ski);
    assert(strlen(serial) < sizeof serial && strlen(ski) < sizeof ski);
    assert(pki_cert_signature_name(cert) != NULL);
    (void)pki_cert_not_before(cert);
    (void)pki_cert_not_after(cert);
    assert(pki_issuer_display(X509_get_issuer_name(cert), &issuer) != NULL);
    pki_subject_fields(X509_get_subject_name(cert), &subject);
    char **names = NULL;
    size_t count = 0;
    pki_cert_dns_names(cert, &names, &count);
    for (size_t i = 0; i < count; i++)
        xfree(names[i]);
    xfree(names);
}

static void csr(const char *text, size_t len)
{
    struct pki_csr *req = NULL;
    const char *why = NULL;
    if (pki_csr_parse(text, len, &req, &why) < 0) {
        assert(why && *why && !req);
        return;
    }
    struct pki_subject subject;
    pki_subject_fields(pki_csr_subject(req), &subject);
    EVP_PKEY *key = pki_csr_key(req);
    assert(key && pki_key_acceptable(key, &why));
    assert(pki_key_type_name(key) != NULL && pki_key_bits(key) > 0);
    pki_csr_free(req);
}

static void bundle(const char *text, size_t len)
{
    static X509_STORE *empty;
    if (!empty)
        empty = X509_STORE_new();
    STACK_OF(X509) *certs = NULL;
    const char *why = NULL;
    if (pki_chain_parse(text, len, &certs, &why) < 0) {
        assert(why && *why && !certs);
        return;
    }
    int n = sk_X509_num(certs);
    assert(n >= 1 && n <= PKI_CHAIN_MAX_CERTS);
    for (int i = 0; i < n; i++)
        cert_facts(sk_X509_value(certs, i));
    struct pki_chain chain;
    if (pki_chain_build(empty, certs, PKI_BUNDLE_FORCE, &chain) == 0) {
        assert(!chain.trusted && chain.error_count <= PKI_CHAIN_MAX_ERRORS);
        pki_chain_clear(&chain);
    }
    sk_X509_pop_free(certs, X509_free);
}

static void upload(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len)
{
    X509 *cert = pki_cert_from_pem(cert_pem, cert_len);
    EVP_PKEY *key = pki_key_from_pem(key_pem, key_len);
    if (cert)
        cert_facts(cert);
    if (key) {
        char *pem = NULL;
        size_t len = 0;
        (void)pki_key_type_name(key);
        if (pki_key_to_pem(key, &pem, &len) == 0)
            xfree(pem);
    }
    if (cert && key)
        (void)X509_check_private_key(cert, key);
    EVP_PKEY_free(key);
    X509_free(cert);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PKI_PEM_MAX)
        return 0;
    /* The API hands these parsers NUL-terminated strings. */
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);
    csr(text, len);
    bundle(text, len);
    const char *nul = memchr(data, 0, size);
    if (nul) {
        const char *second = text + (nul - (const char *)data) + 1;
        upload(text, len, second, strlen(second));
    } else {
        upload(text, len, text, len);
    }
    ERR_clear_error();
    xfree(text);
    return 0;
}
