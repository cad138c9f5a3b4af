/* SSL analyze (SPEC §4.6): POST /zones/{zone_id}/ssl/analyze reports what a submitted
 * certificate says (hosts, issuer, key, validity) and the chain a bundle method would serve,
 * verified against the trust store (system store plus DATA/trust/). Nothing is stored. */
#include "api/api.h"

#include <string.h>

#include <openssl/pem.h>

#include "app.h"
#include "common/alloc.h"
#include "http/input.h"
#include "pki/chain.h"
#include "pki/pki.h"

/* DNS SANs, or the subject CN when there are none. */
static json_t *hosts_json(X509 *leaf, const struct pki_subject *subject)
{
    json_t *hosts = json_array();
    char **names;
    size_t count;
    pki_cert_dns_names(leaf, &names, &count);
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(hosts, json_string(names[i]));
        xfree(names[i]);
    }
    xfree(names);
    if (count == 0 && subject->common_name[0])
        json_array_append_new(hosts, json_string(subject->common_name));
    return hosts;
}

/* The chain as PEM strings; NULL when encoding fails. */
static json_t *chain_json(STACK_OF(X509) *certs)
{
    json_t *arr = json_array();
    for (int i = 0; i < sk_X509_num(certs); i++) {
        char *pem = NULL;
        size_t len = 0;
        if (pki_cert_to_pem(sk_X509_value(certs, i), &pem, &len) < 0) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_stringn(pem, len));
        xfree(pem);
    }
    return arr;
}

static json_t *analysis_json(X509 *leaf, const char *method, const struct pki_chain *chain,
                             json_t *pems)
{
    struct pki_subject subject, issuer;
    pki_subject_fields(X509_get_subject_name(leaf), &subject);
    const char *issuer_name = pki_issuer_display(X509_get_issuer_name(leaf), &issuer);
    char serial[64];
    pki_cert_serial_hex(leaf, serial, sizeof serial);
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    const char *key_type = key ? pki_key_type_name(key) : NULL;
    const char *signature = pki_cert_signature_name(leaf);
    json_t *errors = json_array();
    for (size_t i = 0; i < chain->error_count; i++)
        json_array_append_new(errors, json_string(chain->errors[i]));
    return json_pack(
        "{s:o, s:s, s:s, s:s, s:s?, s:s?, s:i, s:o, s:o, s:s, s:o, s:b, s:o}", "hosts",
        hosts_json(leaf, &subject), "issuer", issuer_name, "subject",
        subject.common_name, "serial_number", serial, "signature", signature, "key_type",
        key_type, "key_size", key ? pki_key_bits(key) : 0, "issued_on",
        api_time(pki_cert_not_before(leaf)), "expires_on", api_time(pki_cert_not_after(leaf)),
        "bundle_method", method, "chain", pems, "trusted", chain->trusted, "errors", errors);
}

void ssl_analyze(struct request *req)
{
    static const char *const methods[] = {"ubiquitous", "optimal", "force", NULL};
    struct store_zone zone;
    json_t *body = NULL;
    const char *pem = NULL, *method_name = "ubiquitous", *why = NULL;
    enum pki_bundle_method method;
    STACK_OF(X509) *given = NULL;
    X509_STORE *trust = NULL;
    struct pki_chain chain = {0};
    char *trust_dir = NULL;
    if (api_visible_zone(req, &zone) < 0 || input_json_object(req, false, &body) < 0 ||
        input_string(req, body, "certificate", "certificate", INPUT_REQUIRED, &pem) < 0 ||
        input_enum(req, body, "bundle_method", "bundle_method", INPUT_OPTIONAL, methods,
                   &method_name) < 0)
        goto out;
    if (pki_bundle_method_parse(method_name, &method) < 0) {
        request_fail(req, API_E_INVALID, "bundle_method: must be ubiquitous, optimal or force");
        goto out;
    }
    if (pki_chain_parse(pem, strlen(pem), &given, &why) < 0) {
        request_fail(req, API_E_INVALID, "certificate: %s", why);
        goto out;
    }
    /* The server's store (read at start-up, rebuilt when DATA/trust/ changes); a context
     * without one (tests driving the handler directly) builds its own. */
    if (req->app->trust) {
        trust = pki_trust_cache_get(req->app->trust);
    } else {
        trust_dir = xasprintf("%s/trust", req->app->config.data_dir);
        trust = pki_trust_store_create(trust_dir);
    }
    if (!trust || pki_chain_build(trust, given, method, &chain) < 0) {
        request_fail(req, API_E_INTERNAL, NULL);
        goto out;
    }
    json_t *pems = chain_json(chain.certs);
    json_t *result = pems ? analysis_json(sk_X509_value(given, 0), method_name, &chain, pems)
                          : NULL;
    if (!result) {
        request_fail(req, API_E_INTERNAL, NULL);
        goto out;
    }
    request_ok(req, result);
out:
    pki_chain_clear(&chain);
    X509_STORE_free(trust);
    xfree(trust_dir);
    sk_X509_pop_free(given, X509_free);
    json_decref(body);
}
