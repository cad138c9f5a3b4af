/* The store interface: everything tlsward persists goes through these functions; the
 * API, the CLI and the worker use nothing else. One body of store logic (store.c and the
 * store_*.c files) runs on two drivers behind store/db.h: SQLite (db_sqlite.c) and
 * PostgreSQL (db_pg.c).
 *
 * Conventions
 * - Every function returns STORE_OK (0) or a negative enum store_err. A write that refers
 *   to a row that does not exist (a zone of an unknown account) is STORE_NOT_FOUND.
 * - Every mutation is committed (SQLite: WAL + synchronous=FULL, so fsync'd; PostgreSQL:
 *   its own durable commit) before it returns: an acknowledged write survives kill -9.
 * - The handle is thread-safe: it keeps a small pool of connections, one borrowed per call.
 * - Records are plain structs with fixed-size fields; output structs are filled by the
 *   callee, arrays returned through `**out` are heap-allocated (caller frees with xfree).
 * - Times are microseconds since the Unix epoch (0 = absent).
 */
#ifndef TLSWARD_STORE_STORE_H
#define TLSWARD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pack_rules.h" /* enum pack_ca, enum pack_method */
#include "core/pack_state.h" /* enum pack_status */

#define STORE_ID_SIZE 33     /* 32 hex + NUL */
#define STORE_NAME_SIZE 256  /* account names, zone names (<= 253), e-mails (<= 254) */
#define STORE_SCOPE_MAX 64   /* zones a token may be restricted to */
#define STORE_SCOPE_SIZE (STORE_SCOPE_MAX * STORE_ID_SIZE + 1)

enum store_err {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1, /* no such row */
    STORE_CONFLICT = -2,  /* a unique constraint refused the write */
    STORE_ERROR = -3,     /* I/O, corruption, busy beyond the timeout: logged by the store */
    STORE_QUOTA = -4,     /* a quota (e.g. advanced packs per zone) is used up */
};

struct store;
/* Told a write's result (a STORE_* code) once it is durable or has failed. */
typedef void (*store_done_fn)(void *ctx, int rc);

/* ---- domain values ----
 * Each value is stored as its name, the TEXT the schema has always held (so SQL literals
 * such as status = 'active' and existing databases stay valid), and the API shows the same
 * name. One table per enum: X(ENUM, "name"). Every enum has an *_INVALID value (-1) for a
 * name no table knows: a read meeting one logs it, leaves the field INVALID and fails with
 * STORE_ERROR, so an unknown value never passes for another; an INVALID value is never
 * written. Pack statuses, certificate authorities and validation methods are core's
 * (core/pack_state.h, core/pack_rules.h: pack_status_name/parse and so on).
 * The _parse functions return 0, or -1 for an unknown name (NULL included); the _name
 * functions return the stored name (static), "invalid" for *_INVALID; the _names arrays
 * list the names in value order, NULL-terminated (for input_enum). */
#define STORE_ENUM_VALUE(e, n) e,
#define STORE_ENUM(type, MAP, invalid, count)                                                      \
    enum type { invalid = -1, MAP(STORE_ENUM_VALUE) count };                                       \
    extern const char *const type##_names[];                                                       \
    const char *type##_name(enum type v);                                                          \
    int type##_parse(const char *name, enum type *out)

#define STORE_PACK_TYPE_MAP(X)                                                                     \
    X(STORE_PACK_ADVANCED, "advanced") X(STORE_PACK_UNIVERSAL, "universal")
STORE_ENUM(store_pack_type, STORE_PACK_TYPE_MAP, STORE_PACK_TYPE_INVALID, STORE_PACK_TYPE_COUNT);

#define STORE_ZONE_TYPE_MAP(X)                                                                     \
    X(STORE_ZONE_FULL, "full")                                                                     \
    X(STORE_ZONE_PARTIAL, "partial")                                                               \
    X(STORE_ZONE_SECONDARY, "secondary")                                                           \
    X(STORE_ZONE_INTERNAL, "internal")
STORE_ENUM(store_zone_type, STORE_ZONE_TYPE_MAP, STORE_ZONE_TYPE_INVALID, STORE_ZONE_TYPE_COUNT);

#define STORE_ZONE_STATUS_MAP(X)                                                                   \
    X(STORE_ZONE_INITIALIZING, "initializing")                                                     \
    X(STORE_ZONE_PENDING, "pending")                                                               \
    X(STORE_ZONE_ACTIVE, "active")                                                                 \
    X(STORE_ZONE_MOVED, "moved")
STORE_ENUM(store_zone_status, STORE_ZONE_STATUS_MAP, STORE_ZONE_STATUS_INVALID,
           STORE_ZONE_STATUS_COUNT);

/* Client certificates (in the order the metrics list them). */
#define STORE_CERT_STATUS_MAP(X)                                                                   \
    X(STORE_CERT_ACTIVE, "active")                                                                 \
    X(STORE_CERT_PENDING_REVOCATION, "pending_revocation")                                         \
    X(STORE_CERT_PENDING_REACTIVATION, "pending_reactivation")                                     \
    X(STORE_CERT_REVOKED, "revoked")
STORE_ENUM(store_cert_status, STORE_CERT_STATUS_MAP, STORE_CERT_STATUS_INVALID,
           STORE_CERT_STATUS_COUNT);

/* Origin-pull certificates. */
#define STORE_AOP_KIND_MAP(X) X(STORE_AOP_ZONE, "zone") X(STORE_AOP_HOSTNAME, "hostname")
STORE_ENUM(store_aop_kind, STORE_AOP_KIND_MAP, STORE_AOP_KIND_INVALID, STORE_AOP_KIND_COUNT);
#define STORE_AOP_STATUS_MAP(X)                                                                    \
    X(STORE_AOP_INITIALIZING, "initializing")                                                      \
    X(STORE_AOP_PENDING_DEPLOYMENT, "pending_deployment")                                          \
    X(STORE_AOP_ACTIVE, "active")                                                                  \
    X(STORE_AOP_PENDING_DELETION, "pending_deletion")                                              \
    X(STORE_AOP_DELETED, "deleted")                                                                \
    X(STORE_AOP_DEPLOYMENT_TIMED_OUT, "deployment_timed_out")                                      \
    X(STORE_AOP_DELETION_TIMED_OUT, "deletion_timed_out")
STORE_ENUM(store_aop_status, STORE_AOP_STATUS_MAP, STORE_AOP_STATUS_INVALID,
           STORE_AOP_STATUS_COUNT);

/* The key of a pack's certificate (and of an ACME order's CSR). */
#define STORE_KEY_TYPE_MAP(X) X(STORE_KEY_ECDSA, "ecdsa") X(STORE_KEY_RSA, "rsa")
STORE_ENUM(store_key_type, STORE_KEY_TYPE_MAP, STORE_KEY_TYPE_INVALID, STORE_KEY_TYPE_COUNT);

/* The job kinds this build runs (see "background jobs" below; the names are also SQL
 * literals of store/statements.def). */
#define STORE_PACK_JOB "pack.advance"
#define STORE_ZONE_DELETE_JOB "zone.delete"
#define STORE_CRL_JOB "client_ca.crl"
#define STORE_AOP_JOB "aop.advance"
#define STORE_ACME_REVOKE_JOB "acme.revoke" /* target: an acme_certs cert id */
#define STORE_CERT_REVOKE_JOB "client_cert.revoke"
#define STORE_CERT_REACTIVATE_JOB "client_cert.reactivate"
#define STORE_JOB_KIND_MAP(X)                                                                      \
    X(STORE_JOB_PACK_ADVANCE, STORE_PACK_JOB)                                                      \
    X(STORE_JOB_ZONE_DELETE, STORE_ZONE_DELETE_JOB)                                                \
    X(STORE_JOB_CRL, STORE_CRL_JOB)                                                                \
    X(STORE_JOB_AOP_ADVANCE, STORE_AOP_JOB)                                                        \
    X(STORE_JOB_ACME_REVOKE, STORE_ACME_REVOKE_JOB)                                                \
    X(STORE_JOB_CERT_REVOKE, STORE_CERT_REVOKE_JOB)                                                \
    X(STORE_JOB_CERT_REACTIVATE, STORE_CERT_REACTIVATE_JOB)
STORE_ENUM(store_job_kind, STORE_JOB_KIND_MAP, STORE_JOB_INVALID, STORE_JOB_KIND_COUNT);

/* The name of any of these values, and the parse of a name into one, by the value's type
 * (as the _name and _parse functions). */
#define STORE_ENUM_NAME(v)                                                                         \
    _Generic((v), enum pack_status                                                                 \
             : pack_status_name, enum pack_ca                                                      \
             : pack_ca_name, enum pack_method                                                      \
             : pack_method_name, enum store_pack_type                                              \
             : store_pack_type_name, enum store_zone_type                                          \
             : store_zone_type_name, enum store_zone_status                                        \
             : store_zone_status_name, enum store_cert_status                                      \
             : store_cert_status_name, enum store_aop_kind                                         \
             : store_aop_kind_name, enum store_aop_status                                          \
             : store_aop_status_name, enum store_key_type                                          \
             : store_key_type_name, enum store_job_kind                                            \
             : store_job_kind_name)(v)
#define STORE_ENUM_PARSE(name, p)                                                                  \
    _Generic((p), enum pack_status *                                                               \
             : pack_status_parse, enum pack_ca *                                                   \
             : pack_ca_parse, enum pack_method *                                                   \
             : pack_method_parse, enum store_pack_type *                                           \
             : store_pack_type_parse, enum store_zone_type *                                       \
             : store_zone_type_parse, enum store_zone_status *                                     \
             : store_zone_status_parse, enum store_cert_status *                                   \
             : store_cert_status_parse, enum store_aop_kind *                                      \
             : store_aop_kind_parse, enum store_aop_status *                                       \
             : store_aop_status_parse, enum store_key_type *                                       \
             : store_key_type_parse, enum store_job_kind *                                         \
             : store_job_kind_parse)(name, p)

/* "Live": a pack that still holds (or is getting) a certificate and counts against the
 * advanced quota; an origin-pull certificate that counts against its zone's maximum.
 * SQL twins: PACK_LIVE and AOP_LIVE in store/sql_columns.h. */
bool store_pack_live(enum pack_status status);
bool store_aop_live(enum store_aop_status status);

enum store_open_mode {
    STORE_OPEN_EXISTING, /* the file must exist; migrations run if it is older */
    STORE_OPEN_CREATE,   /* the file must not exist; it is created and migrated */
};

/* Opens (or creates) the store at `location`: a PostgreSQL URI ("postgres://…" or
 * "postgresql://…", libpq's form) or the path of a SQLite file. Up to pool_size
 * connections; migrations applied. SQLite: WAL, synchronous=FULL, busy_timeout 10 s,
 * foreign keys on. PostgreSQL: migrations under an advisory lock (several nodes may start
 * at once); STORE_OPEN_CREATE refuses a database that already holds a store. */
int store_open(const char *location, enum store_open_mode mode, int pool_size, struct store **out);
void store_close(struct store *s);
/* True when the store is across a network (PostgreSQL): every query, reads included, waits
 * for a round trip. SQLite reads never wait (WAL readers do not block on writers). */
bool store_is_remote(const struct store *s);
/* Cheap liveness probe for /healthz: a trivial query on a pooled connection. */
int store_ping(struct store *s);
/* The schema version the database is at (after migrations). */
int store_schema_version(struct store *s);

/* ---- users: the holders of a global API key (legacy X-Auth-Email/X-Auth-Key) ---- */
struct store_user {
    char id[STORE_ID_SIZE];
    char email[STORE_NAME_SIZE];
    unsigned char key_hash[32]; /* SHA-256 of the global API key; the key itself is never stored */
    int64_t created_on;
};
int store_user_create(struct store *s, const struct store_user *u); /* CONFLICT: e-mail taken */
int store_user_get(struct store *s, const char *id, struct store_user *out);
int store_user_by_email(struct store *s, const char *email, struct store_user *out);
/* The first user created (init's user): the owner of accounts made by the CLI. */
int store_user_first(struct store *s, struct store_user *out);

/* ---- accounts ---- */
struct store_account {
    char id[STORE_ID_SIZE];
    char name[STORE_NAME_SIZE];
    char owner_user_id[STORE_ID_SIZE];
    int64_t created_on;
};
int store_account_create(struct store *s, const struct store_account *a);
int store_account_get(struct store *s, const char *id, struct store_account *out);

/* ---- API tokens ---- */
struct store_token {
    char id[STORE_ID_SIZE];
    char account_id[STORE_ID_SIZE];
    unsigned char hash[32]; /* SHA-256 of the bearer secret */
    unsigned permissions;   /* PERM_* bits of core/permission.h */
    /* Space-separated zone ids the token is limited to; "" = every zone of the account. */
    char zone_scope[STORE_SCOPE_SIZE];
    int64_t expires_on; /* 0 = never */
    int64_t revoked_on; /* 0 = not revoked */
    int64_t created_on;
};
int store_token_create(struct store *s, const struct store_token *t);
/* Looks a token up by the SHA-256 of its secret. Revoked and expired tokens are returned
 * too (the caller decides); NOT_FOUND when no token has this hash. */
int store_token_by_hash(struct store *s, const unsigned char hash[32], struct store_token *out);
int store_token_get(struct store *s, const char *id, struct store_token *out);
/* Marks a token revoked at `now`; NOT_FOUND if unknown. Revoking twice keeps the first time. */
int store_token_revoke(struct store *s, const char *id, int64_t now);

/* ---- zones ---- */
struct store_zone {
    char id[STORE_ID_SIZE];
    char account_id[STORE_ID_SIZE];
    char name[STORE_NAME_SIZE]; /* normalised (lower-case) */
    enum store_zone_type type;
    enum store_zone_status status;
    bool universal_ssl;         /* Universal SSL enabled (default true) */
    int advanced_quota;         /* advanced certificate packs allowed (default 50) */
    int64_t created_on, modified_on, activated_on;
    /* Filled by reads from the joined account and its owner (ignored by create): */
    char account_name[STORE_NAME_SIZE];
    char owner_user_id[STORE_ID_SIZE];
    char owner_email[STORE_NAME_SIZE];
    int64_t deleting_on; /* 0, or when a DELETE hid the zone (only store_zone_get_any sees it) */
};
/* CONFLICT when the account already has a zone of that name. */
int store_zone_create(struct store *s, const struct store_zone *z);
struct store_pack;
/* The same, inserting the zone's universal pack (and scheduling its job) atomically. */
int store_zone_create_with_pack(struct store *s, const struct store_zone *z,
                                const struct store_pack *universal);
/* NOT_FOUND for an unknown zone and for one being deleted (it has left the API). */
int store_zone_get(struct store *s, const char *id, struct store_zone *out);

/* Who is looking: exactly one of account_id (a token's account) or owner_user_id (a
 * global-key user: every account that user owns) is set. zone_scope as in store_token. */
struct store_visibility {
    const char *account_id;
    const char *owner_user_id;
    const char *zone_scope; /* NULL or "" = no restriction */
};
struct store_zone_filter {
    struct store_visibility who;
    const char *name;       /* exact, normalised; NULL = any */
    const char *account_id; /* NULL = any */
    const enum store_zone_status *status; /* NULL = any */
    int offset, limit;                    /* page window; limit >= 1 */
};
/* Lists visible zones matching the filter, ordered by (created_on, id); a filter naming no
 * viewer (neither who.account_id nor who.owner_user_id) is refused with STORE_ERROR rather
 * than listing everything. *out holds *count
 * zones (caller xfree's it, also when *count is 0); *total is the number matching overall. */
int store_zone_list(struct store *s, const struct store_zone_filter *f, struct store_zone **out,
                    int *count, int *total);

/* Automatic SSL/TLS mode (SPEC §4.7), kept outside struct store_zone: "auto" (the default)
 * or "custom". *modified_on is when it last changed, the zone's created_on before any
 * change. NOT_FOUND for an unknown zone. */
#define STORE_SSL_MODE_SIZE 16
int store_zone_ssl_mode_get(struct store *s, const char *zone_id, char out[STORE_SSL_MODE_SIZE],
                            int64_t *modified_on);
/* Sets the mode ("auto" or "custom"); modified_on moves to now only when the value changes.
 * NOT_FOUND for an unknown zone. */
int store_zone_ssl_mode_set(struct store *s, const char *zone_id, const char *value, int64_t now);

/* ---- zone deletion: the request hides, a durable job removes ----
 * A DELETE hides the zone from every reader but store_zone_get_any (lists, filters and
 * zone-keyed reads and writes treat it as unknown; the account may reuse its name at
 * once), revokes every client certificate of the zone that is not yet revoked into its
 * CA's revocation list with the CA's CRL job scheduled now (a pending revocation is never
 * dropped), and schedules STORE_ZONE_DELETE_JOB (target: the zone id), all in one
 * transaction. The job removes each pack's deployment (store_zone_pack_removed records
 * the progress), the origin-pull files, and then the rows (store_zone_delete_finish). */
struct store_job;
/* NOT_FOUND when the zone is unknown or already being deleted (nothing changed). */
int store_zone_delete_request(struct store *s, const char *zone_id, int64_t now);
/* The zone even while it is being deleted (deleting_on != 0, name its real name). */
int store_zone_get_any(struct store *s, const char *id, struct store_zone *out);
/* Marks a pack of the zone `deleted` once its deployment is gone, so a resumed deletion
 * does not remove it (and run its hook) again. A pack already deleted is no change. */
int store_zone_pack_removed(struct store *s, const char *zone_id, const char *pack_id, int64_t now);
/* The last step: revokes any client certificate of the zone still not revoked (one
 * created while the deletion ran), deletes the zone's rows (packs and their certificates,
 * client certificates, origin-pull certificates and hostnames, settings, the zone; the CA
 * and its revocations stay) and the jobs of those rows, and completes `job` (NULL: none),
 * atomically. NOT_FOUND if the zone is gone or not being deleted; CONFLICT if the lease
 * was lost. */
int store_zone_delete_finish(struct store *s, const struct store_job *job, const char *owner,
                             const char *zone_id, int64_t now);

/* ---- background jobs: the worker's durable queue ----
 * A job is (kind, target), unique: scheduling an existing job moves it earlier (and marks
 * it to run again if a worker holds it right now). Workers claim due jobs under a lease;
 * a lease that expires (a crashed process) makes the job claimable again, and a job is
 * completed only by the transition that did its work, in the same transaction, so an
 * effect is never applied twice. */
#define STORE_JOB_KIND_SIZE 32
#define STORE_JOB_TARGET_SIZE 64
#define STORE_OWNER_SIZE 40

struct store_job {
    int64_t id;
    char kind[STORE_JOB_KIND_SIZE];
    char target[STORE_JOB_TARGET_SIZE];
    int attempts;        /* claims so far, this one included */
    int64_t next_run_at; /* when it became due */
    /* kind as this build knows it; STORE_JOB_INVALID (logged by the store) for a kind of
     * another (newer) build: the queue keeps any kind, so nodes of two versions share it. */
    enum store_job_kind kind_id;
};

/* Schedules a job of any kind (store_job_kind_name gives this build's names). */
int store_job_schedule(struct store *s, const char *kind, const char *target, int64_t run_at);
/* Claims up to max due jobs (next_run_at <= now, no live lease) for `owner` until
 * now + lease_us, oldest first. */
int store_job_claim(struct store *s, const char *owner, int64_t now, int64_t lease_us,
                    struct store_job *out, int max, int *count);
/* Gives a claimed job back for another try at next_run_at. CONFLICT if the lease was lost. */
int store_job_retry(struct store *s, const struct store_job *job, const char *owner,
                    int64_t next_run_at);
/* Completes a job whose target vanished (nothing to do). CONFLICT if the lease was lost. */
int store_job_drop(struct store *s, const struct store_job *job, const char *owner, int64_t now);
/* Extends a claimed job's lease to now + lease_us while `owner` still holds it (the
 * heartbeat of a running job). CONFLICT when the lease was lost: taken over by another
 * worker, or the job completed; the caller must then stop before its next side effect. */
int store_job_renew(struct store *s, const struct store_job *job, const char *owner, int64_t now,
                    int64_t lease_us);
/* Gives up every lease that ran out by `now` (its holder died or stalled); *count gets
 * how many. Claims already ignore such leases: this keeps the queue's picture honest. */
int store_job_reap(struct store *s, int64_t now, int *count);
/* depth: every queued job; lag: how long the oldest job that is due and not being worked
 * on has waited (0 if none). */
int store_job_stats(struct store *s, int64_t now, int *depth, int64_t *lag_us);
/* The earliest next_run_at of any job (0 if none): how long a worker may sleep. */
int store_job_next_due(struct store *s, int64_t *when);
/* Which kinds a claim may take (a worker's lane): the listed ones, or with `exclude`
 * every kind but those (so a lane can also take kinds it has never heard of). The kinds
 * contain no comma and fit, joined, in STORE_JOB_FILTER_SIZE. */
#define STORE_JOB_FILTER_SIZE 512
struct store_job_filter {
    const char *const *kinds;
    int nkinds;
    bool exclude;
};
/* store_job_claim restricted to the filter's kinds (NULL: every kind), oldest due first. */
int store_job_claim_filtered(struct store *s, const struct store_job_filter *f, const char *owner,
                             int64_t now, int64_t lease_us, struct store_job *out, int max,
                             int *count);
/* store_job_next_due over the filter's kinds (NULL: every kind); a job being worked on
 * counts from its lease's end. */
int store_job_next_due_filtered(struct store *s, const struct store_job_filter *f, int64_t *when);
/* The same, looking only at jobs whose next_run_at is at or before `before` (an index
 * range, not the whole queue): 0 when there is none, so a caller that sleeps at most until
 * `before` anyway pays for the jobs in that window only. A job being worked on may still
 * give a time after `before` (its lease's end). */
int store_job_next_due_before(struct store *s, const struct store_job_filter *f, int64_t before,
                              int64_t *when);

/* ---- wake-ups across processes ----
 * With PostgreSQL every commit that makes a job due sends a notification; a listener is
 * a dedicated connection that receives them, so a worker on any node starts new work
 * within milliseconds instead of at its next interval. SQLite has none (its workers rely
 * on in-process wake-ups and the interval): store_listener_open gives *out = NULL. */
struct store_listener;
int store_listener_open(struct store *s, struct store_listener **out);
/* The socket to poll for readability; -1 while disconnected (call drain to reconnect). */
int store_listener_fd(struct store_listener *l);
/* Consumes what arrived: 1 if a job may have become due (a notification, or a
 * re-established connection that may have missed some), 0 if nothing did, STORE_ERROR
 * while the database is unreachable. */
int store_listener_drain(struct store_listener *l);
void store_listener_close(struct store_listener *l);

/* ---- managed client CAs (API Shield mTLS), one per account ---- */
#define STORE_UUID_SIZE 37

struct store_client_ca {
    char id[STORE_UUID_SIZE];
    char account_id[STORE_ID_SIZE];
    char name[STORE_NAME_SIZE];
    char *cert_pem;           /* heap */
    unsigned char *key_sealed; /* heap: the private key sealed under the master key */
    size_t key_sealed_len;
    uint64_t crl_number;      /* of the CRL stored below */
    unsigned char *crl_der;   /* heap */
    size_t crl_len;
    int64_t crl_next_update;
    int64_t created_on;
};
/* Frees the heap fields (the struct itself is the caller's). */
void store_client_ca_clear(struct store_client_ca *ca);
/* Inserts the account's CA with its first CRL and schedules its CRL refresh job at
 * refresh_at. CONFLICT when the account already has one. */
int store_client_ca_create(struct store *s, const struct store_client_ca *ca, int64_t refresh_at);
int store_client_ca_by_account(struct store *s, const char *account_id,
                               struct store_client_ca *out);
int store_client_ca_get(struct store *s, const char *id, struct store_client_ca *out);
/* As store_client_ca_by_account without the CRL (crl_der NULL, crl_len 0): what signing a
 * client certificate reads on every request. */
int store_client_ca_signer(struct store *s, const char *account_id, struct store_client_ca *out);

struct store_revocation {
    char serial[48];
    int64_t revoked_on;
};
/* Every serial the CA has revoked (*out: xfree). */
int store_client_ca_revocations(struct store *s, const char *ca_id, struct store_revocation **out,
                                int *count);
/* Stores a re-signed CRL numbered crl_number if the stored one is still expected_number
 * (else CONFLICT: another worker got there first), and completes the CRL job, due again
 * at refresh_at. */
int store_client_ca_replace_crl(struct store *s, const struct store_job *job, const char *owner,
                                uint64_t expected_number, uint64_t crl_number,
                                const unsigned char *der, size_t len, int64_t next_update,
                                int64_t refresh_at, int64_t now);

/* ---- client certificates ---- */
#define STORE_CERT_STATUS_SIZE 24

struct store_client_cert {
    char id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
    char ca_id[STORE_UUID_SIZE];
    enum store_cert_status status;
    char serial[48];
    char fingerprint[65];
    char ski[48];
    char signature[24];
    char common_name[256], country[256], state[256], location[256], organization[256],
        organizational_unit[256];
    char *csr;         /* heap */
    char *certificate; /* heap */
    int validity_days;
    int64_t issued_on, expires_on, revoked_on, created_on, modified_on;
};
void store_client_cert_clear(struct store_client_cert *c);
/* Inserts a signed certificate. Concurrent creations share one durable commit (group
 * commit), so throughput is not bounded by one fsync per request. */
int store_client_cert_create(struct store *s, const struct store_client_cert *c);
/* The same without waiting for the commit: done(ctx, rc) is called once the certificate is
 * durably stored or could not be, on the thread that committed it (possibly the caller's,
 * before this returns). *c must stay valid until then. */
void store_client_cert_create_async(struct store *s, const struct store_client_cert *c,
                                    store_done_fn done, void *ctx);
int store_client_cert_get(struct store *s, const char *zone_id, const char *id,
                          struct store_client_cert *out);

struct store_client_cert_filter {
    const char *zone_id;
    const enum store_cert_status *status; /* NULL = every status */
    int offset, limit;
};
/* Ordered by (created_on, id). *out (store_client_cert_list_free) holds *count; *total
 * counts every match. */
int store_client_cert_list(struct store *s, const struct store_client_cert_filter *f,
                           struct store_client_cert **out, int *count, int *total);
void store_client_cert_list_free(struct store_client_cert *list, int count);

/* An API request to move a certificate from `from` to `to` and have the worker finish it
 * with a `job_kind` job: done atomically. CONFLICT (nothing changed) when the status is
 * not `from`; NOT_FOUND when there is no such certificate. *out is the certificate after
 * the call either way (when it exists). */
int store_client_cert_request(struct store *s, const char *zone_id, const char *id,
                              enum store_cert_status from, enum store_cert_status to,
                              enum store_job_kind job_kind, int64_t now,
                              struct store_client_cert *out);
/* The worker's half: moves the job's certificate from `from` to `to` and completes the
 * job, atomically. Reaching "revoked" records the revocation in the CA's list and
 * schedules the CA's CRL job now; "active" (a reactivation) schedules it too, so the CRL
 * is re-signed. NOT_FOUND if the certificate is gone; CONFLICT if its status is not
 * `from` or the lease was lost. */
int store_client_cert_complete(struct store *s, const struct store_job *job, const char *owner,
                               enum store_cert_status from, enum store_cert_status to, int64_t now);
/* Number of certificates in each of `n` statuses, by name (for metrics). */
int store_client_cert_count_by_status(struct store *s, const char *const *statuses, int n,
                                      long long *counts);

/* ---- the built-in CA (one per store) ---- */
struct store_local_ca {
    char *root_pem, *intermediate_pem;          /* heap */
    unsigned char *root_key_sealed, *intermediate_key_sealed; /* heap */
    size_t root_key_sealed_len, intermediate_key_sealed_len;
    int64_t created_on;
};
void store_local_ca_clear(struct store_local_ca *ca);
/* CONFLICT when the store already has one. */
int store_local_ca_create(struct store *s, const struct store_local_ca *ca);
int store_local_ca_get(struct store *s, struct store_local_ca *out);

/* ---- certificate packs ---- */
#define STORE_PACK_STATUS_SIZE 32

/* What a pack lists (hosts, validation and delegation records, errors): bounded arrays of
 * fixed-size fields. The store keeps each array as the JSON text the API shows (so older
 * databases read unchanged); nothing outside the store sees that text. A value or a count
 * that does not fit is refused (store_pack_*_add return NULL, a read or write with one is
 * STORE_ERROR), never cut short. */
#define STORE_PACK_HOSTS_MAX 51      /* 50 hosts (pack_rules) and one spare, as always read */
#define STORE_PACK_RECORDS_MAX 51    /* one record per host (ACME: per authorization) */
#define STORE_PACK_ERRORS_MAX 128    /* a failed check per record and per host, and one more */
#define STORE_HOST_SIZE 256          /* a host name (<= 253) */
#define STORE_RECORD_NAME_SIZE 272   /* "_acme-challenge." + a host name; an e-mail address */
#define STORE_RECORD_VALUE_SIZE 64   /* a TXT value (43 characters) */
#define STORE_RECORD_URL_SIZE 512    /* http://<host>/.well-known/acme-challenge/<token> */
#define STORE_RECORD_BODY_SIZE 256   /* a key authorization: token "." thumbprint */
#define STORE_RECORD_EMAILS_MAX 5    /* admin@, administrator@, hostmaster@, ... */
#define STORE_RECORD_STATUS_SIZE 16  /* "pending" or "active" */
#define STORE_CNAME_TARGET_SIZE 544  /* <host>.<zone id>.<dcv domain> */
#define STORE_ERROR_MESSAGE_SIZE 1024

struct store_host {
    char name[STORE_HOST_SIZE];
};
/* One validation record: the fields of its method are set, the others empty (txt and
 * cname: txt_name and txt_value; http: http_url and http_body; email: emails). An empty
 * field is left out of the JSON. */
struct store_validation_record {
    char txt_name[STORE_RECORD_NAME_SIZE];
    char txt_value[STORE_RECORD_VALUE_SIZE];
    char http_url[STORE_RECORD_URL_SIZE];
    char http_body[STORE_RECORD_BODY_SIZE];
    char emails[STORE_RECORD_EMAILS_MAX][STORE_RECORD_NAME_SIZE];
    int email_count;
    char status[STORE_RECORD_STATUS_SIZE];
};
struct store_validation_error {
    char message[STORE_ERROR_MESSAGE_SIZE];
};
struct store_delegation_record {
    char cname[STORE_RECORD_NAME_SIZE];
    char cname_target[STORE_CNAME_TARGET_SIZE];
};

struct store_pack {
    char id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
    enum store_pack_type type;
    enum pack_status status;
    int64_t status_since; /* when it entered status (timeouts count from here) */
    enum pack_ca certificate_authority;
    enum pack_method validation_method;
    int validity_days;
    bool cloudflare_branding;
    /* Heap arrays (store_pack_clear frees them), each with its count. */
    struct store_host *hosts;
    int host_count;
    struct store_validation_record *validation_records;
    int validation_record_count;
    struct store_validation_error *validation_errors;
    int validation_error_count;
    struct store_delegation_record *dcv_delegation_records;
    int dcv_delegation_record_count;
    int check_failures;   /* consecutive failed validation checks (back-off) */
    int renewal_failures; /* consecutive failed renewals */
    int cert_generation;  /* the issuance whose certificates are visible (0: none yet) */
    int version;          /* bumped by every update: optimistic concurrency */
    int64_t created_on, modified_on;
};
void store_pack_clear(struct store_pack *p);
/* A deep copy of src into dst (whose arrays are not freed: clear it first if needed). */
void store_pack_copy(struct store_pack *dst, const struct store_pack *src);
/* Appending to a pack's arrays: the new element (copied from the arguments, or zeroed for a
 * record), or NULL when the array is full or a value does not fit its field. */
struct store_host *store_pack_host_add(struct store_pack *p, const char *name);
struct store_validation_record *store_pack_record_add(struct store_pack *p);
struct store_validation_error *store_pack_error_add(struct store_pack *p, const char *message);
struct store_delegation_record *store_pack_delegation_add(struct store_pack *p, const char *cname,
                                                          const char *cname_target);
/* Empties one array (its count becomes 0). */
void store_pack_hosts_clear(struct store_pack *p);
void store_pack_records_clear(struct store_pack *p);
void store_pack_errors_clear(struct store_pack *p);
void store_pack_delegation_clear(struct store_pack *p);
/* Copies a text into a fixed field: 0, or -1 (dst untouched) when it does not fit. */
int store_field_set(char *dst, size_t size, const char *src);

/* Inserts a pack and schedules its STORE_PACK_JOB now. An "advanced" pack counts
 * against the zone's advanced quota: STORE_QUOTA when the zone's live advanced packs
 * (not pending_deletion or deleted) already fill it. */
int store_pack_create(struct store *s, const struct store_pack *p);
int store_pack_get(struct store *s, const char *zone_id, const char *id, struct store_pack *out);
/* By id alone (the worker). */
int store_pack_by_id(struct store *s, const char *id, struct store_pack *out);

struct store_pack_filter {
    const char *zone_id;
    bool include_deleted; /* false: status "deleted" is left out */
    int offset, limit;
    bool active_only; /* only status "active" (the API's default list); wins over the above */
    /* Only each pack's key is read: id, zone_id, status, cert_generation, version and
     * modified_on (what a cached rendering is found by); the rest stays zero, with no heap
     * arrays (store_pack_list_free is still the release). Decoding whole rows is most of a
     * page's cost when the renderings are cached. */
    bool keys_only;
};
int store_pack_list(struct store *s, const struct store_pack_filter *f, struct store_pack **out,
                    int *count, int *total);
void store_pack_list_free(struct store_pack *list, int count);
/* Sets the zone's advanced-pack allocation (tlsward zone quota). NOT_FOUND if unknown. */
int store_zone_set_quota(struct store *s, const char *zone_id, int advanced);
/* Universal SSL on or off (SPEC §4.5), atomically: off moves the zone's universal pack to
 * pending_deletion (its job removes the deployment); on inserts `pack` (a new universal
 * pack). Setting the state the zone already has changes nothing (callers look the zone up
 * first: an unknown zone changes nothing too). */
int store_zone_set_universal(struct store *s, const char *zone_id, bool enabled,
                             const struct store_pack *pack, int64_t now);
/* The zone's advanced allocation and the live advanced packs that use it. */
int store_pack_quota(struct store *s, const char *zone_id, int *allocated, int *used);

/* Writes every mutable field of p if the stored pack still has version p->version (else
 * CONFLICT: someone changed it since it was read); the stored version becomes
 * p->version + 1. With `job` (the worker's claimed job) the job is completed in the same
 * transaction and due again at reschedule_at (0: done); without, STORE_PACK_JOB is
 * scheduled at reschedule_at (0: not at all). */
int store_pack_update(struct store *s, const struct store_pack *p, const struct store_job *job,
                      const char *owner, int64_t reschedule_at, int64_t now);

/* ---- a pack's certificates ---- */
struct store_pack_cert {
    char id[STORE_ID_SIZE];
    char pack_id[STORE_ID_SIZE];
    int generation;
    int priority;      /* 1: ECDSA (primary), 2: RSA */
    enum store_key_type key_type;
    char signature[24];
    char issuer[STORE_NAME_SIZE];
    char serial[48];
    char *chain_pem;            /* heap: leaf then intermediate(s) */
    unsigned char *key_sealed;  /* heap */
    size_t key_sealed_len;
    int64_t not_before, expires_on, uploaded_on, modified_on;
};
void store_pack_cert_clear(struct store_pack_cert *c);
/* Like store_pack_update, also inserting `count` certificates in the same transaction. */
int store_pack_update_with_certs(struct store *s, const struct store_pack *p,
                                 const struct store_pack_cert *certs, int count,
                                 const struct store_job *job, const char *owner,
                                 int64_t reschedule_at, int64_t now);
/* The certificates of one generation, by priority (*out: store_pack_cert_list_free). */
int store_pack_certs(struct store *s, const char *pack_id, int generation,
                     struct store_pack_cert **out, int *count);
void store_pack_cert_list_free(struct store_pack_cert *list, int count);
/* Makes the jobs of every pending_validation pack due now (a starting worker: its DCV
 * settings may have changed, so back-off delays from before the restart are dropped). */
int store_pack_recheck_pending(struct store *s, int64_t now);
/* The earliest expiry of any certificate live packs serve (0 if none), for metrics. */
int store_pack_soonest_expiry(struct store *s, int64_t *expires_on);
/* Number of packs in each of `n` statuses, by name (metrics). */
int store_pack_count_by_status(struct store *s, const char *const *statuses, int n,
                               long long *counts);

/* ---- Authenticated Origin Pulls (SPEC §4.9) ----
 * Uploaded certificates of two kinds ("zone", "hostname"), status initializing →
 * pending_deployment → active, and pending_deletion → deleted, driven by STORE_AOP_JOB
 * (target: the certificate id). Deleted rows stay (GET shows them); lists leave them out. */
#define STORE_AOP_HOSTNAME_CERTS_MAX 10 /* live hostname certificates per zone (Cloudflare) */

struct store_aop_cert {
    char id[STORE_ID_SIZE];
    char zone_id[STORE_ID_SIZE];
    enum store_aop_kind kind;
    enum store_aop_status status;
    char issuer[STORE_NAME_SIZE];
    char serial[48];
    char signature[24];
    char *certificate;         /* heap: PEM */
    unsigned char *key_sealed; /* heap: the private key sealed under the master key */
    size_t key_sealed_len;
    int64_t expires_on, uploaded_on, updated_on;
};
void store_aop_cert_clear(struct store_aop_cert *c);
void store_aop_cert_list_free(struct store_aop_cert *list, int count);
/* Inserts a certificate and schedules its job now. With max > 0, STORE_QUOTA when the
 * zone already has max live (not pending_deletion/deleted) certificates of that kind. */
int store_aop_cert_create(struct store *s, const struct store_aop_cert *c, int max);
/* By (zone, kind, id); zone_id NULL: by id alone (the worker; kind is ignored). */
int store_aop_cert_get(struct store *s, const char *zone_id, enum store_aop_kind kind,
                       const char *id, struct store_aop_cert *out);
/* The zone's certificates of a kind, not deleted, ordered by (uploaded_on, id). *out
 * (store_aop_cert_list_free) holds *count. */
int store_aop_cert_list(struct store *s, const char *zone_id, enum store_aop_kind kind,
                        struct store_aop_cert **out, int *count);
/* An API DELETE: → pending_deletion and the job scheduled, atomically. CONFLICT (nothing
 * changed) when already pending_deletion or deleted; NOT_FOUND if unknown. *out is the
 * certificate after the call either way (when it exists). */
int store_aop_cert_delete_request(struct store *s, const char *zone_id, enum store_aop_kind kind,
                                  const char *id, int64_t now, struct store_aop_cert *out);
/* The worker's half: moves the job's certificate from → to and completes the job (due
 * again at reschedule_at; 0: done), atomically. Reaching "deleted" removes the
 * certificate's hostname associations. NOT_FOUND if gone; CONFLICT if the status is not
 * `from` or the lease was lost. */
int store_aop_cert_advance(struct store *s, const struct store_job *job, const char *owner,
                           enum store_aop_status from, enum store_aop_status to,
                           int64_t reschedule_at, int64_t now);

/* Hostname associations (per-hostname AOP). */
struct store_aop_hostname {
    char hostname[STORE_NAME_SIZE];
    char cert_id[STORE_ID_SIZE];
    int enabled; /* 1 / 0; in a change, -1 removes the association */
    int64_t created_at, updated_at;
};
/* Applies n changes to the zone's associations in one transaction (upsert, or remove for
 * enabled -1). The caller has checked hostnames and certificates. */
int store_aop_hostnames_put(struct store *s, const char *zone_id,
                            const struct store_aop_hostname *changes, int n, int64_t now);
int store_aop_hostname_get(struct store *s, const char *zone_id, const char *hostname,
                           struct store_aop_hostname *out);

/* Zone-level AOP on/off (default off). NOT_FOUND for an unknown zone. */
int store_aop_settings_get(struct store *s, const char *zone_id, bool *enabled);
int store_aop_settings_set(struct store *s, const char *zone_id, bool enabled);

/* ---- HTTP-01 challenges tlsward publishes (its responder, --webroot) ---- */
#define STORE_HTTP_TOKEN_MAX 128 /* base64url characters */
#define STORE_HTTP_BODY_MAX 512  /* a key authorization: token "." thumbprint */
struct store_http_challenge {
    char token[STORE_HTTP_TOKEN_MAX + 1];
    char body[STORE_HTTP_BODY_MAX + 1];
};
/* The challenges published for a pack (*out: xfree; *count 0 and *out NULL when none). */
int store_http_challenges_of(struct store *s, const char *pack_id,
                             struct store_http_challenge **out, int *count);
/* Adds (or replaces, by token) n challenges of the pack, in one transaction. */
int store_http_challenges_put(struct store *s, const char *pack_id,
                              const struct store_http_challenge *list, int n);
/* Removes the pack's challenges with the n given tokens, in one transaction. */
int store_http_challenges_drop(struct store *s, const char *pack_id,
                               const struct store_http_challenge *list, int n);
/* The body to serve for `token`: found only while its pack is live, validates by http
 * and still carries that body in its validation records (an API change of method or a
 * deletion hides it at once, before the worker clears the row). NOT_FOUND otherwise. */
int store_http_challenge_body(struct store *s, const char *token,
                              char body[STORE_HTTP_BODY_MAX + 1]);

/* ---- DCV TXT records published in DNS by tlsward (--dns-update / --dns-hook) ---- */

#define STORE_DNS_VALUE_SIZE 256
struct store_dns_record {
    char pack_id[STORE_ID_SIZE];
    char name[STORE_NAME_SIZE];       /* the record's owner name */
    char value[STORE_DNS_VALUE_SIZE]; /* the TXT value */
    char zone[STORE_NAME_SIZE];       /* the zone name the hook is told (TLSWARD_ZONE) */
    bool published;                   /* the add succeeded */
};
/* Notes a record about to be added (a no-op when the row exists). */
int store_dns_record_intent(struct store *s, const struct store_dns_record *r, int64_t now);
/* Marks a record as added. NOT_FOUND when it has no row. */
int store_dns_record_published(struct store *s, const char *pack_id, const char *name,
                               const char *value);
/* Forgets a record once it is deleted from DNS (no row is success). */
int store_dns_record_remove(struct store *s, const char *pack_id, const char *name,
                            const char *value);
/* A pack's records, oldest first (caller xfree's *out). */
int store_dns_records(struct store *s, const char *pack_id, struct store_dns_record **out,
                      int *count);

/* ---- ACME upstreams (see migration 12 in store/migrations.c) ---- */
#define STORE_ACME_URL_SIZE 1024

struct store_acme_account {
    char account_id[STORE_ID_SIZE];
    enum pack_ca ca;
    char directory_url[STORE_ACME_URL_SIZE];
    char account_url[STORE_ACME_URL_SIZE]; /* "" until registered */
    unsigned char *key_sealed;             /* heap */
    size_t key_sealed_len;
    int64_t created_on, updated_on;
};
void store_acme_account_clear(struct store_acme_account *a);
/* By (account_id, ca, directory_url). NOT_FOUND if none. */
int store_acme_account_get(struct store *s, const char *account_id, enum pack_ca ca,
                           const char *directory_url, struct store_acme_account *out);
/* Inserts a new account row; CONFLICT when one exists already (another worker won: read
 * it back and use its key). */
int store_acme_account_create(struct store *s, const struct store_acme_account *a);
/* Records the account URL after (re-)registration. NOT_FOUND if no such row. */
int store_acme_account_set_url(struct store *s, const struct store_acme_account *a, int64_t now);

struct store_acme_order {
    char pack_id[STORE_ID_SIZE];
    enum store_key_type key_type;
    char order_url[STORE_ACME_URL_SIZE];
    char *authz_urls; /* heap, newline-separated */
    char finalize_url[STORE_ACME_URL_SIZE];
    char certificate_url[STORE_ACME_URL_SIZE];
    char status[16];            /* the ACME status last seen */
    int64_t expires_on;         /* 0: unknown */
    unsigned char *key_sealed;  /* heap; NULL until the CSR key exists */
    size_t key_sealed_len;
    int64_t created_on, updated_on;
};
void store_acme_order_clear(struct store_acme_order *o);
int store_acme_order_get(struct store *s, const char *pack_id, enum store_key_type key_type,
                         struct store_acme_order *out);
/* Inserts or replaces the pack's order for o->key_type. */
int store_acme_order_put(struct store *s, const struct store_acme_order *o);
/* Forgets the pack's orders (all key types): the next issuance opens new ones. */
int store_acme_order_delete(struct store *s, const char *pack_id);

struct store_acme_cert {
    char cert_id[STORE_ID_SIZE];
    char pack_id[STORE_ID_SIZE];
    char account_id[STORE_ID_SIZE];
    enum pack_ca ca;
    char serial[48];
    char *leaf_pem; /* heap */
    int64_t revoked_on, created_on;
};
void store_acme_cert_clear(struct store_acme_cert *c);
int store_acme_cert_create(struct store *s, const struct store_acme_cert *c);
int store_acme_cert_get(struct store *s, const char *cert_id, struct store_acme_cert *out);
/* Schedules STORE_ACME_REVOKE_JOB now for each certificate of the pack not revoked yet;
 * *count (may be NULL) gets how many. */
int store_acme_certs_revoke_pack(struct store *s, const char *pack_id, int *count);
int store_acme_cert_set_revoked(struct store *s, const char *cert_id, int64_t now);

/* ---- backup of a SQLite store (tlsward backup) ---- */
struct store_backup_result {
    int pages;          /* database pages copied */
    int schema_version; /* the copy's schema version (migrations applied) */
    bool checked;       /* the copy was made and PRAGMA integrity_check run on it */
    bool integrity_ok;  /* ... and it said "ok" */
};
/* Called after each batch of pages with how many of total are copied. */
typedef void (*store_backup_progress_fn)(int done, int total, void *ctx);
/* Copies the SQLite database at db_path, which a server may be writing meanwhile, into a
 * new file out_path (mode 0600) as one consistent snapshot, checked with PRAGMA
 * integrity_check and fsync'd before it takes its name. STORE_NOT_FOUND: no db_path;
 * STORE_CONFLICT: out_path exists; STORE_ERROR: anything else (logged). On any error
 * out_path is not created. progress may be NULL. */
int store_sqlite_backup(const char *db_path, const char *out_path,
                        store_backup_progress_fn progress, void *ctx,
                        struct store_backup_result *out);

/* ---- moving a SQLite store to PostgreSQL (tlsward migrate, store/sqlite_to_pg.c) ---- */
#define STORE_MIGRATE_TABLES_MAX 64
#define STORE_MIGRATE_NAME_SIZE 64
struct store_migrate_result {
    int source_version;   /* the source's PRAGMA user_version */
    int expected_version; /* this build's SQLite schema version */
    bool old_schema;      /* refused: the source is not at expected_version */
    int ntables;          /* tables copied so far, in copy order */
    struct {
        char name[STORE_MIGRATE_NAME_SIZE];
        int64_t rows;
    } tables[STORE_MIGRATE_TABLES_MAX];
    char failed_table[STORE_MIGRATE_NAME_SIZE]; /* the table a copy or count failed on */
    bool count_mismatch;                        /* ... because the row counts differ */
    char reason[256]; /* why it failed (one line, no value from the store, no password) */
};
/* Called after each table is copied. */
typedef void (*store_migrate_progress_fn)(const char *table, int64_t rows, void *ctx);
/* Copies the SQLite store at db_path (opened read-only, one read snapshot, unchanged) into
 * the empty PostgreSQL database at uri: the schema is created by store_open, then every
 * row of every table goes over in one transaction that commits only when every table's
 * row count matches on both sides. Sealed keys are copied as they are (the same master
 * key serves the PostgreSQL nodes). An empty store (the schema a failed run leaves) is
 * reused. STORE_NOT_FOUND: no db_path; STORE_CONFLICT: the database already holds a store
 * with rows (nothing changed); STORE_ERROR: anything else (out says
 * why, and which table, or old_schema). progress may be NULL. */
int store_sqlite_to_pg(const char *db_path, const char *uri, store_migrate_progress_fn progress,
                       void *ctx, struct store_migrate_result *out);
/* "host:port/database" of a PostgreSQL URI, for messages: never the user or password.
 * False (out "?") when libpq cannot parse it: its parse errors quote the whole URI, so
 * never print them. */
bool store_pg_describe(const char *uri, char *out, size_t size);

/* ---- nodes: the worker processes sharing one store, each deploying to its own tree ----
 * A node registers at start and heartbeats; it counts as live while its heartbeat is
 * younger than the liveness window (callers pass live_since = now - window). Each node
 * records what its deploy tree holds (kind "pack": a pack's certificates of one
 * generation; "aop": an active origin-pull certificate). */
#define STORE_NODE_NAME_SIZE STORE_NAME_SIZE
#define STORE_NODE_KIND_PACK "pack"
#define STORE_NODE_KIND_AOP "aop"

struct store_node_deployment {
    char object_id[STORE_ID_SIZE]; /* the pack's or origin-pull certificate's id */
    char zone_id[STORE_ID_SIZE];
    char kind[8];   /* STORE_NODE_KIND_* */
    int generation; /* pack: its certificates' generation; aop: 1 */
};

/* Inserts the node, or renames it and restarts its heartbeat (a restarted process). */
int store_node_register(struct store *s, const char *id, const char *name, int64_t now);
/* Renews the node's heartbeat; NOT_FOUND when it is not registered. */
int store_node_heartbeat(struct store *s, const char *id, int64_t now);
/* Live nodes (heartbeat at or after live_since). */
int store_node_live_count(struct store *s, int64_t live_since, int *count);
/* The generation the node has deployed of object_id; NOT_FOUND when none. */
int store_node_deployment_get(struct store *s, const char *node_id, const char *object_id,
                              int *generation);
/* Records that the node has d deployed. With wake_pack, the pack's job is made due now
 * in the same transaction (its activation waits for the nodes). */
int store_node_deployment_put(struct store *s, const char *node_id,
                              const struct store_node_deployment *d, bool wake_pack, int64_t now);
/* Forgets the node's deployment of object_id (nothing recorded is success). */
int store_node_deployment_delete(struct store *s, const char *node_id, const char *object_id);
/* How many live nodes, except_node left out (NULL: none), have not deployed generation
 * `generation` (or a newer one) of the pack. */
int store_node_missing(struct store *s, const char *pack_id, int generation, int64_t live_since,
                       const char *except_node, int *missing);
/* Up to max things the node should deploy and has not (yet) at that generation: every
 * pack that is pending_deployment, active or pending_expiration with its newest
 * certificates (a renewal's new generation included), and every active origin-pull
 * certificate, of zones not being deleted. *out: xfree. */
int store_node_todo(struct store *s, const char *node_id, int max,
                    struct store_node_deployment **out, int *count);
/* Up to max deployments the node recorded whose object is gone or deleted (its files are
 * to be removed). *out: xfree. */
int store_node_stale(struct store *s, const char *node_id, int max,
                     struct store_node_deployment **out, int *count);

/* ---- read snapshots (one per read-only request) ---- */
/* Borrows a connection, begins a read transaction on it (REPEATABLE READ READ ONLY on
 * PostgreSQL) and pins it to the calling thread: until store_snapshot_end, every call this
 * thread makes on s runs on that connection and sees the same state of the database (a
 * commit by anyone else in between is not seen), with no per-call borrowing or
 * transaction. Writes are refused meanwhile (STORE_ERROR, logged). One snapshot per
 * thread at a time; the same thread ends it. On SQLite the state is the one of the first
 * read. */
int store_snapshot_begin(struct store *s);
/* Ends the calling thread's snapshot on s and returns its connection (nothing without). */
void store_snapshot_end(struct store *s);
/* A snapshot can outlive one callback of the HTTP server and continue in another, maybe on
 * another thread: suspend unpins it from the calling thread without ending it (NULL when
 * the thread has none), resume pins it to the calling thread (STORE_ERROR if that thread
 * has one), release ends a suspended one from any thread. */
struct store_snapshot;
struct store_snapshot *store_snapshot_suspend(struct store *s);
int store_snapshot_resume(struct store *s, struct store_snapshot *snap);
void store_snapshot_release(struct store *s, struct store_snapshot *snap);

/* The pack's id, zone_id, status, cert_generation, version and modified_on only (no heap
 * arrays: store_pack_clear is not needed): enough to find its cached rendering without
 * decoding the row. NOT_FOUND like store_pack_get. */
int store_pack_get_key(struct store *s, const char *zone_id, const char *id,
                       struct store_pack *out);

/* Group commit (store/store_batch.c): what the writes of this store have been batched
 * into since it was opened, for benchmarks and tests. */
struct store_batch_stats {
    uint64_t batches;      /* transactions committed (or failed) by a leader */
    uint64_t items;        /* writes they carried */
    int largest;           /* the most writes in one transaction */
    int queued;            /* writes waiting now for the commit in progress to end */
    /* Where a write's time goes: summed over writes, from queueing to the result (the wait
     * for an earlier batch's commit, then its own batch's); summed over transactions, from
     * BEGIN to the end of COMMIT (the fsync included). Divided by items and batches, they
     * say how long a write waits and how long a commit takes. */
    uint64_t wait_us;
    uint64_t commit_us;
};
void store_batch_stats(struct store *s, struct store_batch_stats *out);

/* ---- store_packs.c: a list page rendered from its own rows (issue 13) ---- */
/* A listed pack as the page's query read it: every field of the row, its arrays still their
 * stored texts (a cached rendering needs only the key; store_pack_listed_decode turns the
 * texts into the pack's arrays when it must be rendered). */
struct store_pack_listed {
    struct store_pack pack;
    char *texts[4]; /* the store's own: hosts, records, errors, delegation records */
};
/* store_pack_list's page (keys_only is ignored) as listed packs
 * (store_pack_listed_free). */
int store_pack_list_listed(struct store *s, const struct store_pack_filter *f,
                           struct store_pack_listed **out, int *count, int *total);
/* Fills l->pack's arrays from its texts: STORE_OK or STORE_ERROR (logged; arrays empty). */
int store_pack_listed_decode(struct store_pack_listed *l);
void store_pack_listed_free(struct store_pack_listed *list, int count);
/* store_pack_certs without what the API does not show (chain_pem, key_sealed, serial,
 * key_type and not_before stay zero): an index-only read. */
int store_pack_certs_shown(struct store *s, const char *pack_id, int generation,
                           struct store_pack_cert **out, int *count);

/* WAL checkpoints of a SQLite store served by a pool (all zero on PostgreSQL and with a
 * pool of one, where SQLite checkpoints in the commit that fills the WAL): run by the
 * background checkpointer, off every commit's path; run by a commit to copy the short
 * tail the checkpointer left, so that the WAL starts over; run by a commit because the
 * WAL outgrew its bound while the checkpointer lagged behind. */
struct store_checkpoint_stats {
    uint64_t background;
    uint64_t tail;
    uint64_t inline_; /* by a writer: the WAL's bound was reached */
};
void store_checkpoint_stats(struct store *s, struct store_checkpoint_stats *out);

#endif
