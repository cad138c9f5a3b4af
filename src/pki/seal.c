/* Secrets at rest: the 32-byte master key file and AES-256-GCM seal/open (OpenSSL 3 EVP).
 *
 * Blob: version (1) | nonce (12, RAND_bytes) | ciphertext (same length as the plaintext)
 * | GCM tag (16). The aad string, when given, is authenticated but not stored: the caller
 * supplies the same string (the blob's place) to open it. A random 96-bit nonce per blob
 * is safe for far more seals than one key will ever see here (NIST's 2^32 limit). */
#include "pki/seal.h"

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SEAL_VERSION 1
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16

_Static_assert(SEAL_OVERHEAD == 1 + SEAL_NONCE_LEN + SEAL_TAG_LEN, "blob layout");

int seal_key_create(const char *path)
{
    unsigned char key[SEAL_KEY_LEN];
    if (RAND_bytes(key, sizeof key) != 1) {
        log_msg(LOG_ERROR, "seal: CSPRNG failure creating %s", path);
        errno = EIO;
        return -1;
    }
    int rc = fsutil_write_atomic(path, key, sizeof key, 0600, 1);
    int saved = errno;
    OPENSSL_cleanse(key, sizeof key);
    errno = saved;
    return rc;
}

int seal_key_load(const char *path, unsigned char key[SEAL_KEY_LEN])
{
    unsigned char buf[SEAL_KEY_LEN + 1];
    int rc = -1, saved = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        saved = errno;
        log_msg(LOG_ERROR, "seal: cannot open key file %s: %s", path, strerror(saved));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        saved = errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size != SEAL_KEY_LEN) {
        log_msg(LOG_ERROR, "seal: key file %s must be a regular file of exactly %d bytes", path,
                SEAL_KEY_LEN);
        saved = EINVAL;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        log_msg(LOG_ERROR,
                "seal: key file %s has mode %04o; it must not grant group or other "
                "permissions (chmod 600)",
                path, (unsigned)(st.st_mode & 07777));
        saved = EACCES;
        goto out;
    }
    /* Read one byte more than expected, in case the file grew since fstat. */
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            saved = errno;
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got != SEAL_KEY_LEN) {
        log_msg(LOG_ERROR, "seal: key file %s changed size while being read", path);
        saved = EINVAL;
        goto out;
    }
    memcpy(key, buf, SEAL_KEY_LEN);
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        errno = saved;
    return rc;
}

/* Feeds the aad (if any) to an initialised GCM context. 1 on success as OpenSSL does. */
static int seal__aad(EVP_CIPHER_CTX *ctx, const char *aad, int encrypt)
{
    if (!aad || !*aad)
        return 1;
    size_t n = strlen(aad);
    if (n > INT_MAX)
        return 0;
    int len;
    return encrypt ? EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)n)
                   : EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)n);
}

int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *plain, size_t n,
                 const char *aad, unsigned char **out, size_t *out_len)
{
    if (n > (size_t)INT_MAX - SEAL_OVERHEAD)
        return -1;
    unsigned char *blob = xmalloc(n + SEAL_OVERHEAD);
    unsigned char *nonce = blob + 1, *ct = blob + 1 + SEAL_NONCE_LEN, *tag = ct + n;
    EVP_CIPHER_CTX *ctx = NULL;
    int rc = -1, len = 0;

    blob[0] = SEAL_VERSION;
    if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
        seal__aad(ctx, aad, 1) != 1)
        goto out;
    if (n > 0 && EVP_EncryptUpdate(ctx, ct, &len, plain, (int)n) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc == 0) {
        *out = blob;
        *out_len = n + SEAL_OVERHEAD;
    } else {
        log_msg(LOG_ERROR, "seal: encryption failed");
        OPENSSL_cleanse(blob, n + SEAL_OVERHEAD);
        xfree(blob);
    }
    return rc;
}

int seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const unsigned char *sealed, size_t n,
                 const char *aad, unsigned char **out, size_t *out_len)
{
    if (n < SEAL_OVERHEAD || n > (size_t)INT_MAX || sealed[0] != SEAL_VERSION)
        return -1;
    const unsigned char *nonce = sealed + 1, *ct = sealed + 1 + SEAL_NONCE_LEN;
    size_t ct_len = n - SEAL_OVERHEAD;
    const unsigned char *tag = ct + ct_len;
    /* One spare byte so a decrypted text secret (a PEM) is NUL-terminated. */
    unsigned char *plain = xmalloc(ct_len + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = -1, len = 0;

    if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
        seal__aad(ctx, aad, 0) != 1)
        goto out;
    if (ct_len > 0 && EVP_DecryptUpdate(ctx, plain, &len, ct, (int)ct_len) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, (void *)tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, plain + len, &len) != 1) /* tag mismatch: tampered */
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc == 0) {
        plain[ct_len] = '\0';
        *out = plain;
        *out_len = ct_len;
    } else {
        OPENSSL_cleanse(plain, ct_len + 1);
        xfree(plain);
    }
    return rc;
}
