/* The signing floor: how many client certificates per second this machine could answer if
 * a server did nothing but the work no implementation can skip, with as many requests in
 * flight as the bench's wrk connections.
 *
 * Each of N threads loops until the time is up, as a closed-loop client would:
 *   1. verifies the CSR's self-signature (proof the client holds the key; the CSR is
 *      decoded once per thread, so its reading costs nothing here);
 *   2. signs a TBS of a real leaf's size with the CA's key (a copy of one signing context,
 *      as tlsward's leaf template does);
 *   3. makes a record of a stored certificate's size durable: appended to a file under a
 *      lock, then acknowledged only after an fdatasync that began after the append. One
 *      fdatasync covers every record appended before it began (group commit): a thread
 *      that finds one running waits for it, and the first to find none starts the next.
 * There is no HTTP, JSON, X.509 building or database. The file is preallocated and written
 * round robin, as SQLite reuses its WAL, so an fdatasync never has to grow the file.
 *
 * bench/certs.sh runs it beside the server's signing load; -n (no fdatasync) shows what
 * the CPU alone would allow. Output: one line of key=value pairs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FILE_BYTES (64L << 20) /* the preallocated log, written round robin */
#define MAX_THREADS 256
#define MAX_BYTES 65536 /* of a TBS or a record */

struct config {
    int threads;
    double seconds;
    const char *path;
    const char *ca_type; /* "rsa" (RSA-2048) or "ec" (P-256) */
    size_t tbs_bytes, record_bytes;
    bool sync;
};

/* The group-committed log (all under lock). */
struct log {
    pthread_mutex_t lock;
    pthread_cond_t synced_cond;
    int fd;
    off_t offset;
    uint64_t appended, synced; /* records appended; records covered by a finished fdatasync */
    bool syncing;
    uint64_t fsyncs;
    double fsync_seconds;
    int error; /* errno of the first failed write or fdatasync */
};

static struct config cfg = {.threads = 8,
                            .seconds = 5,
                            .ca_type = "rsa",
                            .tbs_bytes = 700,
                            .record_bytes = 2400,
                            .sync = true};
static struct log log_ = {.lock = PTHREAD_MUTEX_INITIALIZER,
                          .synced_cond = PTHREAD_COND_INITIALIZER};
static EVP_MD_CTX *sign_proto;
static unsigned char *csr_der;
static int csr_len;
static double deadline;
static uint64_t certs; /* under log_.lock */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Appends one record and returns once it is durable (or, with -n, at once). */
static void append_durably(const unsigned char *record, size_t len)
{
    pthread_mutex_lock(&log_.lock);
    if (log_.offset + (off_t)len > FILE_BYTES)
        log_.offset = 0;
    if (pwrite(log_.fd, record, len, log_.offset) != (ssize_t)len && !log_.error)
        log_.error = errno ? errno : EIO;
    log_.offset += (off_t)len;
    uint64_t mine = ++log_.appended;
    while (cfg.sync && log_.synced < mine) {
        if (log_.syncing) {
            pthread_cond_wait(&log_.synced_cond, &log_.lock);
            continue;
        }
        /* Nobody syncs: this thread covers everything appended so far. */
        log_.syncing = true;
        uint64_t covered = log_.appended;
        pthread_mutex_unlock(&log_.lock);
        double began = now();
        int rc = fdatasync(log_.fd);
        double took = now() - began;
        pthread_mutex_lock(&log_.lock);
        if (rc != 0 && !log_.error)
            log_.error = errno;
        log_.fsyncs++;
        log_.fsync_seconds += took;
        log_.synced = covered;
        log_.syncing = false;
        pthread_cond_broadcast(&log_.synced_cond);
    }
    certs++;
    pthread_mutex_unlock(&log_.lock);
}

/* Steps 1 and 2 of one certificate; false when OpenSSL failed. */
static bool verify_and_sign(X509_REQ *req, EVP_PKEY *key, unsigned char *tbs, unsigned char *sig,
                            size_t *sig_len)
{
    bool ok = X509_REQ_verify(req, key) == 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    tbs[0]++; /* every TBS differs, as serials do */
    ok = ok && ctx && EVP_MD_CTX_copy_ex(ctx, sign_proto) == 1 &&
         EVP_DigestSign(ctx, sig, sig_len, tbs, cfg.tbs_bytes) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static void *worker(void *arg)
{
    (void)arg;
    static _Thread_local unsigned char tbs[MAX_BYTES], record[MAX_BYTES], sig[1024];
    memset(tbs, 0x5a, cfg.tbs_bytes);
    memset(record, 'r', cfg.record_bytes);
    /* The CSR and its key are decoded once: reading a request is left out of the floor
     * (d2i_X509_REQ sets up OpenSSL 3.0's provider decoder for the key, which alone costs
     * a third as much as the CA's RSA signature; tlsward reads the common cases without
     * it), so the floor stays below what any reading of the request costs. */
    const unsigned char *p = csr_der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, csr_len);
    EVP_PKEY *key = req ? X509_REQ_get_pubkey(req) : NULL;
    while (key && now() < deadline) {
        size_t sig_len = sizeof sig;
        if (!verify_and_sign(req, key, tbs, sig, &sig_len)) {
            fprintf(stderr, "sign_floor: OpenSSL failed\n");
            exit(1);
        }
        /* The record carries the signature, as a stored certificate does. */
        memcpy(record, sig, sig_len < cfg.record_bytes ? sig_len : cfg.record_bytes);
        append_durably(record, cfg.record_bytes);
    }
    if (!key) {
        fprintf(stderr, "sign_floor: cannot read the CSR\n");
        exit(1);
    }
    EVP_PKEY_free(key);
    X509_REQ_free(req);
    return NULL;
}

/* The CA's key and its signing context; the client's key and a CSR signed with it. */
static int make_keys(void)
{
    EVP_PKEY *ca = strcmp(cfg.ca_type, "ec") == 0 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    EVP_PKEY *client = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new();
    int rc = -1;
    sign_proto = EVP_MD_CTX_new();
    if (ca && client && req && sign_proto &&
        EVP_DigestSignInit(sign_proto, NULL, EVP_sha256(), NULL, ca) == 1 &&
        X509_REQ_set_pubkey(req, client) == 1 &&
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                                   (const unsigned char *)"sign-floor", -1, -1, 0) == 1 &&
        X509_REQ_sign(req, client, EVP_sha256()) > 0 && (csr_len = i2d_X509_REQ(req, &csr_der)) > 0)
        rc = 0;
    X509_REQ_free(req);
    EVP_PKEY_free(client);
    EVP_PKEY_free(ca);
    return rc;
}

/* Creates the log file at its full size and makes that durable before the load. */
static int open_log(void)
{
    log_.fd = open(cfg.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_.fd < 0)
        return -1;
    static unsigned char zeros[1 << 16];
    for (off_t at = 0; at < FILE_BYTES; at += (off_t)sizeof zeros)
        if (pwrite(log_.fd, zeros, sizeof zeros, at) != (ssize_t)sizeof zeros)
            goto fail;
    if (fsync(log_.fd) == 0)
        return 0;
fail:
    close(log_.fd);
    unlink(cfg.path);
    return -1;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: sign_floor -f FILE [-t THREADS] [-s SECONDS] [-k rsa|ec] [-b TBS_BYTES]\n"
                "                  [-r RECORD_BYTES] [-n]\n"
                "The client-certificate signing floor of this machine (see the top of\n"
                "bench/sign_floor.c): THREADS loops (default 8) of CSR verification, a CA\n"
                "signature over TBS_BYTES (default 700) and a group-committed durable append\n"
                "of RECORD_BYTES (default 2400) to FILE (created, 64 MiB, removed after),\n"
                "for SECONDS (default 5). -n: no fdatasync (the CPU's share alone).\n");
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > MAX_BYTES)
        return false;
    *out = (size_t)v;
    return true;
}

static int parse_args(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "f:t:s:k:b:r:nh")) != -1) {
        switch (opt) {
        case 'f':
            cfg.path = optarg;
            break;
        case 't':
            cfg.threads = atoi(optarg);
            break;
        case 's':
            cfg.seconds = atof(optarg);
            break;
        case 'k':
            cfg.ca_type = optarg;
            break;
        case 'b':
            if (!parse_size(optarg, &cfg.tbs_bytes))
                return -1;
            break;
        case 'r':
            if (!parse_size(optarg, &cfg.record_bytes))
                return -1;
            break;
        case 'n':
            cfg.sync = false;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    bool known_ca = strcmp(cfg.ca_type, "rsa") == 0 || strcmp(cfg.ca_type, "ec") == 0;
    if (!cfg.path || optind != argc || cfg.threads < 1 || cfg.threads > MAX_THREADS ||
        !(cfg.seconds > 0 && cfg.seconds <= 60) || !known_ca)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    if (make_keys() < 0 || open_log() < 0) {
        fprintf(stderr, "sign_floor: set-up failed (%s)\n", strerror(errno));
        return 1;
    }
    pthread_t threads[MAX_THREADS];
    double cpu0 = cpu_seconds(), began = now();
    deadline = began + cfg.seconds;
    for (int i = 0; i < cfg.threads; i++)
        if (pthread_create(&threads[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "sign_floor: cannot start thread %d\n", i);
            return 1;
        }
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(threads[i], NULL);
    double elapsed = now() - began, cpu = cpu_seconds() - cpu0;
    close(log_.fd);
    unlink(cfg.path);
    if (log_.error) {
        fprintf(stderr, "sign_floor: %s: %s\n", cfg.path, strerror(log_.error));
        return 1;
    }
    printf("certs_per_s=%.1f cpu_us=%.0f fsyncs=%llu per_fsync=%.2f fsync_us=%.0f\n",
           (double)certs / elapsed, certs ? cpu / (double)certs * 1e6 : 0,
           (unsigned long long)log_.fsyncs, log_.fsyncs ? (double)certs / (double)log_.fsyncs : 0,
           log_.fsyncs ? log_.fsync_seconds / (double)log_.fsyncs * 1e6 : 0);
    EVP_MD_CTX_free(sign_proto);
    OPENSSL_free(csr_der);
    return 0;
}
