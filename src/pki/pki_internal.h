/* Helpers shared by the files behind pki.h (key.c, csr.c, cert.c, crl.c). */
#ifndef TLSWARD_PKI_PKI_INTERNAL_H
#define TLSWARD_PKI_PKI_INTERNAL_H

#include <openssl/bio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* µs since the epoch to whole seconds, rounding towards the past. */
time_t pki__us_to_time(int64_t us);
/* Copies what a memory BIO holds into a NUL-terminated heap string (xfree). 0 or -1. */
int pki__bio_to_string(BIO *bio, char **out, size_t *len);
/* A read-only memory BIO over a PEM text of 1..PKI_PEM_MAX bytes; NULL otherwise. */
BIO *pki__pem_reader(const char *pem, size_t len);

#endif
