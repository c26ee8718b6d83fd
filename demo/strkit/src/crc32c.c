/* strkit - CRC-32C (Castagnoli), bitwise implementation. */
#include "strkit/common.h"
#include "strkit/hash.h"

uint32_t sk_crc32c(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    size_t i;

    for (i = 0; i < n; i++) {
        int k;
        c ^= p[i];
        for (k = 0; k < 8; k++) {
            uint32_t mask = 0u - (c & 1u);
            c = (c >> 1) ^ (0x82F63B78u & mask);
        }
    }
    return ~c;
}
