/* The plumbing every daemon fixture of the unit tests shares (tu_dnsmasq.h, tu_knot.h,
 * tu_pebble.h): a free 127.0.0.1 port, starting the daemon in the foreground with its
 * output in a log file, waiting until its TCP ports accept, printing the log when it did
 * not come up, and stopping it. Header-only (static inline). */
#ifndef TLSWARD_TESTS_UNIT_TU_DAEMON_H
#define TLSWARD_TESTS_UNIT_TU_DAEMON_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A socket bound to 127.0.0.1 (port 0: the kernel picks; *port_out gets it), or -1. */
static inline int tu_bind_loopback(int type, int port, int *port_out)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    if (port_out)
        *port_out = ntohs(a.sin_port);
    return fd;
}

/* A free 127.0.0.1 TCP port (bound, read, closed: racy in theory, fine for tests), or -1. */
static inline int tu_free_port(void)
{
    int port = -1, fd = tu_bind_loopback(SOCK_STREAM, 0, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

/* True when a TCP connection to 127.0.0.1:port succeeds. */
static inline bool tu_port_open(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(c, (struct sockaddr *)&a, sizeof a) == 0;
    close(c);
    return ok;
}

/* Forks and execs argv[0] with stdout and stderr appended to log; in_child (may be NULL)
 * runs in the child just before the exec (to set its environment). The pid, or -1. */
static inline pid_t tu_daemon_spawn(const char *log, char *const argv[], void (*in_child)(void))
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    if (in_child)
        in_child();
    execv(argv[0], argv);
    _exit(127);
}

/* Waits up to tries × 20 ms for every port in ports (n of them) to accept on 127.0.0.1.
 * 0 once they do; -1 when the daemon exited or the time ran out (then it is killed), with
 * *pid reaped and set to 0 either way. */
static inline int tu_daemon_wait(pid_t *pid, const int *ports, int n, int tries)
{
    for (int i = 0; i < tries; i++) {
        int status;
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return -1;
        }
        int open = 0;
        while (open < n && tu_port_open(ports[open]))
            open++;
        if (open == n)
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
    return -1;
}

/* Prints a daemon's log to stderr (when it did not come up). */
static inline void tu_daemon_print_log(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        fputs(line, stderr);
    if (f)
        fclose(f);
}

/* Stops a started daemon (SIGCONT first: a test may have frozen it), reaps it, sets *pid
 * to 0. Nothing when *pid is 0. */
static inline void tu_daemon_stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGCONT);
    kill(*pid, SIGTERM);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

/* Removes a fixture's temp directory (dir[0] set to '\0'; nothing when it is empty). */
static inline void tu_daemon_remove_dir(char *dir)
{
    if (!dir[0])
        return;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    dir[0] = '\0';
}

#endif
