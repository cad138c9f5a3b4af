/* Private keys over OpenSSL 3 EVP_PKEY: generation (RSA-2048, EC P-256/P-384), PKCS#8 PEM in
 * and out, the type and size names the API reports, the key policy for client CSRs and the
 * digest tlsward signs with under a given key. */
#include "pki/pki.h"
#include "pki/pki_internal.h"

#include "common/alloc.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

/* The key families tlsward knows; everything else is KEY_OTHER. */
enum key_family { KEY_OTHER, KEY_RSA, KEY_EC_P256, KEY_EC_P384, KEY_EC_OTHER };

/* Never asks for a passphrase: an encrypted PEM simply fails to load (the default callback
 * would prompt on the controlling terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* The NID of an EC key's named curve, or NID_undef (explicit parameters, not EC). */
static int ec_curve_nid(EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
        1)
        return NID_undef;
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid;
}

static enum key_family key_family(EVP_PKEY *key)
{
    if (!key)
        return KEY_OTHER;
    if (EVP_PKEY_is_a(key, "RSA"))
        return KEY_RSA;
    if (!EVP_PKEY_is_a(key, "EC"))
        return KEY_OTHER;
    switch (ec_curve_nid(key)) {
    case NID_X9_62_prime256v1:
        return KEY_EC_P256;
    case NID_secp384r1:
        return KEY_EC_P384;
    default:
        return KEY_EC_OTHER;
    }
}

EVP_PKEY *pki_key_generate(enum pki_key_kind kind)
{
    switch (kind) {
    case PKI_KEY_RSA_2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case PKI_KEY_EC_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case PKI_KEY_EC_P384:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    }
    return NULL;
}

int pki_key_to_pem(EVP_PKEY *key, char **pem, size_t *len)
{
    int rc = -1;
    *pem = NULL;
    *len = 0;
    /* A secure-memory BIO is cleansed when freed, so no copy of the key lingers in it. */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1)
        rc = pki__bio_to_string(bio, pem, len);

    BIO_free(bio);
    return rc;
}

EVP_PKEY *pki_key_from_pem(const char *pem, size_t len)
{
    EVP_PKEY *key = NULL;
    BIO *bio = pki__pem_reader(pem, len);
    if (bio)
        key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);

    BIO_free(bio);
    return key;
}

const char *pki_key_type_name(EVP_PKEY *key)
{
    switch (key_family(key)) {
    case KEY_RSA:
        return "rsa";
    case KEY_EC_P256:
    case KEY_EC_P384:
    case KEY_EC_OTHER:
        return "ecdsa";
    case KEY_OTHER:
        break;
    }
    return "unknown";
}

int pki_key_bits(EVP_PKEY *key)
{
    return EVP_PKEY_get_bits(key);
}

bool pki_key_acceptable(EVP_PKEY *key, const char **why)
{
    const char *reason = NULL;
    switch (key_family(key)) {
    case KEY_RSA:
        if (EVP_PKEY_get_bits(key) < 2048)
            reason = "RSA keys must be at least 2048 bits";
        break;
    case KEY_EC_P256:
    case KEY_EC_P384:
        break;
    case KEY_EC_OTHER:
        reason = "EC keys must use P-256 or P-384";
        break;
    case KEY_OTHER:
        reason = "unsupported key type";
        break;
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

const EVP_MD *pki_key_sign_digest(EVP_PKEY *key)
{
    switch (key_family(key)) {
    case KEY_RSA:
    case KEY_EC_P256:
        return EVP_sha256();
    case KEY_EC_P384:
        return EVP_sha384();
    case KEY_EC_OTHER:
    case KEY_OTHER:
        break;
    }
    return NULL;
}
