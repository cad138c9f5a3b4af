/* A thread that waits for the store's cross-process wake-ups (store_listener: PostgreSQL
 * LISTEN/NOTIFY) and calls back when a job may have become due, so a worker starts work
 * another node enqueued within milliseconds. */
#ifndef TLSWARD_WORKER_JOB_LISTENER_H
#define TLSWARD_WORKER_JOB_LISTENER_H

struct store;
struct job_listener;

/* NULL when the store has no wake-ups (SQLite) or they cannot be set up (logged; the
 * worker's interval still finds the work). on_work runs on the listener's thread. */
struct job_listener *job_listener_start(struct store *s, void (*on_work)(void *), void *arg);
void job_listener_stop(struct job_listener *l);

#endif
