/* A real ACME server for unit tests: Debian's pebble (installed by scripts/deps.sh) on free
 * 127.0.0.1 ports picked at run time. Pebble ships no TLS certificate, so the fixture makes
 * a test CA and a localhost/127.0.0.1 leaf with the openssl command, writes Pebble's JSON
 * configuration (optionally requiring external account binding), and starts it with
 * PEBBLE_VA_ALWAYS_VALID=1 (no challenge server needed) and PEBBLE_VA_NOSLEEP=1, leaving
 * its 5 % bad-nonce rejection on. One alternate root (PEBBLE_ALTERNATE_ROOTS=1) gives every
 * certificate a Link rel="alternate" chain. tu_pebble_fetch reads its management port
 * (/roots/N, /cert-status-by-serial/HEX). Header-only (static inline); include after
 * <cmocka.h>. */
#ifndef TLSWARD_TESTS_UNIT_TU_PEBBLE_H
#define TLSWARD_TESTS_UNIT_TU_PEBBLE_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tu_daemon.h"

#ifndef TU_PEBBLE_BIN
#define TU_PEBBLE_BIN "/usr/bin/pebble"
#endif

struct tu_pebble {
    char dir[64];
    char conf[128];
    char log[128];
    char ca_file[128]; /* the test CA that signed Pebble's HTTPS certificate */
    pid_t pid;
    int port, mgmt_port;
    char directory_url[96];
};

/* The CA and the leaf Pebble serves HTTPS with, by the openssl command. 0 or -1. */
static inline int tu_pebble_make_certs(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -subj /CN=tlsward-test-pebble-ca -days 2 && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout leaf.key -out leaf.csr -subj /CN=localhost && "
             "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out leaf.pem -days 2 -extfile san.ext",
             dir);
    char full[2200];
    snprintf(full, sizeof full, "(%s) >'%s/openssl.log' 2>&1", cmd, dir);
    return system(full) == 0 ? 0 : -1;
}

/* Pebble's environment (in the child, before the exec). */
static inline void tu_pebble_env(void)
{
    setenv("PEBBLE_VA_ALWAYS_VALID", "1", 1);
    setenv("PEBBLE_VA_NOSLEEP", "1", 1);
    setenv("PEBBLE_ALTERNATE_ROOTS", "1", 1);
    unsetenv("PEBBLE_WFE_NONCEREJECT"); /* keep the default 5 % */
}

/* Starts Pebble. eab_kid/eab_key (base64url) non-NULL: external account binding required,
 * with that one MAC key. Returns 0; 1 when pebble is not installed (the caller skips); -1
 * when it did not start (its log is printed). */
static inline int tu_pebble_start(struct tu_pebble *p, const char *eab_kid, const char *eab_key)
{
    memset(p, 0, sizeof *p);
    if (access(TU_PEBBLE_BIN, X_OK) != 0)
        return 1;
    snprintf(p->dir, sizeof p->dir, "/tmp/tlsward-pebble-XXXXXX");
    if (!mkdtemp(p->dir))
        return -1;
    snprintf(p->conf, sizeof p->conf, "%s/pebble.json", p->dir);
    snprintf(p->log, sizeof p->log, "%s/pebble.log", p->dir);
    snprintf(p->ca_file, sizeof p->ca_file, "%s/ca.pem", p->dir);
    if (tu_pebble_make_certs(p->dir) != 0) {
        fprintf(stderr, "tu_pebble: openssl could not make the certificates (see %s)\n", p->dir);
        return -1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        p->port = tu_free_port();
        p->mgmt_port = tu_free_port();
        int http_port = tu_free_port(), tls_port = tu_free_port();
        FILE *f = fopen(p->conf, "w");
        if (!f)
            return -1;
        fprintf(f,
                "{\"pebble\":{\"listenAddress\":\"127.0.0.1:%d\","
                "\"managementListenAddress\":\"127.0.0.1:%d\","
                "\"certificate\":\"%s/leaf.pem\",\"privateKey\":\"%s/leaf.key\","
                "\"httpPort\":%d,\"tlsPort\":%d,\"ocspResponderURL\":\"\","
                "\"externalAccountBindingRequired\":%s",
                p->port, p->mgmt_port, p->dir, p->dir, http_port, tls_port,
                eab_kid ? "true" : "false");
        if (eab_kid)
            fprintf(f, ",\"externalAccountMACKeys\":{\"%s\":\"%s\"}", eab_kid, eab_key);
        fprintf(f, "}}\n");
        fclose(f);
        char *argv[] = {TU_PEBBLE_BIN, "-config", p->conf, "-strict=false", NULL};
        p->pid = tu_daemon_spawn(p->log, argv, tu_pebble_env);
        if (p->pid < 0) {
            p->pid = 0;
            return -1;
        }
        const int ports[] = {p->port, p->mgmt_port};
        if (tu_daemon_wait(&p->pid, ports, 2, 500) == 0) { /* 10 s */
            snprintf(p->directory_url, sizeof p->directory_url, "https://127.0.0.1:%d/dir",
                     p->port);
            return 0;
        }
    }
    fprintf(stderr, "pebble did not start; its log:\n");
    tu_daemon_print_log(p->log);
    return -1;
}

/* Stops Pebble (and reaps it) and removes its directory. */
static inline void tu_pebble_stop(struct tu_pebble *p)
{
    tu_daemon_stop(&p->pid);
    tu_daemon_remove_dir(p->dir);
}

static inline size_t tu_pebble_sink(char *data, size_t size, size_t nmemb, void *ctx)
{
    char **buf = ctx;
    size_t have = *buf ? strlen(*buf) : 0, n = size * nmemb;
    char *grown = realloc(*buf, have + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + have, data, n);
    grown[have + n] = '\0';
    *buf = grown;
    return n;
}

/* GET https://127.0.0.1:<management port><path>: the body (free()), or NULL unless 200. */
static inline char *tu_pebble_fetch(const struct tu_pebble *p, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", p->mgmt_port, path);
    CURL *h = curl_easy_init();
    char *body = NULL;
    long status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tu_pebble_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (status != 200) {
        free(body);
        return NULL;
    }
    return body;
}

#endif
