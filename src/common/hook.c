/* Operator hooks run via /bin/sh -c (see hook.h for the rules they run under). */
/* posix_spawn_file_actions_addclosefrom_np and pipe2 are GNU extensions. */
#define _GNU_SOURCE
#include "common/hook.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h"

#define HOOK_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The last HOOK_OUTPUT_MAX bytes of the hook's output. */
struct hook__tail {
    char buf[HOOK_OUTPUT_MAX];
    size_t total; /* bytes seen; the next one goes to buf[total % size] */
};

static void hook__tail_add(struct hook__tail *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t->buf[t->total++ % sizeof t->buf] = p[i];
}

/* The kept output as one printable line (control characters become spaces, trailing
 * blanks dropped), "…" first when older output was dropped. Caller xfree's. */
static char *hook__tail_text(const struct hook__tail *t)
{
    size_t size = sizeof t->buf, kept = t->total < size ? t->total : size;
    size_t start = t->total < size ? 0 : t->total % size;
    char *s = xmalloc(kept + 4);
    size_t o = 0;
    if (t->total > size) {
        memcpy(s, "\xe2\x80\xa6", 3); /* … */
        o = 3;
    }
    for (size_t i = 0; i < kept; i++) {
        unsigned char c = (unsigned char)t->buf[(start + i) % size];
        s[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    while (o > 0 && s[o - 1] == ' ')
        o--;
    s[o] = '\0';
    return s;
}

/* Reads what is available from fd into t. Returns 1 at end of file (or error), else 0. */
static int hook__drain(int fd, struct hook__tail *t)
{
    char chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0) {
            hook__tail_add(t, chunk, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
    }
}

static void hook__sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The hook's environment: PATH, then vars. Caller frees every string and the array. */
static char **hook__env(const char *const *vars)
{
    const char *path = getenv("PATH");
    size_t n = 0;
    while (vars && vars[n])
        n++;
    char **envp = xcalloc(n + 2, sizeof *envp);
    envp[0] = xasprintf("PATH=%s", path && *path ? path : HOOK_DEFAULT_PATH);
    for (size_t i = 0; i < n; i++)
        envp[i + 1] = xstrdup(vars[i]);
    return envp;
}

/* Starts /bin/sh -c hook in a new process group with stdin from /dev/null and stdout and
 * stderr on out_fd. posix_spawn: safe in a multi-threaded process, and the group exists
 * when it returns (so kill(-pid) works from the first instant). Returns the pid or -1. */
static pid_t hook__spawn(const char *hook, char **envp, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid = -1;
    char *argv[] = {"sh", "-c", (char *)hook, NULL};
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* dup2 first: in a daemon started with 0 closed, out_fd itself may be 0. */
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Sockets and database files the process did not open O_CLOEXEC stay ours. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    /* A server ignores SIGPIPE and its threads block signals; the hook gets the defaults. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    int err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return pid;
}

int hook_run(const char *hook, const char *const *vars, const char *what, int timeout_s, char *why,
             size_t why_size)
{
    if (!hook || !*hook)
        return 0;
    assert(what && timeout_s > 0);
    int pipefd[2];
    /* Both ends close-on-exec: the spawn dup2()s the write end onto 1 and 2. */
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        util_why(why, why_size, "%s: pipe: %s", what, strerror(errno));
        return -1;
    }
    char **envp = hook__env(vars);
    pid_t pid = hook__spawn(hook, envp, pipefd[1]);
    int spawn_errno = errno;
    close(pipefd[1]);
    for (char **e = envp; *e; e++)
        xfree(*e);
    xfree(envp);
    if (pid < 0) {
        close(pipefd[0]);
        util_why(why, why_size, "%s: cannot start /bin/sh: %s", what, strerror(spawn_errno));
        return -1;
    }

    struct hook__tail *tail = xcalloc(1, sizeof *tail);
    int64_t deadline = util_mono_us() + (int64_t)timeout_s * 1000000;
    int rfd = pipefd[0], status = 0, timed_out = 0, lost = 0;
    (void)fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) { /* someone else reaped it (a SIGCHLD handler) */
            lost = errno;
            break;
        }
        int64_t left_us = deadline - util_mono_us();
        if (left_us <= 0) {
            (void)kill(-pid, SIGKILL); /* the group: the hook and what it started */
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            timed_out = 1;
            break;
        }
        /* Short slices: the pipe can stay open after the hook exits (a background child
         * holds it), so the exit is noticed by waitpid, not by end of file. */
        int slice_ms = rfd >= 0 ? 100 : 10;
        if (left_us < slice_ms * 1000LL)
            slice_ms = (int)(left_us / 1000) + 1;
        if (rfd >= 0) {
            struct pollfd p = {.fd = rfd, .events = POLLIN};
            if (poll(&p, 1, slice_ms) > 0 && hook__drain(rfd, tail)) {
                close(rfd);
                rfd = -1;
            }
        } else {
            hook__sleep_ms(slice_ms);
        }
    }
    if (rfd >= 0) { /* what the hook wrote just before it exited */
        (void)hook__drain(rfd, tail);
        close(rfd);
    }

    int rc = -1;
    char *out = hook__tail_text(tail);
    const char *shown = *out ? out : "(no output)";
    if (lost)
        util_why(why, why_size, "%s: lost track of pid %ld: %s", what, (long)pid, strerror(lost));
    else if (timed_out)
        util_why(why, why_size, "%s timed out after %d s and was killed; output: %s", what,
                 timeout_s, shown);
    else if (WIFSIGNALED(status))
        util_why(why, why_size, "%s killed by signal %d; output: %s", what, WTERMSIG(status),
                 shown);
    else if (WEXITSTATUS(status) != 0)
        util_why(why, why_size, "%s exited with status %d; output: %s", what, WEXITSTATUS(status),
                 shown);
    else
        rc = 0;
    xfree(out);
    xfree(tail);
    return rc;
}
