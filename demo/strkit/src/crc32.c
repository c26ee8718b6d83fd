/* strkit - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320).
 *
 * Uses a 16-entry nibble table so the table stays small and can be a
 * compile-time constant derived from the polynomial. */
#include "strkit/common.h"
#include "strkit/hash.h"

#define CRC32_POLY 0xEDB88320u

static uint32_t crc32_nibble(uint32_t idx)
{
    uint32_t c = idx;
    int k;
    for (k = 0; k < 4; k++)
        c = (c & 1u) ? (c >> 1) ^ CRC32_POLY : c >> 1;
    return c;
}

uint32_t sk_crc32_update(uint32_t crc, const void *data, size_t n)
{
    uint32_t table[16];
    const unsigned char *p = data;
    uint32_t c = ~crc;
    size_t i;
    uint32_t t;

    for (t = 0; t < 16; t++)
        table[t] = crc32_nibble(t);
    for (i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ table[c & 15u];
        c = (c >> 4) ^ table[c & 15u];
    }
    return ~c;
}

uint32_t sk_crc32(const void *data, size_t n)
{
    return sk_crc32_update(0, data, n);
}
