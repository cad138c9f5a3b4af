/* Unit tests of pki/seal: AES-256-GCM round trips, every kind of tampering, and the
 * master key file (creation mode/size/exclusivity, refusals on load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "pki/seal.h"

/* Two fixed keys differing in one bit of their last byte (filled in by main). */
static unsigned char key_a[SEAL_KEY_LEN], key_b[SEAL_KEY_LEN];
static const char secret[] = "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n";

/* Seals `secret` under key_a with aad "client-ca:1". */
static unsigned char *seal_secret(size_t *len)
{
    unsigned char *blob = NULL;
    assert_int_equal(seal_encrypt(key_a, secret, strlen(secret), "client-ca:1", &blob, len), 0);
    assert_int_equal(*len, strlen(secret) + SEAL_OVERHEAD);
    return blob;
}

/* Asserts that the blob does not open under (key, aad) and leaves *out alone. */
static void assert_refused(const unsigned char *key, const unsigned char *blob, size_t len,
                           const char *aad)
{
    unsigned char *out = NULL;
    size_t out_len = 12345;
    assert_int_equal(seal_decrypt(key, blob, len, aad, &out, &out_len), -1);
    assert_null(out);
}

static void test_round_trip(void **state)
{
    size_t len;
    unsigned char *blob = seal_secret(&len);
    assert_int_equal(blob[0], 1); /* version byte */
    /* The ciphertext is not the plaintext. */
    assert_memory_not_equal(blob + 13, secret, strlen(secret));

    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(seal_decrypt(key_a, blob, len, "client-ca:1", &out, &out_len), 0);
    assert_int_equal(out_len, strlen(secret));
    assert_memory_equal(out, secret, out_len);
    xfree(out);

    /* Two seals of the same text differ (fresh nonce), both open. */
    size_t len2;
    unsigned char *blob2 = seal_secret(&len2);
    assert_int_equal(len, len2);
    assert_memory_not_equal(blob + 1, blob2 + 1, 12);
    assert_memory_not_equal(blob, blob2, len);
    assert_int_equal(seal_decrypt(key_a, blob2, len2, "client-ca:1", &out, &out_len), 0);
    assert_memory_equal(out, secret, out_len);
    xfree(out);
    xfree(blob2);
    xfree(blob);
}

static void test_null_aad(void **state)
{
    unsigned char *blob = NULL, *out = NULL;
    size_t len, out_len;
    assert_int_equal(seal_encrypt(key_a, "abc", 3, NULL, &blob, &len), 0);
    assert_int_equal(seal_decrypt(key_a, blob, len, NULL, &out, &out_len), 0);
    assert_int_equal(out_len, 3);
    assert_memory_equal(out, "abc", 3);
    xfree(out);
    /* A blob sealed without aad does not open with one. */
    assert_refused(key_a, blob, len, "zone:1");
    xfree(blob);
}

static void test_wrong_key(void **state)
{
    size_t len;
    unsigned char *blob = seal_secret(&len);
    assert_refused(key_b, blob, len, "client-ca:1");
    xfree(blob);
}

static void test_wrong_aad(void **state)
{
    size_t len;
    unsigned char *blob = seal_secret(&len);
    assert_refused(key_a, blob, len, "client-ca:2");
    assert_refused(key_a, blob, len, NULL);
    assert_refused(key_a, blob, len, "");
    xfree(blob);
}

static void test_flipped_bits(void **state)
{
    size_t len;
    unsigned char *blob = seal_secret(&len);
    /* Every byte of the blob matters: version, nonce, ciphertext and tag. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            blob[i] ^= (unsigned char)(1u << bit);
            assert_refused(key_a, blob, len, "client-ca:1");
            blob[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* Untampered still opens (the loop restored every byte). */
    unsigned char *out = NULL;
    size_t out_len;
    assert_int_equal(seal_decrypt(key_a, blob, len, "client-ca:1", &out, &out_len), 0);
    xfree(out);
    xfree(blob);
}

static void test_truncated(void **state)
{
    size_t len;
    unsigned char *blob = seal_secret(&len);
    for (size_t n = 0; n < len; n++)
        assert_refused(key_a, blob, n, "client-ca:1");
    /* Appended garbage fails too (the tag is taken from the end). */
    unsigned char *longer = xmalloc(len + 1);
    memcpy(longer, blob, len);
    longer[len] = 0;
    assert_refused(key_a, longer, len + 1, "client-ca:1");
    xfree(longer);
    xfree(blob);
}

static void test_empty_plaintext(void **state)
{
    unsigned char *blob = NULL, *out = NULL;
    size_t len = 0, out_len = 99;
    assert_int_equal(seal_encrypt(key_a, "", 0, "empty", &blob, &len), 0);
    assert_int_equal(len, SEAL_OVERHEAD);
    assert_int_equal(seal_decrypt(key_a, blob, len, "empty", &out, &out_len), 0);
    assert_int_equal(out_len, 0);
    assert_non_null(out);
    xfree(out);
    /* Even with nothing to hide the tag authenticates key and aad. */
    assert_refused(key_a, blob, len, "other");
    assert_refused(key_b, blob, len, "empty");
    blob[len - 1] ^= 1;
    assert_refused(key_a, blob, len, "empty");
    xfree(blob);
}

/* ---- key files ---- */

static int setup_dir(void **state)
{
    char *dir = xstrdup("/tmp/tlsward-test-seal-XXXXXX");
    if (!mkdtemp(dir)) {
        xfree(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", (char *)*state);
    int rc = system(cmd);
    xfree(cmd);
    xfree(*state);
    return rc == 0 ? 0 : -1;
}

static void test_key_create_and_load(void **state)
{
    char *path = xasprintf("%s/master.key", (char *)*state);
    mode_t old = umask(0); /* 0600 must not depend on the umask */
    assert_int_equal(seal_key_create(path), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, SEAL_KEY_LEN);

    unsigned char key[SEAL_KEY_LEN], again[SEAL_KEY_LEN], zero[SEAL_KEY_LEN] = {0};
    assert_int_equal(seal_key_load(path, key), 0);
    assert_memory_not_equal(key, zero, SEAL_KEY_LEN);
    char *raw = NULL;
    size_t raw_len;
    assert_int_equal(fsutil_read_file(path, 64, &raw, &raw_len), 0);
    assert_int_equal(raw_len, SEAL_KEY_LEN);
    assert_memory_equal(raw, key, SEAL_KEY_LEN);
    xfree(raw);

    /* The loaded key opens what it sealed. */
    unsigned char *blob = NULL, *out = NULL;
    size_t len, out_len;
    assert_int_equal(seal_encrypt(key, "s", 1, "a", &blob, &len), 0);
    assert_int_equal(seal_key_load(path, again), 0);
    assert_int_equal(seal_decrypt(again, blob, len, "a", &out, &out_len), 0);
    xfree(out);
    xfree(blob);

    /* A second key file is a different key. */
    char *other = xasprintf("%s/other.key", (char *)*state);
    assert_int_equal(seal_key_create(other), 0);
    assert_int_equal(seal_key_load(other, again), 0);
    assert_memory_not_equal(key, again, SEAL_KEY_LEN);
    xfree(other);
    xfree(path);
}

static void test_key_create_refuses_existing(void **state)
{
    char *path = xasprintf("%s/master.key", (char *)*state);
    assert_int_equal(seal_key_create(path), 0);
    unsigned char before[SEAL_KEY_LEN], after[SEAL_KEY_LEN];
    assert_int_equal(seal_key_load(path, before), 0);
    errno = 0;
    assert_int_equal(seal_key_create(path), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(seal_key_load(path, after), 0);
    assert_memory_equal(before, after, SEAL_KEY_LEN); /* the key was not replaced */
    /* No temp file was left next to it. */
    char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1", (char *)*state);
    assert_int_equal(system(cmd), 0);
    xfree(cmd);
    xfree(path);
}

static void test_key_load_refusals(void **state)
{
    unsigned char key[SEAL_KEY_LEN];
    char *path = xasprintf("%s/k", (char *)*state);

    /* Missing. */
    assert_int_equal(seal_key_load(path, key), -1);

    /* Right size but readable by group/others. */
    unsigned char bytes[SEAL_KEY_LEN + 1] = {1, 2, 3};
    assert_int_equal(fsutil_write_atomic(path, bytes, SEAL_KEY_LEN, 0644, 0), 0);
    assert_int_equal(seal_key_load(path, key), -1);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(seal_key_load(path, key), -1);
    assert_int_equal(chmod(path, 0602), 0);
    assert_int_equal(seal_key_load(path, key), -1);
    assert_int_equal(chmod(path, 0400), 0); /* owner-only read is fine */
    assert_int_equal(seal_key_load(path, key), 0);
    assert_memory_equal(key, bytes, SEAL_KEY_LEN);

    /* Wrong sizes with a correct mode. */
    assert_int_equal(fsutil_write_atomic(path, bytes, SEAL_KEY_LEN - 1, 0600, 0), 0);
    assert_int_equal(seal_key_load(path, key), -1);
    assert_int_equal(fsutil_write_atomic(path, bytes, SEAL_KEY_LEN + 1, 0600, 0), 0);
    assert_int_equal(seal_key_load(path, key), -1);
    assert_int_equal(fsutil_write_atomic(path, bytes, 0, 0600, 0), 0);
    assert_int_equal(seal_key_load(path, key), -1);

    /* A directory is not a key file. */
    assert_int_equal(seal_key_load(*state, key), -1);
    xfree(path);
}

int main(void)
{
    for (int i = 0; i < SEAL_KEY_LEN; i++)
        key_a[i] = key_b[i] = (unsigned char)(i * 7 + 3);
    key_b[SEAL_KEY_LEN - 1] ^= 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_null_aad),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_wrong_aad),
        cmocka_unit_test(test_flipped_bits),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_empty_plaintext),
        cmocka_unit_test_setup_teardown(test_key_create_and_load, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_create_refuses_existing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_key_load_refusals, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
