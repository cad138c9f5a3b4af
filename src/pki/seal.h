/* Secrets at rest: the 32-byte master key file and AES-256-GCM seal/open.
 *
 * Sealed blob layout: version byte (1) | 12-byte random nonce | ciphertext | 16-byte tag.
 * The associated data (aad) binds a blob to its place (e.g. "client-ca:<id>"), so a blob
 * copied to another row fails to open. */
#ifndef TLSWARD_PKI_SEAL_H
#define TLSWARD_PKI_SEAL_H

#include <stddef.h>

#define SEAL_KEY_LEN 32
#define SEAL_OVERHEAD (1 + 12 + 16)

/* Creates the key file with 32 CSPRNG bytes, mode 0600, atomically (temp file, fsync,
 * rename, fsync of the directory). Fails (-1, errno EEXIST) if the file exists. */
int seal_key_create(const char *path);
/* Loads a key file; -1 if missing, not exactly 32 bytes, or readable by group/others. */
int seal_key_load(const char *path, unsigned char key[SEAL_KEY_LEN]);

/* Encrypts n bytes; *out (caller xfree's) holds n + SEAL_OVERHEAD bytes. 0 or -1. */
int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *plain, size_t n,
                 const char *aad, unsigned char **out, size_t *out_len);
/* Decrypts and authenticates; -1 on any tampering, wrong key or wrong aad.
 * *out (caller xfree's, after wiping with OPENSSL_cleanse if it is a secret). */
int seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const unsigned char *sealed, size_t n,
                 const char *aad, unsigned char **out, size_t *out_len);

#endif
