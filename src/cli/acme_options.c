/* The --acme-* options of serve and worker: which certificate authorities go to an ACME
 * upstream, with what account binding, contact, trust and chain preference. Each value is
 * checked here, so a bad flag stops the process before it talks to anyone. The EAB MAC key
 * is a secret: no message ever repeats it. */
#include "cli/cli.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "core/pack_rules.h"

/* Splits "CA=REST": the CA's slot and REST, or CLI_USER_ERROR (printed, naming the flag
 * but not REST, which may be a secret). */
static int ca_value(const char *flag, const char *arg, int *slot, const char **rest)
{
    const char *eq = strchr(arg, '=');
    char name[16];
    enum pack_ca ca;
    size_t n = eq ? (size_t)(eq - arg) : 0;
    if (!eq || n == 0 || n >= sizeof name)
        return cli_fail("%s: expected CA=VALUE with CA one of lets_encrypt, google, ssl_com", flag);
    memcpy(name, arg, n);
    name[n] = '\0';
    if (pack_ca_parse(name, &ca) < 0 || (int)ca >= APP_ACME_CAS)
        return cli_fail("%s %s=...: unknown certificate authority (lets_encrypt, google, ssl_com)",
                        flag, name);
    *slot = (int)ca;
    *rest = eq + 1;
    return CLI_OK;
}

/* Printable ASCII without spaces, at most max bytes (max excludes the NUL). */
static bool printable(const char *s, size_t max, const char *reject)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || c <= 0x20 || c >= 0x7f || (reject && strchr(reject, c)))
            return false;
    }
    return n > 0;
}

static bool base64url(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    /* Padding is tolerated (some CAs print it) but nothing else. */
    while (s[n] == '=')
        n++;
    return n > 0 && s[n] == '\0';
}

static int directory_option(struct app_acme *acme)
{
    int slot;
    const char *url;
    if (ca_value("--acme-directory", optarg, &slot, &url) != CLI_OK)
        return CLI_USER_ERROR;
    if (strncmp(url, "https://", 8) != 0 || !printable(url, APP_ACME_URL_SIZE - 1, "\"'<>\\`{|}") ||
        url[8] == '/' || url[8] == '\0')
        return cli_fail("--acme-directory %s: expected an https:// URL of at most %d printable "
                        "characters",
                        optarg, APP_ACME_URL_SIZE - 1);
    if (acme->ca[slot].directory)
        return cli_fail("--acme-directory %s: that CA already has a directory", optarg);
    acme->ca[slot].directory = url;
    return CLI_OK;
}

static int eab_option(struct app_acme *acme)
{
    int slot;
    const char *rest;
    if (ca_value("--acme-eab", optarg, &slot, &rest) != CLI_OK)
        return CLI_USER_ERROR;
    const char *colon = strchr(rest, ':');
    size_t kid_len = colon ? (size_t)(colon - rest) : 0;
    struct app_acme_ca *ca = &acme->ca[slot];
    if (!colon || kid_len == 0 || kid_len >= sizeof ca->eab_kid)
        return cli_fail("--acme-eab: expected CA=KID:HMAC (a key id of 1 to %zu characters)",
                        sizeof ca->eab_kid - 1);
    memcpy(ca->eab_kid, rest, kid_len);
    ca->eab_kid[kid_len] = '\0';
    if (!printable(ca->eab_kid, sizeof ca->eab_kid - 1, "\"\\"))
        return cli_fail("--acme-eab: the key id must be printable ASCII without spaces");
    if (strlen(colon + 1) >= sizeof ca->eab_hmac || !base64url(colon + 1))
        return cli_fail("--acme-eab: the MAC key must be base64url (at most %zu characters)",
                        sizeof ca->eab_hmac - 1);
    snprintf(ca->eab_hmac, sizeof ca->eab_hmac, "%s", colon + 1);
    return CLI_OK;
}

/* mailto:local@domain, one address, as RFC 8555 §7.3 accepts (no query, no list). */
static int contact_option(struct app_acme *acme)
{
    const char *addr = optarg + 7, *at = strchr(addr, '@');
    if (strncmp(optarg, "mailto:", 7) != 0 || !printable(addr, 254, ",?\"<>\\") || !at ||
        at == addr || !strchr(at, '.') || strchr(at + 1, '@'))
        return cli_fail("--acme-contact %s: expected mailto:ADDRESS (one address)", optarg);
    acme->contact = optarg;
    return CLI_OK;
}

static int preferred_chain_option(struct app_acme *acme)
{
    int slot;
    const char *cn;
    if (ca_value("--acme-preferred-chain", optarg, &slot, &cn) != CLI_OK)
        return CLI_USER_ERROR;
    size_t n = strlen(cn);
    if (n == 0 || n >= APP_ACME_CN_SIZE)
        return cli_fail("--acme-preferred-chain %s: expected CA=ISSUER_CN (1 to %d characters)",
                        optarg, APP_ACME_CN_SIZE - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] == 0x7f)
            return cli_fail("--acme-preferred-chain: the issuer CN has a control character");
    snprintf(acme->ca[slot].preferred_chain, APP_ACME_CN_SIZE, "%s", cn);
    return CLI_OK;
}

int cli_acme_option(int c, struct app_config *cfg)
{
    switch (c) {
    case CLI_OPT_ACME_DIRECTORY:
        return directory_option(&cfg->acme);
    case CLI_OPT_ACME_EAB:
        return eab_option(&cfg->acme);
    case CLI_OPT_ACME_CONTACT:
        return contact_option(&cfg->acme);
    case CLI_OPT_ACME_CA_FILE:
        if (!*optarg)
            return cli_fail("--acme-ca-file: expected a file name");
        cfg->acme.ca_file = optarg;
        return CLI_OK;
    case CLI_OPT_ACME_PREFERRED_CHAIN:
        return preferred_chain_option(&cfg->acme);
    }
    return CLI_USAGE;
}

/* At least one PEM certificate in the file. */
static bool pem_file_ok(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    X509_free(x);
    return x != NULL;
}

int cli_acme_check(const struct app_config *cfg)
{
    const struct app_acme *acme = &cfg->acme;
    for (int i = 0; i < APP_ACME_CAS; i++) {
        const char *ca = pack_ca_name((enum pack_ca)i);
        if (acme->ca[i].directory)
            continue;
        if (acme->ca[i].eab_kid[0])
            return cli_fail("--acme-eab %s=...: %s has no --acme-directory", ca, ca);
        if (acme->ca[i].preferred_chain[0])
            return cli_fail("--acme-preferred-chain %s=...: %s has no --acme-directory", ca, ca);
    }
    if (acme->ca_file && !pem_file_ok(acme->ca_file))
        return cli_fail("--acme-ca-file %s: cannot read a PEM certificate from it", acme->ca_file);
    return CLI_OK;
}
