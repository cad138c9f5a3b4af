/* Unit tests of the CSR's direct PEM decoding (pki__csr_pem_fast, csr.c): every text it
 * reads, PEM_read_bio reads too, to the same DER, with a request label, no headers and
 * nothing but whitespace after the block (so pki_csr_parse's verdict cannot depend on which
 * reading ran); the canonical forms encoders write are read directly; everything else is
 * declined and left to PEM_read_bio. Checked on named variants and on bounded random
 * mutations of a real request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "pki/pki.h"
#include "pki/pki_internal.h"

static char *canonical; /* a P-256 request as PEM_write_bio_X509_REQ writes it */

/* What PEM_read_bio makes of text, as pki_csr_parse accepts it: 0 with the DER when it
 * reads one block with a request label and no headers followed only by whitespace. */
static int reference(const char *text, size_t len, unsigned char **der, long *der_len)
{
    char *name = NULL, *header = NULL, *rest = NULL;
    int rc = 1;
    *der = NULL;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    assert_non_null(bio);
    if (PEM_read_bio(bio, &name, &header, der, der_len) == 1 &&
        (strcmp(name, PEM_STRING_X509_REQ) == 0 || strcmp(name, PEM_STRING_X509_REQ_OLD) == 0) &&
        header[0] == '\0') {
        long n = BIO_get_mem_data(bio, &rest);
        rc = 0;
        for (long i = 0; i < n; i++)
            if (!strchr(" \t\r\n\f\v", rest[i]))
                rc = 1;
    }
    if (rc != 0) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* When the direct reading accepts text, the reference does, with the same DER. Returns
 * whether the direct reading accepted it. */
static bool agrees(const char *text, size_t len)
{
    unsigned char *fast = NULL, *ref = NULL;
    long fast_len = 0, ref_len = 0;
    int f = pki__csr_pem_fast(text, len, &fast, &fast_len);
    if (f == 0) {
        assert_int_equal(reference(text, len, &ref, &ref_len), 0);
        assert_int_equal(fast_len, ref_len);
        assert_memory_equal(fast, ref, (size_t)fast_len);
    } else {
        assert_int_equal(f, 1);
        assert_null(fast);
    }
    OPENSSL_free(fast);
    OPENSSL_free(ref);
    return f == 0;
}

/* Replaces every occurrence of from by to in s (a new string, xfree). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        n++;
    char *out = xmalloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    for (const char *p = s;;) {
        const char *hit = strstr(p, from);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
        p = hit + fl;
    }
    return out;
}

static void test_canonical_forms_read_directly(void **state)
{
    (void)state;
    size_t len = strlen(canonical);
    assert_true(agrees(canonical, len));
    char *crlf = replace_all(canonical, "\n", "\r\n");
    assert_true(agrees(crlf, strlen(crlf)));
    assert_true(agrees(canonical, len - 1)); /* no final line end */
    char *old = replace_all(canonical, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    assert_true(agrees(old, strlen(old)));
    char *trailing = xasprintf("%s \n\t\n", canonical);
    assert_true(agrees(trailing, strlen(trailing)));

    /* And pki_csr_parse reads each to the same request. */
    const char *texts[] = {canonical, crlf, old, trailing};
    for (size_t i = 0; i < 4; i++) {
        struct pki_csr *csr = NULL;
        const char *why = NULL;
        assert_int_equal(pki_csr_parse(texts[i], strlen(texts[i]), &csr, &why), 0);
        pki_csr_free(csr);
    }
    xfree(crlf);
    xfree(old);
    xfree(trailing);
}

/* Forms the direct reading leaves to PEM_read_bio; pki_csr_parse still gives each the
 * verdict of that reading (accepted or the same reason as before). */
static void test_other_forms_declined(void **state)
{
    (void)state;
    struct {
        const char *from, *to;
        const char *why; /* NULL: still accepted through PEM_read_bio */
    } variants[] = {
        {"REQUEST-----\n", "REQUEST-----\n\n", NULL},
        {"REQUEST-----\n", "REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n",
         "csr: not a PEM certificate request"},
        {"-----END CERTIFICATE REQUEST-----", "-----END CERTIFICATE-----",
         "csr: not a PEM certificate request"},
        {"-----BEGIN CERTIFICATE REQUEST-----", "-----BEGIN CERTIFICATE-----",
         "csr: not a PEM certificate request"},
        {"-----END CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST-----\nx",
         "csr: unexpected data after the certificate request"},
        {"REQUEST-----\n", "REQUEST----- \n", NULL},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char *text = replace_all(canonical, variants[i].from, variants[i].to);
        assert_false(agrees(text, strlen(text)));
        struct pki_csr *csr = NULL;
        const char *why = NULL;
        int rc = pki_csr_parse(text, strlen(text), &csr, &why);
        if (variants[i].why) {
            assert_int_equal(rc, -1);
            assert_string_equal(why, variants[i].why);
        } else {
            assert_int_equal(rc, 0);
        }
        pki_csr_free(csr);
        xfree(text);
    }
    /* Lines of 76 characters (another common width): declined, still read by PEM_read_bio. */
    unsigned char *der = NULL;
    long der_len = 0;
    assert_int_equal(reference(canonical, strlen(canonical), &der, &der_len), 0);
    char *b64 = xmalloc((size_t)der_len * 2 + 8);
    int b64_len = EVP_EncodeBlock((unsigned char *)b64, der, (int)der_len);
    OPENSSL_free(der);
    char *wide = xmalloc((size_t)b64_len * 2 + 128), *w = wide;
    w += sprintf(w, "-----BEGIN CERTIFICATE REQUEST-----\n");
    for (int at = 0; at < b64_len; at += 76)
        w += sprintf(w, "%.*s\n", b64_len - at < 76 ? b64_len - at : 76, b64 + at);
    sprintf(w, "-----END CERTIFICATE REQUEST-----\n");
    assert_false(agrees(wide, strlen(wide)));
    struct pki_csr *csr = NULL;
    assert_int_equal(pki_csr_parse(wide, strlen(wide), &csr, NULL), 0);
    pki_csr_free(csr);
    xfree(wide);
    xfree(b64);
}

/* Random single and double byte changes (a fixed seed, bounded): whatever the direct
 * reading accepts, PEM_read_bio accepts with the same DER. */
static void test_mutations_agree(void **state)
{
    (void)state;
    static const char alphabet[] = "A/+=-\r\n \t:xBEGINEND\0";
    size_t len = strlen(canonical);
    char *text = xmalloc(len + 1);
    srand(13);
    int accepted = 0;
    for (int round = 0; round < 4000; round++) {
        memcpy(text, canonical, len + 1);
        for (int k = 0; k <= round % 2; k++)
            text[(size_t)rand() % len] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
        size_t cut = round % 7 == 0 ? (size_t)rand() % len : len;
        accepted += agrees(text, cut);
    }
    xfree(text);
    assert_true(accepted > 0); /* some changes (A for A, a line end kept) leave it readable */
}

int main(void)
{
    EVP_PKEY *key = pki_key_generate(PKI_KEY_EC_P256);
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_REQ_get_subject_name(req);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (!key || !req || !bio ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)"pem.example.com", -1, -1, 0) ||
        X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
        PEM_write_bio_X509_REQ(bio, req) != 1)
        return 1;
    long n = BIO_get_mem_data(bio, &data);
    canonical = xstrndup(data, (size_t)n);
    BIO_free(bio);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_forms_read_directly),
        cmocka_unit_test(test_other_forms_declined),
        cmocka_unit_test(test_mutations_agree),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    xfree(canonical);
    return failed;
}
