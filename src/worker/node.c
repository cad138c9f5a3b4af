/* This process as a node of its store (see node.h): identity, heartbeat, and the sync
 * pass that keeps DATA/deploy/ in step with the store.
 *
 * Two threads: the heartbeat (every NODE_HEARTBEAT_US, or a third of a shorter liveness
 * window) and the sync pass (at start and every worker interval). They are separate so a
 * slow deploy hook in a sync pass never lets the node's heartbeat lapse.
 *
 * Deployment work on one object is serialised within the process by a striped lock
 * (node_lock): whoever holds it checks node_has() first, so the pack job and the sync
 * pass never both deploy (and run the hook for) the same generation. */
#include "worker/node.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/aop_jobs.h"
#include "worker/deploy.h"
#include "worker/pack_jobs.h"
#include "worker/worker.h"

#define NODE_LOCK_STRIPES 64
#define NODE_FAILURES_MAX 128 /* objects whose failed deployment is remembered */

/* ---- identity ---- */

int node_id_load(const char *data_dir, char out[STORE_ID_SIZE])
{
    char *path = xasprintf("%s/node.id", data_dir), *text = NULL;
    size_t len = 0;
    int rc = -1;
    if (fsutil_read_file(path, 64, &text, &len) == 0) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
            text[--len] = '\0';
        if (util_is_id(text)) {
            memcpy(out, text, UTIL_ID_LEN + 1);
            rc = 0;
        } else {
            log_msg(LOG_ERROR, "node: %s is not a node id (32 hex); remove it to become a new node",
                    path);
        }
    } else if (errno == ENOENT) {
        char id[UTIL_ID_LEN + 2];
        util_random_id(id);
        id[UTIL_ID_LEN] = '\n';
        id[UTIL_ID_LEN + 1] = '\0';
        /* exclusive: two processes starting on one data dir agree on the first id */
        if (fsutil_write_atomic(path, id, UTIL_ID_LEN + 1, 0600, 1) == 0 || errno == EEXIST) {
            xfree(path);
            return node_id_load(data_dir, out);
        }
        log_msg(LOG_ERROR, "node: cannot create %s: %s", path, strerror(errno));
    } else {
        log_msg(LOG_ERROR, "node: cannot read %s: %s", path, strerror(errno));
    }
    xfree(text);
    xfree(path);
    return rc;
}

int64_t node_liveness_us(const struct app *app)
{
    return app->config.node_liveness_us > 0 ? app->config.node_liveness_us
                                            : NODE_LIVENESS_DEFAULT_US;
}

static int64_t heartbeat_us(const struct app *app)
{
    int64_t third = node_liveness_us(app) / 3;
    return third < NODE_HEARTBEAT_US ? third : NODE_HEARTBEAT_US;
}

int64_t node_recheck_us(const struct app *app)
{
    return heartbeat_us(app);
}

/* ---- per-object locks ----
 * A stripe is a mutex (threads) plus a write lock on byte <stripe> of DATA/node.lock
 * (processes sharing the data dir: they are one node, with one deploy tree). The file
 * stays open for the life of the process: closing any descriptor of it would drop the
 * process's record locks. */

static pthread_mutex_t stripes[NODE_LOCK_STRIPES];
static pthread_mutex_t lock_file_mutex = PTHREAD_MUTEX_INITIALIZER;
static int lock_fd = -1;
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < NODE_LOCK_STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

static int stripe_of(const char *object_id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)object_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (int)(h % NODE_LOCK_STRIPES);
}

/* DATA/node.lock, opened once; -1 for a process that is no node. */
static int lock_file(const struct app *app)
{
    if (!app->node_id[0] || !app->config.data_dir)
        return -1;
    pthread_mutex_lock(&lock_file_mutex);
    if (lock_fd < 0) {
        char *path = xasprintf("%s/node.lock", app->config.data_dir);
        lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0)
            log_msg(LOG_WARN, "node: cannot open %s: %s", path, strerror(errno));
        xfree(path);
    }
    int fd = lock_fd;
    pthread_mutex_unlock(&lock_file_mutex);
    return fd;
}

/* Takes or releases one stripe's byte of DATA/node.lock for the whole process.
 *
 * POSIX record locks belong to processes, not threads, so the kernel's deadlock check
 * sees a cycle whenever two worker processes each hold one stripe (on one thread) while
 * waiting for the other's (on another thread), and fails the wait with EDEADLK although
 * no thread waits for itself: each thread holds at most one stripe, so the holders finish
 * and release. Ignoring that error let two processes deploy (and run the hook for) one
 * pack at once; the wait is retried instead, until the stripe is really ours. */
static void range_lock(int fd, int stripe, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = stripe, .l_len = 1};
    while (fcntl(fd, F_SETLKW, &fl) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EDEADLK) {
            usleep(2000);
            continue;
        }
        log_msg(LOG_ERROR, "node: lock stripe %d of node.lock: %s", stripe, strerror(errno));
        return;
    }
}

void node_lock(const struct app *app, const char *object_id)
{
    pthread_once(&stripes_once, stripes_init);
    int stripe = stripe_of(object_id), fd = lock_file(app);
    pthread_mutex_lock(&stripes[stripe]);
    if (fd >= 0)
        range_lock(fd, stripe, F_WRLCK);
}

void node_unlock(const struct app *app, const char *object_id)
{
    int stripe = stripe_of(object_id), fd = lock_file(app);
    if (fd >= 0)
        range_lock(fd, stripe, F_UNLCK);
    pthread_mutex_unlock(&stripes[stripe]);
}

/* ---- what this node has deployed ---- */

bool node_has(struct app *app, const char *object_id, int generation)
{
    int have = 0;
    return app->node_id[0] &&
           store_node_deployment_get(app->store, app->node_id, object_id, &have) == STORE_OK &&
           have >= generation;
}

void node_record(struct app *app, const char *kind, const char *object_id, const char *zone_id,
                 int generation, bool wake_pack)
{
    if (!app->node_id[0])
        return;
    struct store_node_deployment d = {.generation = generation};
    snprintf(d.object_id, sizeof d.object_id, "%s", object_id);
    snprintf(d.zone_id, sizeof d.zone_id, "%s", zone_id);
    snprintf(d.kind, sizeof d.kind, "%s", kind);
    if (store_node_deployment_put(app->store, app->node_id, &d, wake_pack, util_now_us()) !=
        STORE_OK)
        log_msg(LOG_WARN, "node: cannot record the deployment of %s %s", kind, object_id);
}

void node_forget(struct app *app, const char *object_id)
{
    if (app->node_id[0] &&
        store_node_deployment_delete(app->store, app->node_id, object_id) != STORE_OK)
        log_msg(LOG_WARN, "node: cannot forget the deployment of %s", object_id);
}

int node_all_deployed(struct app *app, const char *pack_id, int generation, bool except_self,
                      bool *all)
{
    *all = true;
    if (!app->node_id[0])
        return 0;
    int missing = 0;
    int64_t since = util_now_us() - node_liveness_us(app);
    if (store_node_missing(app->store, pack_id, generation, since,
                           except_self ? app->node_id : NULL, &missing) != STORE_OK)
        return -1;
    *all = missing == 0;
    return 0;
}

/* ---- failed attempts (so the sync pass keeps the pack job's back-off) ---- */

static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static struct failure {
    char id[STORE_ID_SIZE];
    int64_t retry_at;
} failures[NODE_FAILURES_MAX];

void node_note_failure(const char *object_id, int64_t retry_at)
{
    pthread_mutex_lock(&failures_lock);
    struct failure *slot = &failures[0];
    for (int i = 0; i < NODE_FAILURES_MAX; i++) {
        if (strcmp(failures[i].id, object_id) == 0) {
            slot = &failures[i];
            break;
        }
        if (failures[i].retry_at < slot->retry_at) /* else the soonest due (or a free one) */
            slot = &failures[i];
    }
    snprintf(slot->id, sizeof slot->id, "%s", object_id);
    slot->retry_at = retry_at;
    pthread_mutex_unlock(&failures_lock);
}

void node_note_success(const char *object_id)
{
    pthread_mutex_lock(&failures_lock);
    for (int i = 0; i < NODE_FAILURES_MAX; i++)
        if (strcmp(failures[i].id, object_id) == 0)
            memset(&failures[i], 0, sizeof failures[i]);
    pthread_mutex_unlock(&failures_lock);
}

static bool backing_off(const char *object_id, int64_t now)
{
    bool wait = false;
    pthread_mutex_lock(&failures_lock);
    for (int i = 0; i < NODE_FAILURES_MAX && !wait; i++)
        wait = failures[i].retry_at > now && strcmp(failures[i].id, object_id) == 0;
    pthread_mutex_unlock(&failures_lock);
    return wait;
}

/* ---- the sync pass ---- */

static bool deployable(enum pack_status status)
{
    return status == PACK_PENDING_DEPLOYMENT || status == PACK_ACTIVE ||
           status == PACK_PENDING_EXPIRATION;
}

/* Deploys a pack's certificates of d->generation here (under the object's lock). A first
 * deployment counts once its hook succeeded; a renewal's new generation once its files
 * are in place (a failing hook is reported, as for a renewal on one node). 1 if done. */
static int sync_pack(struct app *app, const struct store_node_deployment *d, int64_t now)
{
    struct store_pack p = {0};
    struct store_zone zone;
    struct store_pack_cert *certs = NULL;
    int n = 0, done = 0;
    if (store_pack_by_id(app->store, d->object_id, &p) != STORE_OK)
        return 0;
    if (deployable(p.status) && store_zone_get(app->store, p.zone_id, &zone) == STORE_OK &&
        store_pack_certs(app->store, p.id, d->generation, &certs, &n) == STORE_OK && n == 2) {
        bool first = p.status == PACK_PENDING_DEPLOYMENT && d->generation == p.cert_generation;
        int rc = pack_job_deploy_here(app, &zone, &p, certs, n);
        if (rc == 0 || (rc == PACK_DEPLOY_HOOK_FAILED && !first)) {
            node_record(app, STORE_NODE_KIND_PACK, p.id, zone.id, d->generation,
                        first || d->generation > p.cert_generation);
            node_note_success(p.id);
            done = 1;
        } else {
            node_note_failure(p.id, now + worker_backoff_us(2));
        }
    }
    store_pack_cert_list_free(certs, n);
    store_pack_clear(&p);
    return done;
}

static int sync_aop(struct app *app, const struct store_node_deployment *d, int64_t now)
{
    struct store_aop_cert c;
    if (store_aop_cert_get(app->store, NULL, STORE_AOP_KIND_INVALID, d->object_id, &c) != STORE_OK)
        return 0;
    int done = 0;
    if (c.status == STORE_AOP_ACTIVE) {
        if (aop_job_deploy_here(app, &c) == 0) {
            node_record(app, STORE_NODE_KIND_AOP, c.id, c.zone_id, 1, false);
            done = 1;
        } else {
            node_note_failure(c.id, now + worker_backoff_us(2));
        }
    }
    store_aop_cert_clear(&c);
    return done;
}

/* Removes a recorded deployment whose object is gone or deleted: the files, then (packs)
 * the delete hook, told what the store still knows of the pack and its zone. */
static int remove_stale(struct app *app, const struct store_node_deployment *d)
{
    int rc;
    if (strcmp(d->kind, STORE_NODE_KIND_AOP) == 0) {
        struct store_aop_cert c;
        bool known = store_aop_cert_get(app->store, NULL, STORE_AOP_KIND_INVALID, d->object_id,
                                        &c) == STORE_OK;
        /* Without its row the kind is unknown: both places are cleared. */
        rc = aop_job_remove_here(app, d->zone_id, known ? c.kind : STORE_AOP_ZONE, d->object_id);
        if (!known && rc == 0)
            rc = aop_job_remove_here(app, d->zone_id, STORE_AOP_HOSTNAME, d->object_id);
        if (known)
            store_aop_cert_clear(&c);
    } else {
        struct store_pack p = {0};
        struct store_zone zone = {0};
        bool known = store_pack_by_id(app->store, d->object_id, &p) == STORE_OK;
        if (!known) {
            snprintf(p.id, sizeof p.id, "%s", d->object_id);
        }
        if (store_zone_get_any(app->store, d->zone_id, &zone) != STORE_OK) {
            memset(&zone, 0, sizeof zone);
            snprintf(zone.id, sizeof zone.id, "%s", d->zone_id);
        }
        rc = pack_job_remove_here(app, &zone, &p);
        store_pack_clear(&p);
    }
    if (rc == 0)
        node_forget(app, d->object_id);
    return rc == 0;
}

int node_sync(struct app *app)
{
    if (!app->node_id[0])
        return 0;
    struct store_node_deployment *todo = NULL, *stale = NULL;
    int ntodo = 0, nstale = 0, done = 0;
    int64_t now = util_now_us();
    if (store_node_todo(app->store, app->node_id, NODE_SYNC_BATCH, &todo, &ntodo) != STORE_OK ||
        store_node_stale(app->store, app->node_id, NODE_SYNC_BATCH, &stale, &nstale) != STORE_OK) {
        xfree(todo);
        return -1;
    }
    for (int i = 0; i < ntodo; i++) {
        const struct store_node_deployment *d = &todo[i];
        if (!deploy_name_ok(d->object_id) || backing_off(d->object_id, now))
            continue;
        node_lock(app, d->object_id);
        if (!node_has(app, d->object_id, d->generation))
            done += strcmp(d->kind, STORE_NODE_KIND_AOP) == 0 ? sync_aop(app, d, now)
                                                              : sync_pack(app, d, now);
        node_unlock(app, d->object_id);
    }
    for (int i = 0; i < nstale; i++) {
        const struct store_node_deployment *d = &stale[i];
        if (!deploy_name_ok(d->object_id) || !deploy_name_ok(d->zone_id))
            continue;
        node_lock(app, d->object_id);
        if (node_has(app, d->object_id, 0))
            done += remove_stale(app, d);
        node_unlock(app, d->object_id);
    }
    if (done)
        log_msg(LOG_INFO, "node: sync pass deployed or removed %d", done);
    xfree(todo);
    xfree(stale);
    return done;
}

/* ---- the threads ---- */

struct node_runner {
    struct app *app;
    int64_t interval_us;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    pthread_t beat, sync;
    bool beat_started, sync_started;
};

/* Sleeps up to us or until stopped; false when stopping. */
static bool pause_for(struct node_runner *n, int64_t us)
{
    struct timespec deadline = util_deadline_in(us);
    pthread_mutex_lock(&n->lock);
    while (!n->stopping && pthread_cond_timedwait(&n->wake, &n->lock, &deadline) != ETIMEDOUT)
        ;
    bool go_on = !n->stopping;
    pthread_mutex_unlock(&n->lock);
    return go_on;
}

static void *beat_main(void *arg)
{
    struct node_runner *n = arg;
    struct app *app = n->app;
    while (pause_for(n, heartbeat_us(app))) {
        int rc = store_node_heartbeat(app->store, app->node_id, util_now_us());
        if (rc == STORE_NOT_FOUND) /* its row was removed: register again */
            rc = store_node_register(app->store, app->node_id,
                                     app->config.node_name ? app->config.node_name : "",
                                     util_now_us());
        if (rc != STORE_OK)
            log_msg(LOG_WARN, "node: heartbeat failed; retrying");
    }
    return NULL;
}

static void *sync_main(void *arg)
{
    struct node_runner *n = arg;
    do {
        node_sync(n->app);
    } while (pause_for(n, n->interval_us));
    return NULL;
}

struct node_runner *node_start(struct app *app, int64_t interval_us)
{
    if (!app->node_id[0])
        return NULL;
    struct node_runner *n = xcalloc(1, sizeof *n);
    n->app = app;
    n->interval_us = interval_us > 0 ? interval_us : 1000000;
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->wake, NULL);
    n->beat_started = pthread_create(&n->beat, NULL, beat_main, n) == 0;
    n->sync_started = n->beat_started && pthread_create(&n->sync, NULL, sync_main, n) == 0;
    if (!n->sync_started) {
        log_msg(LOG_ERROR, "node: cannot start its threads");
        node_stop(n);
        return NULL;
    }
    return n;
}

void node_stop(struct node_runner *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (n->sync_started)
        pthread_join(n->sync, NULL);
    if (n->beat_started)
        pthread_join(n->beat, NULL);
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
    xfree(n);
}
