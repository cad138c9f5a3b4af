/* A worker process as a node of its store: several nodes may share one store (SQLite file
 * on one machine, or PostgreSQL), and each terminates TLS from its own DATA/deploy/.
 *
 * A node's id lives in DATA/node.id (a wiped data dir is a new node). The node registers
 * at start and heartbeats; it counts as live while its last heartbeat is younger than the
 * liveness window. It records in the store what its deploy tree holds, and a sync pass
 * (at start and every worker interval) deploys what it lacks and removes what is gone,
 * so a node that joins later catches up by itself. A pack becomes active (and a renewal
 * visible) only once every live node has deployed its certificates (worker/pack_jobs.c).
 *
 * A process without a node id (serve --no-worker, unit tests driving worker_run_due)
 * records nothing, and for it every deployment counts as done everywhere. */
#ifndef TLSWARD_WORKER_NODE_H
#define TLSWARD_WORKER_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct app;

/* How often a node renews its heartbeat. */
#define NODE_HEARTBEAT_US (10 * 1000000LL)
/* A node is live while its heartbeat is younger than this: six missed heartbeats, so a
 * slow store never drops a running node, yet a dead one stops holding activations back
 * within a minute. --node-liveness overrides it (tests shorten it). */
#define NODE_LIVENESS_DEFAULT_US (60 * 1000000LL)
/* Things one sync pass deploys or removes at most (the rest in the next pass). */
#define NODE_SYNC_BATCH 64

/* Reads DATA/node.id, creating it (32 hex, atomically) on first use. 0 or -1 (logged). */
int node_id_load(const char *data_dir, char out[STORE_ID_SIZE]);

int64_t node_liveness_us(const struct app *app);
/* How often a pack waiting for other nodes is looked at again when no node wakes it. */
int64_t node_recheck_us(const struct app *app);

/* Serialises this node's deployment work on one object across its threads and the
 * processes sharing its data dir (the pack job and the sync pass must not both deploy, or
 * both remove, the same pack: its hook would run twice). */
void node_lock(const struct app *app, const char *object_id);
void node_unlock(const struct app *app, const char *object_id);

/* True when this node recorded generation `generation` (or newer) of object_id; always
 * false without a node id. */
bool node_has(struct app *app, const char *object_id, int generation);
/* Records (kind STORE_NODE_KIND_*) that this node deployed the object; wake_pack makes the
 * pack's job due now. Nothing without a node id. Failures are logged (the next sync pass
 * deploys again). */
void node_record(struct app *app, const char *kind, const char *object_id, const char *zone_id,
                 int generation, bool wake_pack);
void node_forget(struct app *app, const char *object_id);
/* Whether every live node has deployed `generation` of the pack (true without a node id,
 * and when no node is live); except_self leaves this node out. 0, or -1 on a store error. */
int node_all_deployed(struct app *app, const char *pack_id, int generation, bool except_self,
                      bool *all);

/* A deployment attempt of the object failed here: the sync pass leaves it alone until
 * retry_at (the pack job's own retry), so a failing hook runs no more often than before. */
void node_note_failure(const char *object_id, int64_t retry_at);
void node_note_success(const char *object_id);

/* One sync pass: deploys what this node lacks, removes what is gone. Returns how many
 * objects it deployed or removed, or -1 when the store could not be read. */
int node_sync(struct app *app);

/* The node's threads (heartbeat; sync pass every interval_us). NULL without a node id. */
struct node_runner;
struct node_runner *node_start(struct app *app, int64_t interval_us);
void node_stop(struct node_runner *n);

#endif
