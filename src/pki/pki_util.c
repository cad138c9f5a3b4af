/* Small helpers shared by the PKI files (pki_internal.h). */
#include "pki/pki_internal.h"

#include "common/alloc.h"
#include "pki/pki.h"

time_t pki__us_to_time(int64_t us)
{
    int64_t s = us / 1000000;
    if (us % 1000000 < 0)
        s--;
    return (time_t)s;
}

int pki__bio_to_string(BIO *bio, char **out, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data)
        return -1;
    *out = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    return 0;
}

const char *pki_issuer_display(const X509_NAME *name, struct pki_subject *issuer)
{
    pki_subject_fields(name, issuer);
    return issuer->common_name[0] ? issuer->common_name : issuer->organization;
}

BIO *pki__pem_reader(const char *pem, size_t len)
{
    if (!pem || len == 0 || len > PKI_PEM_MAX)
        return NULL;
    return BIO_new_mem_buf(pem, (int)len);
}
