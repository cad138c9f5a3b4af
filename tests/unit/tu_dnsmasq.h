/* A test DNS server for unit tests: dnsmasq (package dnsmasq-base, installed by
 * scripts/deps.sh) on a free 127.0.0.1 port picked at run time, with a configuration the
 * test writes through a callback (txt-record=, host-record=, local=, and CAA records as
 * dns-rr=NAME,257,HEX via tu_dns_write_caa). dnsmasq reads its records only at start-up, so
 * tu_dns_restart rewrites the configuration and restarts it on the same port.
 * Header-only (static inline); include after <cmocka.h>. tu_daemon.h (included) has the
 * process plumbing and tu_bind_loopback. */
#ifndef TLSWARD_TESTS_UNIT_TU_DNSMASQ_H
#define TLSWARD_TESTS_UNIT_TU_DNSMASQ_H

#include "tu_daemon.h"

/* Writes the records part of the configuration. */
typedef void (*tu_dns_records_fn)(FILE *f, void *ctx);

struct tu_dns {
    const char *binary; /* NULL: dnsmasq is not installed */
    char dir[64];
    char conf[128];
    char log[128];
    pid_t pid;
    int port;
    tu_dns_records_fn records;
    void *ctx;
};

/* "dns-rr=NAME,257,HEX" for one CAA record (RFC 8659 §4.1 wire format). */
static inline void tu_dns_write_caa(FILE *f, const char *name, int flags, const char *tag,
                                    const char *value)
{
    fprintf(f, "dns-rr=%s,257,%02x%02x", name, flags, (unsigned)strlen(tag));
    for (const char *p = tag; *p; p++)
        fprintf(f, "%02x", (unsigned char)*p);
    for (const char *p = value; *p; p++)
        fprintf(f, "%02x", (unsigned char)*p);
    fprintf(f, "\n");
}

/* A DNS server that never answers: a UDP socket on 127.0.0.1, bound and never read, so a
 * lookup against it ends at the resolver's timeout. Returns the socket for the caller to
 * close; its "127.0.0.1:PORT" in server. */
static inline int tu_dns_silent(char server[32])
{
    int port = 0;
    int fd = tu_bind_loopback(SOCK_DGRAM, 0, &port);
    assert_true(fd >= 0);
    snprintf(server, 32, "127.0.0.1:%d", port);
    return fd;
}

static inline void tu_dns_write_conf(struct tu_dns *d)
{
    FILE *f = fopen(d->conf, "w");
    if (!f)
        fail_msg("cannot write %s", d->conf);
    fprintf(f, "listen-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
               "log-facility=-\n");
    fprintf(f, "pid-file=%s/dnsmasq.pid\n", d->dir);
    d->records(f, d->ctx);
    fclose(f);
}

/* Runs dnsmasq on d->port; 0 once its TCP socket accepts, -1 if it exited. */
static inline int tu_dns_launch(struct tu_dns *d)
{
    char port_arg[32], conf_arg[160];
    snprintf(port_arg, sizeof port_arg, "--port=%d", d->port);
    snprintf(conf_arg, sizeof conf_arg, "--conf-file=%s", d->conf);
    char *argv[] = {(char *)d->binary, "--keep-in-foreground", conf_arg, port_arg, NULL};
    d->pid = tu_daemon_spawn(d->log, argv, NULL);
    if (d->pid < 0) {
        d->pid = 0;
        return -1;
    }
    return tu_daemon_wait(&d->pid, &d->port, 1, 250); /* 5 s */
}

static inline void tu_dns_halt(struct tu_dns *d)
{
    tu_daemon_stop(&d->pid);
}

/* Starts dnsmasq with the records `records` writes. Returns 0; 1 when dnsmasq is not
 * installed (d->binary NULL: the caller skips its DNS tests); -1 when it did not start. */
static inline int tu_dns_start(struct tu_dns *d, tu_dns_records_fn records, void *ctx)
{
    static const char *const paths[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq",
                                        "/usr/local/sbin/dnsmasq", "/sbin/dnsmasq"};
    memset(d, 0, sizeof *d);
    d->records = records;
    d->ctx = ctx;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && !d->binary; i++) {
        if (access(paths[i], X_OK) == 0)
            d->binary = paths[i];
    }
    if (!d->binary)
        return 1;
    snprintf(d->dir, sizeof d->dir, "/tmp/tlsward-dns-XXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->conf, sizeof d->conf, "%s/dnsmasq.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/dnsmasq.log", d->dir);
    tu_dns_write_conf(d);
    for (int attempt = 0; attempt < 5; attempt++) {
        int ufd = tu_bind_loopback(SOCK_DGRAM, 0, &d->port);
        int tfd = ufd >= 0 ? tu_bind_loopback(SOCK_STREAM, d->port, NULL) : -1;
        if (ufd >= 0)
            close(ufd);
        if (tfd < 0)
            continue; /* the TCP side of that port is taken: another one */
        close(tfd);
        if (tu_dns_launch(d) == 0)
            return 0;
    }
    fprintf(stderr, "dnsmasq did not start; its log:\n");
    tu_daemon_print_log(d->log);
    return -1;
}

/* Rewrites the configuration (the callback sees the test's new state) and restarts
 * dnsmasq on the same port. Returns 0 or -1. */
static inline int tu_dns_restart(struct tu_dns *d)
{
    tu_dns_halt(d);
    tu_dns_write_conf(d);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (tu_dns_launch(d) == 0)
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    tu_daemon_print_log(d->log);
    return -1;
}

/* "127.0.0.1:PORT" of the server, for dcv_resolver_set_dns. */
static inline void tu_dns_address(const struct tu_dns *d, char out[32])
{
    snprintf(out, 32, "127.0.0.1:%d", d->port);
}

/* Stops dnsmasq and removes its files. */
static inline void tu_dns_stop(struct tu_dns *d)
{
    tu_dns_halt(d);
    if (!d->binary || !d->dir[0])
        return;
    static const char *const files[] = {"dnsmasq.conf", "dnsmasq.log", "dnsmasq.pid"};
    char path[160];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", d->dir, files[i]);
        unlink(path);
    }
    rmdir(d->dir);
    d->dir[0] = '\0';
}

#endif
