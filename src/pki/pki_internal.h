/* Helpers shared by the files behind pki.h (key.c, csr.c, cert.c, crl.c). */
#ifndef TLSWARD_PKI_PKI_INTERNAL_H
#define TLSWARD_PKI_PKI_INTERNAL_H

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* µs since the epoch to whole seconds, rounding towards the past. */
time_t pki__us_to_time(int64_t us);
/* Copies what a memory BIO holds into a NUL-terminated heap string (xfree). 0 or -1. */
int pki__bio_to_string(BIO *bio, char **out, size_t *len);
/* A read-only memory BIO over a PEM text of 1..PKI_PEM_MAX bytes; NULL otherwise. */
BIO *pki__pem_reader(const char *pem, size_t len);

#define PKI__SERIAL_LEN 20 /* RFC 5280: a serial has at most 20 octets */
/* A certificate serial's bytes: `fixed` (20 bytes, tests) or random ones, then made
 * positive (top bit cleared) and never zero. */
void pki__serial_bytes(const unsigned char *fixed, unsigned char raw[PKI__SERIAL_LEN]);

/* The leaves' constant extensions, made once per process (cert.c); NULL when OpenSSL
 * could not make one. Borrowed, read-only. */
enum leaf_ext { LEAF_BC, LEAF_KU_EC, LEAF_KU_RSA, LEAF_EKU_CLIENT, LEAF_EKU_SERVER, LEAF_EXTS };
const X509_EXTENSION *pki__leaf_ext(enum leaf_ext which);
/* cRLDistributionPoints / authorityInfoAccess caIssuers with one URI; NULL on failure
 * (X509_EXTENSION_free). */
X509_EXTENSION *pki__crl_dp_ext(const char *url);
X509_EXTENSION *pki__ca_issuers_ext(const char *url);
/* Cloudflare's name of a signature algorithm (pki_cert_signature_name), static. */
const char *pki__signature_name(int sig_nid);
/* The PEM text of a DER certificate as PEM_write_bio_X509 writes it. *pem: xfree. */
void pki__der_to_pem(const unsigned char *der, size_t len, char **pem, size_t *pem_len);

#endif
