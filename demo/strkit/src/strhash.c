/* strkit - classic multiplicative string hashes (djb2, sdbm). */
#include "strkit/common.h"
#include "strkit/hash.h"

uint32_t sk_djb2(const char *s)
{
    uint32_t h = 5381;
    const unsigned char *p = (const unsigned char *)s;

    while (*p)
        h = h * 33u + *p++;
    return h;
}

uint32_t sk_sdbm(const char *s)
{
    uint32_t h = 0;
    const unsigned char *p = (const unsigned char *)s;

    while (*p)
        h = *p++ + (h << 6) + (h << 16) - h;
    return h;
}
