/* A throwaway PostgreSQL 15 cluster for unit tests: initdb into a temp dir under /tmp,
 * then `postgres` run directly as a child of the test (never pg_ctl, whose daemonised
 * postmaster outlives a kill and blocks the next start) on a free 127.0.0.1 port, with its
 * Unix socket in the same temp dir. PostgreSQL refuses to run as root, so when the test
 * runs as root both initdb and postgres drop to the `postgres` user, which must be able to
 * enter the temp dir (it is chowned to it).
 *
 * tu_pg_database() hands out a fresh empty database of the process's one cluster, started
 * on first use and stopped at exit; tu_pg_start/tu_pg_stop drive a cluster of the caller's.
 * Missing binaries are a failure, not a skip: scripts/deps.sh installs them, and a store
 * suite that silently skipped its PostgreSQL half would prove nothing.
 * Header-only (static inline); include after <cmocka.h>; link libpq. */
#ifndef TLSWARD_TESTS_UNIT_TU_PG_H
#define TLSWARD_TESTS_UNIT_TU_PG_H

#include <errno.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "tu_daemon.h"

#define TU_PG_BIN "/usr/lib/postgresql/15/bin"
#define TU_PG_START_TRIES 1500 /* × 20 ms: 30 s for a start on a loaded 2-core machine */
#define TU_PG_STOP_TRIES 1500  /* × 20 ms before a fast shutdown is cut short by SIGKILL */

struct tu_pg {
    char dir[64];  /* the temp dir (socket, log), owned by the cluster's user */
    char data[96]; /* dir/data: the cluster */
    char log[96];  /* dir/postgres.log: initdb's and the server's output */
    pid_t pid;     /* the postmaster, leader of its own process group; 0 = stopped */
    int port;
    int shmid;     /* the postmaster's SysV segment (-1 unknown), removed if a kill left it */
    int databases; /* databases handed out so far (t_1, t_2, ...) */
};

/* The uid/gid the cluster runs as: `postgres` when we are root, else ourselves. */
static inline void tu_pg_owner(uid_t *uid, gid_t *gid)
{
    *uid = geteuid();
    *gid = getegid();
    if (*uid != 0)
        return;
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        fail_msg("tu_pg: running as root needs a 'postgres' user (scripts/deps.sh installs "
                 "the postgresql package, which creates it)");
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
}

/* Forks argv[0] as the cluster's user in a process group of its own, output appended to
 * the log. The postmaster gets SIGINT (fast shutdown) if the test process dies first, so
 * a crashed test leaves no server behind. The pid, or -1. */
static inline pid_t tu_pg_spawn(const struct tu_pg *pg, char *const argv[])
{
    uid_t uid;
    gid_t gid;
    tu_pg_owner(&uid, &gid);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    int fd = open(pg->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        if (fchown(fd, uid, gid) != 0)
            _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
        _exit(126);
    /* After setuid: a credential change clears the parent-death signal. */
    prctl(PR_SET_PDEATHSIG, SIGINT);
    if (getppid() != parent)
        _exit(125);
    char *const envp[] = {"LC_ALL=C", "PATH=/usr/bin:/bin", NULL};
    execve(argv[0], argv, envp);
    _exit(127);
}

/* The segment id from line 7 of postmaster.pid ("KEY SHMID"), or -1. */
static inline int tu_pg_read_shmid(const struct tu_pg *pg)
{
    char path[128], line[256];
    snprintf(path, sizeof path, "%s/postmaster.pid", pg->data);
    FILE *f = fopen(path, "r");
    int shmid = -1;
    for (int n = 1; f && fgets(line, sizeof line, f); n++) {
        unsigned long key, id;
        if (n == 7 && sscanf(line, "%lu %lu", &key, &id) == 2)
            shmid = (int)id;
    }
    if (f)
        fclose(f);
    return shmid;
}

/* True while the SysV segment shmid exists. */
static inline bool tu_pg_shm_exists(int shmid)
{
    struct shmid_ds ds;
    return shmid >= 0 && shmctl(shmid, IPC_STAT, &ds) == 0;
}

/* Runs postgres on pg->port and waits until PQping says it accepts connections.
 * 0, or -1 when it exited or the wait ran out (then it is killed). */
static inline int tu_pg_launch(struct tu_pg *pg)
{
    char port[16];
    snprintf(port, sizeof port, "%d", pg->port);
    /* fsync off: a unit-test cluster never outlives an OS crash, and syncing every
     * CREATE DATABASE on a shared machine only makes the suites slow. */
    /* clang-format off */
    char *argv[] = {TU_PG_BIN "/postgres", "-D", pg->data, "-k", pg->dir, "-p", port,
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                    "-c", "full_page_writes=off", "-c", "shared_buffers=16MB", NULL};
    /* clang-format on */
    if ((pg->pid = tu_pg_spawn(pg, argv)) < 0) {
        pg->pid = 0;
        return -1;
    }
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2", pg->port);
    for (int i = 0; i < TU_PG_START_TRIES; i++) {
        if (waitpid(pg->pid, NULL, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return -1;
        }
        if (PQping(conninfo) == PQPING_OK) {
            pg->shmid = tu_pg_read_shmid(pg);
            return 0;
        }
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    kill(-pg->pid, SIGKILL);
    waitpid(pg->pid, NULL, 0);
    pg->pid = 0;
    return -1;
}

/* Stops the cluster: SIGINT (fast shutdown: SIGTERM would wait for every client to go).
 * When the postmaster is already dead (tu_pg_kill, a crash) or ignores SIGINT for too long,
 * its orphaned children are killed through the process group, and the shared-memory
 * segment they kept is removed. Then the temp dir goes. Nothing to stop when pid is 0. */
static inline void tu_pg_stop(struct tu_pg *pg)
{
    if (pg->pid > 0) {
        int status = 0;
        bool reaped = waitpid(pg->pid, &status, WNOHANG) == pg->pid;
        if (!reaped)
            kill(pg->pid, SIGINT);
        for (int i = 0; i < TU_PG_STOP_TRIES && !reaped; i++) {
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
            reaped = waitpid(pg->pid, &status, WNOHANG) == pg->pid;
        }
        if (!reaped)
            fprintf(stderr, "tu_pg: postgres ignored SIGINT for 30 s; killing it\n");
        /* A postmaster that did not exit by itself left its children: the process group
         * outlives its leader while they live. */
        if (!reaped || !WIFEXITED(status))
            kill(-pg->pid, SIGKILL);
        if (!reaped)
            waitpid(pg->pid, NULL, 0);
        pg->pid = 0;
    }
    if (tu_pg_shm_exists(pg->shmid)) {
        shmctl(pg->shmid, IPC_RMID, NULL); /* gone once the last killed child detaches */
        for (int i = 0; i < 250 && tu_pg_shm_exists(pg->shmid); i++)
            nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    tu_daemon_remove_dir(pg->dir);
}

/* Kills the postmaster alone with SIGKILL, as a crash would: its children and its
 * shared-memory segment stay behind for tu_pg_stop to clean up. */
static inline void tu_pg_kill(struct tu_pg *pg)
{
    if (pg->pid > 0)
        kill(pg->pid, SIGKILL);
}

/* Creates and starts a cluster (see the top of the file). 0, or fails the test with the
 * cluster's log on stderr. */
static inline int tu_pg_start(struct tu_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->shmid = -1;
    static const char *const bins[] = {TU_PG_BIN "/initdb", TU_PG_BIN "/postgres"};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
        if (access(bins[i], X_OK) != 0)
            fail_msg("tu_pg: %s is missing: PostgreSQL 15 is not installed (run "
                     "scripts/deps.sh: packages postgresql, libpq-dev)",
                     bins[i]);
    uid_t uid;
    gid_t gid;
    tu_pg_owner(&uid, &gid);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/tw-pg-XXXXXX");
    if (!mkdtemp(pg->dir))
        fail_msg("tu_pg: mkdtemp: %s", strerror(errno));
    if (chown(pg->dir, uid, gid) != 0)
        fail_msg("tu_pg: chown %s: %s", pg->dir, strerror(errno));
    snprintf(pg->data, sizeof pg->data, "%s/data", pg->dir);
    snprintf(pg->log, sizeof pg->log, "%s/postgres.log", pg->dir);
    /* clang-format off */
    char *initdb[] = {TU_PG_BIN "/initdb", "-D", pg->data, "--auth=trust", "--locale=C",
                      "-E", "UTF8", "-U", "postgres", "--no-sync", "--no-instructions", NULL};
    /* clang-format on */
    pid_t pid = tu_pg_spawn(pg, initdb);
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        tu_daemon_print_log(pg->log);
        tu_daemon_remove_dir(pg->dir);
        fail_msg("tu_pg: initdb failed (status %d; its output is above)", status);
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((pg->port = tu_free_port()) < 0)
            continue;
        if (tu_pg_launch(pg) == 0)
            return 0;
    }
    tu_daemon_print_log(pg->log);
    tu_pg_stop(pg);
    fail_msg("tu_pg: postgres did not start (its log is above)");
    return -1;
}

/* A libpq connection to database db of the cluster (CONNECTION_OK asserted). */
static inline PGconn *tu_pg_connect(const struct tu_pg *pg, const char *db)
{
    char conninfo[160];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=%s", pg->port,
             db);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("tu_pg: cannot connect to %s: %s", db, PQerrorMessage(c));
    return c;
}

/* Creates the next empty database t_<n> and returns its URI (caller xfree's). */
static inline char *tu_pg_create_database(struct tu_pg *pg)
{
    char name[32], sql[64];
    snprintf(name, sizeof name, "t_%d", ++pg->databases);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGconn *c = tu_pg_connect(pg, "postgres");
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("tu_pg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return xasprintf("postgresql://postgres@127.0.0.1:%d/%s", pg->port, name);
}

/* The process's cluster: started by the first call, stopped at exit. */
static struct tu_pg tu_pg_shared_cluster;

static inline void tu_pg_shared_stop(void)
{
    tu_pg_stop(&tu_pg_shared_cluster);
}

static inline struct tu_pg *tu_pg_shared(void)
{
    if (tu_pg_shared_cluster.pid == 0) {
        tu_pg_start(&tu_pg_shared_cluster);
        static bool registered;
        if (!registered)
            atexit(tu_pg_shared_stop);
        registered = true;
    }
    return &tu_pg_shared_cluster;
}

/* A fresh empty database of the process's cluster: its URI (caller xfree's). */
static inline char *tu_pg_database(void)
{
    return tu_pg_create_database(tu_pg_shared());
}

#endif
