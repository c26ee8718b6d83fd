/* strkit - Fletcher-16 checksum. */
#include "strkit/common.h"
#include "strkit/hash.h"

uint16_t sk_fletcher16(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t s1 = 0;
    uint32_t s2 = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        s1 = (s1 + p[i]) % 255u;
        s2 = (s2 + s1) % 255u;
    }
    return (uint16_t)((s2 << 8) | s1);
}
