/* End-to-end tests of the lifecycle worker (worker/worker.c, worker/jobs.c) without HTTP:
 * a real SQLite store, a managed client CA made by client_ca_ensure, client certificates
 * signed from CSRs built here with OpenSSL, then revocation and reactivation requested as
 * the API does and finished by worker_run_due, checked down to the re-signed DER CRL.
 * Also unknown and vanished targets, a transient failure and its back-off, two workers
 * racing over one queue, and the worker thread's wake-up and stop. Lanes and leases: a
 * pack whose validation check waits on a DNS server that never answers (a slow job of the
 * general lane) does not delay a revocation, keeps its lease through the heartbeat,
 * commits nothing once its lease is taken away, and is finished before worker_stop
 * returns; worker_lease_held turns false once another owner took the lease. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "app.h"
#include "common/alloc.h"
#include "common/util.h"
#include "dcv/dcv.h"
#include "pki/client_ca.h"
#include "pki/pki.h"
#include "store/store.h"
#include "worker/worker.h"
#include "testutil.h"
#include "tu_dnsmasq.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)
#define MAX_ROUNDS 10 /* worker_run_due calls before a test gives up on "nothing due" */

struct fixture {
    char *dir;
    char *path;
    struct app app;
    char account_id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof *fx);
    tu_temp_store("/tmp/tlsward-test-worker-XXXXXX", 4, &fx->dir, &fx->path, &fx->app.store);
    util_random_bytes(fx->app.master_key, sizeof fx->app.master_key);
    fx->app.client_cas = client_ca_cache_create();
    fx->app.config.client_ca_key = PKI_KEY_EC_P256;
    fx->app.config.worker_interval_us = 60 * SEC;
    fx->app.config.data_dir = fx->dir;

    tu_add_account(fx->app.store, "worker@example.com", "worker account", fx->account_id);
    tu_add_zone(fx->app.store, fx->account_id, "worker.example", fx->zone_id);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    client_ca_cache_destroy(fx->app.client_cas);
    tu_close_store(fx->app.store, fx->path, fx->dir);
    xfree(fx);
    return 0;
}

/* ---- OpenSSL helpers ---- */

static X509 *parse_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    assert_non_null(b);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static X509_CRL *parse_crl(const struct store_client_ca *ca)
{
    assert_non_null(ca->crl_der);
    assert_true(ca->crl_len > 0);
    const unsigned char *p = ca->crl_der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)ca->crl_len);
    assert_non_null(crl);
    assert_ptr_equal(p, ca->crl_der + ca->crl_len);
    return crl;
}

static long crl_number(X509_CRL *crl)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    assert_non_null(n);
    long v = ASN1_INTEGER_get(n);
    ASN1_INTEGER_free(n);
    return v;
}

static int crl_entries(X509_CRL *crl)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    return revs ? sk_X509_REVOKED_num(revs) : 0;
}

/* Whether the CRL lists cert's serial; when it does and revoked_on_us is not 0, its
 * revocation date is that time (to the second). */
static bool crl_lists(X509_CRL *crl, X509 *cert, int64_t revoked_on_us)
{
    X509_REVOKED *r = NULL;
    if (X509_CRL_get0_by_serial(crl, &r, X509_get0_serialNumber(cert)) != 1)
        return false;
    if (revoked_on_us)
        assert_int_equal(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r),
                                              (time_t)(revoked_on_us / SEC)),
                         0);
    return true;
}

/* The stored CA's CRL: parsed, signed by the CA, issued by it. Caller X509_CRL_free's. */
static X509_CRL *checked_crl(const struct store_client_ca *ca, X509 *ca_cert)
{
    X509_CRL *crl = parse_crl(ca);
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca_cert)), 1);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca_cert)), 0);
    assert_int_equal(X509_CRL_get_version(crl), 1); /* v2 */
    assert_int_equal((uint64_t)crl_number(crl), ca->crl_number);
    return crl;
}

/* A PEM CSR for a fresh P-256 key with a full subject (xfree). */
static char *make_csr(unsigned n)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509_REQ *req = X509_REQ_new();
    assert_non_null(req);
    assert_int_equal(X509_REQ_set_version(req, 0), 1);
    X509_NAME *name = X509_REQ_get_subject_name(req);
    char cn[64];
    snprintf(cn, sizeof cn, "client-%u.worker.example", n);
    static const char *const fields[][2] = {{"C", "GB"},
                                            {"ST", "Scotland"},
                                            {"L", "Edinburgh"},
                                            {"O", "Tlsward Tests"},
                                            {"OU", "Workers"}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, fields[i][0], MBSTRING_UTF8,
                                                    (const unsigned char *)fields[i][1], -1, -1, 0),
                         1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
    assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_REQ(b, req), 1);
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    char *pem = xstrndup(data, (size_t)len);
    BIO_free(b);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return pem;
}

/* Signs a CSR for certificate n with the CA as the API would, stores the record (active,
 * in zone_id) in *rec (store_client_cert_clear) and returns the certificate (X509_free). */
static X509 *issue(struct fixture *fx, const char *zone_id, const struct store_client_ca *ca,
                   X509 *ca_cert, unsigned n, struct store_client_cert *rec)
{
    char *csr_pem = make_csr(n);
    struct pki_csr *req = NULL;
    const char *why = NULL;
    assert_int_equal(pki_csr_parse(csr_pem, strlen(csr_pem), &req, &why), 0);
    int64_t now = util_now_us();
    X509 *cert = NULL;
    assert_int_equal(client_ca_sign(&fx->app, ca, req, 30, now, &cert), 0);
    assert_non_null(cert);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca_cert)), 1);
    assert_int_equal(X509_check_issued(ca_cert, cert), X509_V_OK);
    assert_int_equal(X509_check_ca(cert), 0);
    assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0), 1);

    memset(rec, 0, sizeof *rec);
    util_random_id(rec->id);
    snprintf(rec->zone_id, sizeof rec->zone_id, "%s", zone_id);
    snprintf(rec->ca_id, sizeof rec->ca_id, "%s", ca->id);
    assert_int_equal(STORE_ENUM_PARSE("active", &rec->status), 0);
    pki_cert_serial_hex(cert, rec->serial, sizeof rec->serial);
    pki_cert_fingerprint(cert, rec->fingerprint);
    pki_cert_ski_hex(cert, rec->ski, sizeof rec->ski);
    snprintf(rec->signature, sizeof rec->signature, "%s", pki_cert_signature_name(cert));
    struct pki_subject subj;
    pki_subject_fields(X509_get_subject_name(cert), &subj);
    snprintf(rec->common_name, sizeof rec->common_name, "%s", subj.common_name);
    snprintf(rec->country, sizeof rec->country, "%s", subj.country);
    snprintf(rec->state, sizeof rec->state, "%s", subj.state);
    snprintf(rec->location, sizeof rec->location, "%s", subj.locality);
    snprintf(rec->organization, sizeof rec->organization, "%s", subj.organization);
    snprintf(rec->organizational_unit, sizeof rec->organizational_unit, "%s",
             subj.organizational_unit);
    assert_string_equal(rec->country, "GB");
    assert_true(strlen(rec->serial) > 0);
    rec->csr = csr_pem;
    size_t len = 0;
    assert_int_equal(pki_cert_to_pem(cert, &rec->certificate, &len), 0);
    rec->validity_days = 30;
    rec->issued_on = pki_cert_not_before(cert);
    rec->expires_on = pki_cert_not_after(cert);
    assert_int_equal(rec->expires_on - rec->issued_on, 30 * DAY);
    rec->created_on = rec->modified_on = now;
    assert_int_equal(store_client_cert_create(fx->app.store, rec), STORE_OK);
    pki_csr_free(req);
    return cert;
}

/* ---- store helpers ---- */

static struct store_client_ca ensure_ca(struct fixture *fx, X509 **ca_cert)
{
    struct store_client_ca ca;
    assert_int_equal(client_ca_ensure(&fx->app, fx->account_id, &ca), STORE_OK);
    *ca_cert = parse_cert(ca.cert_pem);
    return ca;
}

static struct store_client_ca reload_ca(struct fixture *fx, const char *id)
{
    struct store_client_ca ca;
    assert_int_equal(store_client_ca_get(fx->app.store, id, &ca), STORE_OK);
    return ca;
}

static void request(struct fixture *fx, const struct store_client_cert *c, const char *from,
                    const char *to, const char *kind)
{
    struct store_client_cert out;
    enum store_cert_status from_id, to_id;
    enum store_job_kind kind_id;
    assert_int_equal(STORE_ENUM_PARSE(from, &from_id), 0);
    assert_int_equal(STORE_ENUM_PARSE(to, &to_id), 0);
    assert_int_equal(STORE_ENUM_PARSE(kind, &kind_id), 0);
    assert_int_equal(store_client_cert_request(fx->app.store, c->zone_id, c->id, from_id, to_id,
                                               kind_id, util_now_us(), &out),
                     STORE_OK);
    assert_string_equal(STORE_ENUM_NAME(out.status), to);
    store_client_cert_clear(&out);
}

static struct store_client_cert get_cert(struct fixture *fx, const char *id)
{
    struct store_client_cert c;
    assert_int_equal(store_client_cert_get(fx->app.store, fx->zone_id, id, &c), STORE_OK);
    return c;
}

/* Runs the worker until nothing is due (bounded); returns how many jobs ran. */
static int run_until_idle(struct app *app, const char *owner)
{
    int total = 0, rounds = 0, ran;
    while ((ran = worker_run_due(app, owner)) > 0) {
        total += ran;
        assert_true(++rounds < MAX_ROUNDS);
    }
    return total;
}

static int depth(struct fixture *fx)
{
    int d = -1;
    int64_t lag = -1;
    assert_int_equal(store_job_stats(fx->app.store, util_now_us(), &d, &lag), STORE_OK);
    return d;
}

static int64_t next_due(struct fixture *fx)
{
    int64_t when = -1;
    assert_int_equal(store_job_next_due(fx->app.store, &when), STORE_OK);
    return when;
}

static bool revoked_in_store(struct fixture *fx, const char *ca_id, const char *serial)
{
    struct store_revocation *r = NULL;
    int n = 0;
    bool found = false;
    assert_int_equal(store_client_ca_revocations(fx->app.store, ca_id, &r, &n), STORE_OK);
    for (int i = 0; i < n; i++)
        found = found || strcmp(r[i].serial, serial) == 0;
    xfree(r);
    return found;
}

/* ---- tests ---- */

/* Account names that X.520 cannot take as they are: a long one is cut to 64 characters
 * (whole UTF-8 sequences), one with a control byte or invalid UTF-8 falls back to O=tlsward;
 * the CN always names the account id. */
static void test_client_ca_subject_from_awkward_names(void **state)
{
    struct fixture *fx = *state;
    char long_name[200] = "";
    for (int i = 0; i < 80; i++)
        strcat(long_name, "\xc3\xa9"); /* é, two bytes */
    const struct {
        const char *name, *org;
    } cases[] = {{long_name, NULL}, {"bad\x01name", "tlsward"}, {"bad \xff utf8", "tlsward"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct store_account a = {.created_on = util_now_us()};
        util_random_id(a.id);
        struct store_account first;
        assert_int_equal(store_account_get(fx->app.store, fx->account_id, &first), STORE_OK);
        snprintf(a.owner_user_id, sizeof a.owner_user_id, "%s", first.owner_user_id);
        snprintf(a.name, sizeof a.name, "%s", cases[k].name);
        assert_int_equal(store_account_create(fx->app.store, &a), STORE_OK);
        struct store_client_ca ca;
        assert_int_equal(client_ca_ensure(&fx->app, a.id, &ca), STORE_OK);
        X509 *cert = parse_cert(ca.cert_pem);
        unsigned char *org = NULL, *cn = NULL;
        const X509_NAME *subject = X509_get_subject_name(cert);
        X509_NAME_ENTRY *e = X509_NAME_get_entry(
            subject, X509_NAME_get_index_by_NID(subject, NID_organizationName, -1));
        assert_true(ASN1_STRING_to_UTF8(&org, X509_NAME_ENTRY_get_data(e)) > 0);
        e = X509_NAME_get_entry(subject, X509_NAME_get_index_by_NID(subject, NID_commonName, -1));
        assert_true(ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(e)) > 0);
        if (cases[k].org) {
            assert_string_equal((char *)org, cases[k].org);
        } else {
            assert_int_equal(strlen((char *)org), 128); /* 64 characters of two bytes */
            assert_memory_equal(org, long_name, 128);
        }
        char want[128];
        snprintf(want, sizeof want, "%s %s", CLIENT_CA_NAME, a.id);
        assert_string_equal((char *)cn, want);
        OPENSSL_free(org);
        OPENSSL_free(cn);
        X509_free(cert);
        store_client_ca_clear(&ca);
    }
}

static void test_client_ca_ensure_creates_ca(void **state)
{
    struct fixture *fx = *state;
    int64_t before = util_now_us();
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    int64_t after = util_now_us();

    assert_int_equal(strlen(ca.id), 36);
    assert_string_equal(ca.account_id, fx->account_id);
    assert_string_equal(ca.name, CLIENT_CA_NAME);
    assert_true(ca.created_on >= before && ca.created_on <= after);
    /* The certificate: a self-signed CA named after its account (CN with the id, O the
     * account's name), so two accounts' CAs never share a subject. */
    assert_true(X509_check_ca(ca_cert) >= 1);
    assert_int_equal(X509_verify(ca_cert, X509_get0_pubkey(ca_cert)), 1);
    assert_int_equal(X509_check_issued(ca_cert, ca_cert), X509_V_OK);
    assert_true(X509_get_extension_flags(ca_cert) & EXFLAG_CA);
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(ca_cert)), EVP_PKEY_EC);
    char cn[256];
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca_cert), NID_commonName, cn,
                                          sizeof cn) > 0);
    char want[256];
    snprintf(want, sizeof want, "%s %s", CLIENT_CA_NAME, fx->account_id);
    assert_string_equal(cn, want);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca_cert), NID_organizationName, cn,
                                          sizeof cn) > 0);
    assert_string_equal(cn, "worker account");
    /* The key is sealed, not stored in the clear. */
    assert_true(ca.key_sealed_len > 32);
    for (size_t i = 0; i + 11 <= ca.key_sealed_len; i++)
        assert_false(memcmp(ca.key_sealed + i, "PRIVATE KEY", 11) == 0);

    /* The first CRL: number 1, no entries, signed by the CA, next update in 7 days. */
    assert_int_equal(ca.crl_number, 1);
    X509_CRL *crl = checked_crl(&ca, ca_cert);
    assert_int_equal(crl_number(crl), 1);
    assert_int_equal(crl_entries(crl), 0);
    assert_true(ca.crl_next_update >= before + CLIENT_CA_CRL_VALIDITY_US - SEC &&
                ca.crl_next_update <= after + CLIENT_CA_CRL_VALIDITY_US);
    assert_true(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl),
                                     (time_t)(ca.crl_next_update / SEC)) == 0);
    X509_CRL_free(crl);

    /* Its CRL job, due before the CRL goes stale. */
    assert_int_equal(depth(fx), 1);
    int64_t due = next_due(fx);
    assert_true(due >= before + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US &&
                due <= after + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US);

    /* Ensuring again returns the same CA and creates nothing. */
    struct store_client_ca again;
    assert_int_equal(client_ca_ensure(&fx->app, fx->account_id, &again), STORE_OK);
    assert_string_equal(again.id, ca.id);
    assert_string_equal(again.cert_pem, ca.cert_pem);
    store_client_ca_clear(&again);
    assert_int_equal(depth(fx), 1);

    /* Nothing is due now: the worker does nothing. */
    assert_int_equal(worker_run_due(&fx->app, "owner-1"), 0);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

static void test_worker_revokes_and_resigns_crl(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert rec, keep;
    X509 *cert = issue(fx, fx->zone_id, &ca, ca_cert, 1, &rec);
    X509 *kept = issue(fx, fx->zone_id, &ca, ca_cert, 2, &keep);

    int64_t before = util_now_us();
    request(fx, &rec, "active", "pending_revocation", "client_cert.revoke");
    /* The revocation, then the CRL it caused. */
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 2);
    int64_t after = util_now_us();

    struct store_client_cert got = get_cert(fx, rec.id);
    assert_string_equal(STORE_ENUM_NAME(got.status), "revoked");
    assert_true(got.revoked_on >= before && got.revoked_on <= after);
    assert_string_equal(got.serial, rec.serial);
    assert_true(revoked_in_store(fx, ca.id, rec.serial));
    assert_false(revoked_in_store(fx, ca.id, keep.serial));
    struct store_client_cert other = get_cert(fx, keep.id);
    assert_string_equal(STORE_ENUM_NAME(other.status), "active");
    store_client_cert_clear(&other);

    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 2);
    assert_true(now_ca.crl_next_update >= before + CLIENT_CA_CRL_VALIDITY_US);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_int_equal(crl_number(crl), 2);
    assert_int_equal(crl_entries(crl), 1);
    assert_true(crl_lists(crl, cert, got.revoked_on));
    assert_false(crl_lists(crl, kept, 0));
    X509_CRL_free(crl);

    /* Only the CA's CRL job is left, due again before the new CRL goes stale. */
    assert_int_equal(depth(fx), 1);
    int64_t due = next_due(fx);
    assert_true(due >= before + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US &&
                due <= util_now_us() + CLIENT_CA_CRL_VALIDITY_US - CLIENT_CA_CRL_REFRESH_US);

    store_client_cert_clear(&got);
    store_client_ca_clear(&now_ca);
    store_client_cert_clear(&rec);
    store_client_cert_clear(&keep);
    X509_free(cert);
    X509_free(kept);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

static void test_worker_reactivation_drops_stale_revoke(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert ra, rb;
    X509 *a = issue(fx, fx->zone_id, &ca, ca_cert, 1, &ra);
    X509 *b = issue(fx, fx->zone_id, &ca, ca_cert, 2, &rb);

    /* a is revoked first, so the CRL has an entry to keep. */
    request(fx, &ra, "active", "pending_revocation", "client_cert.revoke");
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 2);

    /* b: revocation requested, then reactivation requested before the worker ran. */
    request(fx, &rb, "active", "pending_revocation", "client_cert.revoke");
    request(fx, &rb, "pending_revocation", "pending_reactivation", "client_cert.reactivate");
    assert_int_equal(depth(fx), 3); /* CRL, revoke b, reactivate b */
    /* The stale revoke (dropped), the reactivation, the CRL re-signed after it. */
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 3);

    struct store_client_cert got = get_cert(fx, rb.id);
    assert_string_equal(STORE_ENUM_NAME(got.status), "active");
    assert_int_equal(got.revoked_on, 0);
    store_client_cert_clear(&got);
    assert_false(revoked_in_store(fx, ca.id, rb.serial));
    assert_true(revoked_in_store(fx, ca.id, ra.serial));
    got = get_cert(fx, ra.id);
    assert_string_equal(STORE_ENUM_NAME(got.status), "revoked");

    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 3);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_int_equal(crl_entries(crl), 1);
    assert_true(crl_lists(crl, a, got.revoked_on));
    assert_false(crl_lists(crl, b, 0));
    X509_CRL_free(crl);
    /* The revoke job is gone: only the CRL job is left. */
    assert_int_equal(depth(fx), 1);
    assert_true(next_due(fx) > util_now_us() + DAY);

    store_client_cert_clear(&got);
    store_client_ca_clear(&now_ca);
    store_client_cert_clear(&ra);
    store_client_cert_clear(&rb);
    X509_free(a);
    X509_free(b);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

static void test_worker_drops_unknown_and_vanished(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);

    /* A kind no handler knows. */
    assert_int_equal(store_job_schedule(fx->app.store, "no.such.kind", "x", util_now_us()),
                     STORE_OK);
    assert_int_equal(depth(fx), 2);
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 1);
    assert_int_equal(depth(fx), 1);

    /* A revocation under way when its zone is deleted: the deletion revokes the
     * certificate itself, so the revocation job finds nothing left to do and is dropped;
     * the CRL is re-signed and the zone's deletion job completes. */
    char zone2[STORE_ID_SIZE];
    tu_add_zone(fx->app.store, fx->account_id, "gone.example", zone2);
    struct store_client_cert rec;
    X509 *cert = issue(fx, zone2, &ca, ca_cert, 1, &rec);
    request(fx, &rec, "active", "pending_revocation", "client_cert.revoke");
    assert_int_equal(store_zone_delete_request(fx->app.store, zone2, util_now_us()), STORE_OK);
    assert_true(revoked_in_store(fx, ca.id, rec.serial));
    assert_int_equal(depth(fx), 3); /* revoke, CRL (now due), zone.delete */
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 3);
    assert_int_equal(depth(fx), 1); /* the CRL's next refresh */
    assert_true(revoked_in_store(fx, ca.id, rec.serial));
    struct store_zone gone;
    assert_int_equal(store_zone_get_any(fx->app.store, zone2, &gone), STORE_NOT_FOUND);
    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 2); /* re-signed once, listing the certificate */
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_true(crl_lists(crl, cert, 0));
    X509_CRL_free(crl);
    store_client_ca_clear(&now_ca);

    /* A CRL job for a CA that does not exist. */
    assert_int_equal(store_job_schedule(fx->app.store, "client_ca.crl",
                                        "00000000-0000-4000-8000-000000000000", util_now_us()),
                     STORE_OK);
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 1);
    assert_int_equal(depth(fx), 1);

    store_client_cert_clear(&rec);
    X509_free(cert);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

static void test_worker_retries_with_backoff(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);

    /* Another process with the wrong master key (and a cold cache) cannot unseal the CA
     * key: its CRL run is a transient failure, retried after 1 s. */
    struct app wrong = fx->app;
    util_random_bytes(wrong.master_key, sizeof wrong.master_key);
    wrong.client_cas = client_ca_cache_create();
    assert_int_equal(store_job_schedule(fx->app.store, "client_ca.crl", ca.id, util_now_us()),
                     STORE_OK);
    int64_t before = util_now_us();
    assert_int_equal(worker_run_due(&wrong, "owner-wrong"), 1);
    int64_t after = util_now_us();
    client_ca_cache_destroy(wrong.client_cas);

    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 1);
    store_client_ca_clear(&now_ca);
    assert_int_equal(depth(fx), 1);
    int64_t due = next_due(fx);
    assert_true(due >= before + worker_backoff_us(1) && due <= after + worker_backoff_us(1));
    assert_int_equal(worker_run_due(&fx->app, "owner-1"), 0); /* not yet */

    /* Its attempts were kept: the next claim is the second. */
    struct store_job j;
    int n = 0;
    assert_int_equal(store_job_claim(fx->app.store, "inspector", due, 60 * SEC, &j, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(j.kind, "client_ca.crl");
    assert_int_equal(j.attempts, 2);
    /* Handed back for now: the right process signs CRL 2. */
    assert_int_equal(store_job_retry(fx->app.store, &j, "inspector", util_now_us()), STORE_OK);
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 1);
    now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 2);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_int_equal(crl_entries(crl), 0);
    X509_CRL_free(crl);
    store_client_ca_clear(&now_ca);
    assert_true(next_due(fx) > util_now_us() + DAY);

    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

/* Deleting a zone deletes its certificates but never drops their serials from the CRL:
 * the next re-signing still lists them. */
static void test_crl_keeps_revocations_of_deleted_zone(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    char zone2[STORE_ID_SIZE];
    tu_add_zone(fx->app.store, fx->account_id, "short-lived.example", zone2);
    struct store_client_cert gone_rec, kept_rec;
    X509 *gone = issue(fx, zone2, &ca, ca_cert, 1, &gone_rec);
    request(fx, &gone_rec, "active", "pending_revocation", "client_cert.revoke");
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 2);
    assert_int_equal(store_zone_delete_request(fx->app.store, zone2, util_now_us()), STORE_OK);
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 1); /* zone.delete */

    X509 *kept = issue(fx, fx->zone_id, &ca, ca_cert, 2, &kept_rec);
    request(fx, &kept_rec, "active", "pending_revocation", "client_cert.revoke");
    assert_int_equal(run_until_idle(&fx->app, "owner-1"), 2);
    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_int_equal(now_ca.crl_number, 3);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_int_equal(crl_entries(crl), 2);
    assert_true(crl_lists(crl, gone, 0));
    assert_true(crl_lists(crl, kept, 0));
    X509_CRL_free(crl);
    store_client_ca_clear(&now_ca);
    store_client_cert_clear(&gone_rec);
    store_client_cert_clear(&kept_rec);
    X509_free(gone);
    X509_free(kept);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

#define RACE_CERTS 12

struct racer {
    struct app *app;
    pthread_barrier_t *start;
    char owner[16];
    int ran;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    for (int idle = 0, rounds = 0; idle < 3 && rounds < 200; rounds++) {
        int n = worker_run_due(r->app, r->owner);
        r->ran += n;
        idle = n ? 0 : idle + 1;
    }
    return NULL;
}

static void test_two_workers_share_one_queue(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert recs[RACE_CERTS];
    X509 *certs[RACE_CERTS];
    for (unsigned i = 0; i < RACE_CERTS; i++) {
        certs[i] = issue(fx, fx->zone_id, &ca, ca_cert, i, &recs[i]);
        request(fx, &recs[i], "active", "pending_revocation", "client_cert.revoke");
    }
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    struct racer racers[2] = {{.app = &fx->app, .start = &start, .owner = "owner-1"},
                              {.app = &fx->app, .start = &start, .owner = "owner-2"}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &racers[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    /* Whatever is left due (a CRL rerun) runs now. */
    int tail = run_until_idle(&fx->app, "owner-3");

    /* Each revoke job ran once; the CRL job at least once. */
    int ran = racers[0].ran + racers[1].ran + tail;
    assert_true(ran >= RACE_CERTS + 1);
    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    assert_true(now_ca.crl_number >= 2);
    assert_int_equal(ran - RACE_CERTS, (int)now_ca.crl_number - 1); /* one CRL per CRL run */
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_int_equal(crl_entries(crl), RACE_CERTS);
    for (unsigned i = 0; i < RACE_CERTS; i++) {
        struct store_client_cert got = get_cert(fx, recs[i].id);
        assert_string_equal(STORE_ENUM_NAME(got.status), "revoked");
        assert_true(crl_lists(crl, certs[i], got.revoked_on));
        store_client_cert_clear(&got);
        store_client_cert_clear(&recs[i]);
        X509_free(certs[i]);
    }
    X509_CRL_free(crl);
    assert_int_equal(depth(fx), 1);
    store_client_ca_clear(&now_ca);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (at most limit_us) until a running worker has revoked the certificate and re-signed
 * the CA's CRL once (crl_number 2). Returns whether it did. */
static bool wait_revoked(struct fixture *fx, const char *ca_id, const char *cert_id,
                         int64_t limit_us)
{
    int64_t start = util_mono_us();
    bool done = false;
    while (!done && util_mono_us() - start < limit_us) {
        struct store_client_ca now_ca = reload_ca(fx, ca_id);
        struct store_client_cert got = get_cert(fx, cert_id);
        done = strcmp(STORE_ENUM_NAME(got.status), "revoked") == 0 && now_ca.crl_number == 2;
        store_client_cert_clear(&got);
        store_client_ca_clear(&now_ca);
        if (!done)
            sleep_ms(10);
    }
    return done;
}

/* Asserts that the CA's current CRL (checked against ca_cert) lists cert. */
static void assert_crl_lists(struct fixture *fx, const char *ca_id, X509 *ca_cert, X509 *cert)
{
    struct store_client_ca now_ca = reload_ca(fx, ca_id);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    assert_true(crl_lists(crl, cert, 0));
    X509_CRL_free(crl);
    store_client_ca_clear(&now_ca);
}

static void test_worker_thread_wake_and_stop(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert rec;
    X509 *cert = issue(fx, fx->zone_id, &ca, ca_cert, 1, &rec);

    /* A long interval: only a wake-up can make it run a new job within the test. */
    struct worker *w = worker_start(&fx->app, 60 * SEC);
    assert_non_null(w);
    fx->app.worker = w;
    sleep_ms(500); /* let it find nothing due and go to sleep (for 60 s) */

    request(fx, &rec, "active", "pending_revocation", "client_cert.revoke");
    sleep_ms(200);
    struct store_client_cert got = get_cert(fx, rec.id);
    assert_string_equal(STORE_ENUM_NAME(got.status),
                        "pending_revocation"); /* asleep: not picked up yet */
    store_client_cert_clear(&got);

    worker_wake(w);
    assert_true(wait_revoked(fx, ca.id, rec.id, 5 * SEC));

    int64_t stop_at = util_mono_us();
    worker_stop(w);
    fx->app.worker = NULL;
    assert_true(util_mono_us() - stop_at < 2 * SEC);
    worker_wake(NULL); /* a no-op */
    worker_stop(NULL);

    assert_crl_lists(fx, ca.id, ca_cert, cert);
    store_client_cert_clear(&rec);
    X509_free(cert);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

#define ENSURE_THREADS 4

struct ensurer {
    struct app *app;
    const char *account_id;
    pthread_barrier_t *start;
    int rc;
    char id[STORE_UUID_SIZE];
};

static void *ensurer_main(void *arg)
{
    struct ensurer *e = arg;
    struct store_client_ca ca;
    pthread_barrier_wait(e->start);
    e->rc = client_ca_ensure(e->app, e->account_id, &ca);
    if (e->rc == STORE_OK) {
        snprintf(e->id, sizeof e->id, "%s", ca.id);
        store_client_ca_clear(&ca);
    }
    return NULL;
}

/* First use from concurrent requests: one CA wins, every caller gets it, one CRL job. */
static void test_client_ca_ensure_concurrent_first_use(void **state)
{
    struct fixture *fx = *state;
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, ENSURE_THREADS), 0);
    struct ensurer e[ENSURE_THREADS];
    pthread_t th[ENSURE_THREADS];
    for (int i = 0; i < ENSURE_THREADS; i++) {
        e[i] = (struct ensurer){.app = &fx->app, .account_id = fx->account_id, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, ensurer_main, &e[i]), 0);
    }
    for (int i = 0; i < ENSURE_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < ENSURE_THREADS; i++) {
        assert_int_equal(e[i].rc, STORE_OK);
        assert_string_equal(e[i].id, e[0].id);
    }
    assert_int_equal(depth(fx), 1);
    /* And the CA signs: its key unseals under the app's master key. */
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    assert_string_equal(ca.id, e[0].id);
    struct store_client_cert rec;
    X509 *cert = issue(fx, fx->zone_id, &ca, ca_cert, 1, &rec);
    store_client_cert_clear(&rec);
    X509_free(cert);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

#define RACE_REACTIVATIONS 12

/* Reactivations requested while the worker thread is revoking: each certificate ends up
 * either revoked (the request came too late: CONFLICT) and in the CRL, or active (the
 * request won) and in no revocation list: never both, never stuck pending. */
static void test_reactivation_races_worker(void **state)
{
    struct fixture *fx = *state;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert recs[RACE_REACTIVATIONS];
    X509 *certs[RACE_REACTIVATIONS];
    int rcs[RACE_REACTIVATIONS];
    for (unsigned i = 0; i < RACE_REACTIVATIONS; i++)
        certs[i] = issue(fx, fx->zone_id, &ca, ca_cert, i, &recs[i]);

    struct worker *w = worker_start(&fx->app, 60 * SEC);
    assert_non_null(w);
    for (unsigned i = 0; i < RACE_REACTIVATIONS; i++) {
        request(fx, &recs[i], "active", "pending_revocation", "client_cert.revoke");
        worker_wake(w);
        if (i % 3 == 1)
            sleep_ms(5); /* give the worker a head start on some */
        struct store_client_cert out;
        rcs[i] = store_client_cert_request(
            fx->app.store, fx->zone_id, recs[i].id, STORE_CERT_PENDING_REVOCATION,
            STORE_CERT_PENDING_REACTIVATION, STORE_JOB_CERT_REACTIVATE, util_now_us(), &out);
        assert_true(rcs[i] == STORE_OK || rcs[i] == STORE_CONFLICT);
        if (rcs[i] == STORE_CONFLICT)
            assert_string_equal(STORE_ENUM_NAME(out.status), "revoked");
        store_client_cert_clear(&out);
        worker_wake(w);
    }
    /* Wait until only the CA's CRL job is left, and not due. */
    int64_t start = util_mono_us();
    while (!(depth(fx) == 1 && next_due(fx) > util_now_us() + DAY) &&
           util_mono_us() - start < 10 * SEC)
        sleep_ms(10);
    worker_stop(w);
    assert_int_equal(depth(fx), 1);

    struct store_client_ca now_ca = reload_ca(fx, ca.id);
    X509_CRL *crl = checked_crl(&now_ca, ca_cert);
    int revoked = 0;
    for (unsigned i = 0; i < RACE_REACTIVATIONS; i++) {
        struct store_client_cert got = get_cert(fx, recs[i].id);
        if (rcs[i] == STORE_OK) {
            assert_string_equal(STORE_ENUM_NAME(got.status), "active");
            assert_int_equal(got.revoked_on, 0);
            assert_false(revoked_in_store(fx, ca.id, recs[i].serial));
            assert_false(crl_lists(crl, certs[i], 0));
        } else {
            assert_string_equal(STORE_ENUM_NAME(got.status), "revoked");
            assert_true(revoked_in_store(fx, ca.id, recs[i].serial));
            assert_true(crl_lists(crl, certs[i], got.revoked_on));
            revoked++;
        }
        store_client_cert_clear(&got);
        store_client_cert_clear(&recs[i]);
        X509_free(certs[i]);
    }
    assert_int_equal(crl_entries(crl), revoked);
    X509_CRL_free(crl);
    store_client_ca_clear(&now_ca);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
}

/* ---- lanes and leases ---- */

/* Real DCV checks against a DNS server that never answers (tu_dns_silent), with a DNS
 * budget of timeout_ms: a validation check of a one-host pack then takes about that long (a
 * slow job of the general lane). Returns the server's socket, for the caller to close. */
static int slow_dcv(struct fixture *fx, int timeout_ms)
{
    char server[32];
    int fd = tu_dns_silent(server);
    struct app_config *cfg = &fx->app.config;
    cfg->dcv_mode = DCV_MODE_CHECK;
    dcv_resolver_init(&cfg->dcv);
    const char *why = NULL;
    assert_int_equal(dcv_resolver_set_dns(&cfg->dcv, server, &why), 0);
    cfg->dcv.dns_timeout_ms = timeout_ms;
    cfg->validation_timeout_us = DAY;
    cfg->issuance_timeout_us = DAY;
    return fd;
}

/* An advanced pack for the fixture's zone, status initializing, one host. */
static void add_pack(struct fixture *fx, const char *host, char *id_out)
{
    int64_t now = util_now_us();
    struct store_pack p = {
        .validity_days = 90, .status_since = now, .created_on = now, .modified_on = now};
    util_random_id(p.id);
    snprintf(p.zone_id, sizeof p.zone_id, "%s", fx->zone_id);
    assert_int_equal(STORE_ENUM_PARSE("advanced", &p.type), 0);
    assert_int_equal(STORE_ENUM_PARSE("initializing", &p.status), 0);
    assert_int_equal(STORE_ENUM_PARSE("lets_encrypt", &p.certificate_authority), 0);
    assert_int_equal(STORE_ENUM_PARSE("txt", &p.validation_method), 0);
    assert_non_null(store_pack_host_add(&p, host));
    assert_int_equal(store_pack_create(fx->app.store, &p), STORE_OK);
    snprintf(id_out, STORE_ID_SIZE, "%s", p.id);
    store_pack_clear(&p);
}

/* The number of validation checks of the pack that concluded (failed), and its status. */
static int pack_checks(struct fixture *fx, const char *id, char *status, size_t size)
{
    struct store_pack p;
    assert_int_equal(store_pack_by_id(fx->app.store, id, &p), STORE_OK);
    int n = p.check_failures;
    if (status)
        snprintf(status, size, "%s", STORE_ENUM_NAME(p.status));
    store_pack_clear(&p);
    return n;
}

/* One statement on the database through a connection of its own (bypassing the store):
 * the first column of the first row as an integer (-1 without a row), ?1 bound to arg. */
static long long raw_sql(struct fixture *fx, const char *sql, const char *arg)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg)
        assert_int_equal(sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    long long v = -1;
    int rc = sqlite3_step(st);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long long pack_lease_until(struct fixture *fx, const char *id)
{
    return raw_sql(fx, "SELECT lease_until FROM jobs WHERE kind = 'pack.advance' AND target = ?1",
                   id);
}

/* Waits (at most 10 s) until the pack's first validation check is running: the pack is
 * pending_validation, no check has concluded, and its job is leased. */
static void wait_check_running(struct fixture *fx, const char *id)
{
    int64_t start = util_mono_us();
    for (;;) {
        char status[STORE_PACK_STATUS_SIZE];
        int checks = pack_checks(fx, id, status, sizeof status);
        assert_int_equal(checks, 0);
        if (strcmp(status, "pending_validation") == 0 && pack_lease_until(fx, id) > util_now_us())
            return;
        assert_true(util_mono_us() - start < 10 * SEC);
        sleep_ms(20);
    }
}

/* A revocation is not held up by a slow job of the general lane, even when that lane has
 * a single thread and the slow job occupies it: it completes (CRL re-signed) while the
 * validation check is still waiting for DNS. */
static void test_slow_general_job_does_not_delay_revocation(void **state)
{
    struct fixture *fx = *state;
    int dns_fd = slow_dcv(fx, 3000);
    fx->app.config.worker_threads = 1;
    X509 *ca_cert;
    struct store_client_ca ca = ensure_ca(fx, &ca_cert);
    struct store_client_cert rec;
    X509 *cert = issue(fx, fx->zone_id, &ca, ca_cert, 1, &rec);
    char pack[STORE_ID_SIZE];
    add_pack(fx, "worker.example", pack);

    struct worker *w = worker_start(&fx->app, 60 * SEC);
    assert_non_null(w);
    wait_check_running(fx, pack);
    request(fx, &rec, "active", "pending_revocation", "client_cert.revoke");
    worker_wake(w);
    assert_true(wait_revoked(fx, ca.id, rec.id, 10 * SEC));
    /* The check that occupies the general lane has not concluded: nothing waited for it. */
    assert_int_equal(pack_checks(fx, pack, NULL, 0), 0);
    assert_true(pack_lease_until(fx, pack) > util_now_us());

    worker_stop(w);
    /* Stopping let the running check finish and record its failure. */
    assert_int_equal(pack_checks(fx, pack, NULL, 0), 1);
    assert_crl_lists(fx, ca.id, ca_cert, cert);
    store_client_cert_clear(&rec);
    X509_free(cert);
    store_client_ca_clear(&ca);
    X509_free(ca_cert);
    close(dns_fd);
}

/* A job that runs longer than its lease keeps it (the heartbeat renews it), so no other
 * worker can claim it meanwhile; once its lease is taken away, the job's result is not
 * committed and the job stays with the new holder. */
static void test_heartbeat_renews_then_lost_lease_commits_nothing(void **state)
{
    struct fixture *fx = *state;
    int dns_fd = slow_dcv(fx, 5000);
    fx->app.config.worker_threads = 1;
    fx->app.config.lease_us = 1 * SEC;
    char pack[STORE_ID_SIZE];
    add_pack(fx, "worker.example", pack);
    struct worker *w = worker_start(&fx->app, 60 * SEC);
    assert_non_null(w);
    wait_check_running(fx, pack);

    /* 2.5 leases long, another worker tries to claim the job: never, the lease moves on. */
    long long first = pack_lease_until(fx, pack), last = first;
    int64_t start = util_mono_us();
    while (util_mono_us() - start < 2500000) {
        struct store_job j;
        int n = -1;
        assert_int_equal(
            store_job_claim(fx->app.store, "thief", util_now_us(), 60 * SEC, &j, 1, &n), STORE_OK);
        assert_int_equal(n, 0);
        long long until = pack_lease_until(fx, pack);
        assert_true(until >= last);
        last = until;
        sleep_ms(100);
    }
    assert_true(last >= first + 1 * SEC);                /* renewed, more than once */
    assert_int_equal(pack_checks(fx, pack, NULL, 0), 0); /* and still running */

    /* Another worker takes the lease over (as if ours had expired): the heartbeat's next
     * renewal fails, and the check's result is not committed. */
    raw_sql(fx,
            "UPDATE jobs SET lease_owner = 'thief', lease_until = lease_until + 60000000 "
            "WHERE kind = 'pack.advance' AND target = ?1",
            pack);
    worker_stop(w); /* lets the check finish */
    assert_int_equal(pack_checks(fx, pack, NULL, 0), 0);
    assert_int_equal(raw_sql(fx,
                             "SELECT count(*) FROM jobs WHERE kind = 'pack.advance' AND "
                             "target = ?1 AND lease_owner = 'thief'",
                             pack),
                     1);
    close(dns_fd);
}

/* Outside the heartbeat (the store's word alone): held while the lease is ours, false
 * once another owner took it over, and the late renewal is a CONFLICT. */
static void test_lease_held_turns_false_after_takeover(void **state)
{
    struct fixture *fx = *state;
    fx->app.config.lease_us = 1 * SEC;
    assert_int_equal(store_job_schedule(fx->app.store, "test.kind", "held", util_now_us()),
                     STORE_OK);
    struct store_job a, b;
    int n = 0;
    assert_int_equal(store_job_claim(fx->app.store, "owner-a", util_now_us(), 1 * SEC, &a, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_true(worker_lease_held(&fx->app, &a, "owner-a"));
    assert_false(worker_lease_held(&fx->app, &a, "owner-b"));
    sleep_ms(1200); /* the lease (renewed for 1 s by the call above) runs out */
    assert_int_equal(store_job_claim(fx->app.store, "owner-b", util_now_us(), 60 * SEC, &b, 1, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(b.id, a.id);
    assert_false(worker_lease_held(&fx->app, &a, "owner-a"));
    assert_int_equal(store_job_renew(fx->app.store, &a, "owner-a", util_now_us(), 1 * SEC),
                     STORE_CONFLICT);
    assert_true(worker_lease_held(&fx->app, &b, "owner-b"));
}

/* worker_stop while every general thread runs a slow check: both checks finish (their
 * results committed), no job is left leased, and every thread is joined (the sanitizers
 * report a thread that is not). Starting and stopping an idle worker works too. */
static void test_stop_finishes_running_jobs_and_joins(void **state)
{
    struct fixture *fx = *state;
    int dns_fd = slow_dcv(fx, 1500);
    fx->app.config.worker_threads = 2;
    fx->app.config.lease_us = 1 * SEC;
    for (int i = 0; i < 3; i++)
        worker_stop(worker_start(&fx->app, 60 * SEC));
    char packs[2][STORE_ID_SIZE];
    add_pack(fx, "a.worker.example", packs[0]);
    add_pack(fx, "b.worker.example", packs[1]);
    struct worker *w = worker_start(&fx->app, 60 * SEC);
    assert_non_null(w);
    wait_check_running(fx, packs[0]);
    wait_check_running(fx, packs[1]); /* at once: two threads */
    worker_stop(w);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pack_checks(fx, packs[i], NULL, 0), 1);
    assert_int_equal(raw_sql(fx, "SELECT count(*) FROM jobs WHERE lease_owner <> ''", NULL), 0);
    close(dns_fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_ca_ensure_creates_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_ca_subject_from_awkward_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_revokes_and_resigns_crl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_reactivation_drops_stale_revoke, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_worker_drops_unknown_and_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_retries_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crl_keeps_revocations_of_deleted_zone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_share_one_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_thread_wake_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_ca_ensure_concurrent_first_use, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reactivation_races_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_general_job_does_not_delay_revocation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_renews_then_lost_lease_commits_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_held_turns_false_after_takeover, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_finishes_running_jobs_and_joins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
