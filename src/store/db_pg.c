#include "store/store_internal.h"
int store__pg_open(const char *uri, enum store_open_mode mode, int pool_size, struct store **out)
{
    (void)uri; (void)mode; (void)pool_size; (void)out;
    return STORE_ERROR;
}
