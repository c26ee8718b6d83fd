/* strkit - Adler-32 checksum. */
#include "strkit/common.h"
#include "strkit/hash.h"

#define ADLER_MOD 65521u
/* Largest block for which the sums cannot overflow 32 bits. */
#define ADLER_BLOCK 5552u

uint32_t sk_adler32(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t a = 1;
    uint32_t b = 0;

    while (n > 0) {
        size_t chunk = n < ADLER_BLOCK ? n : ADLER_BLOCK;
        size_t i;
        for (i = 0; i < chunk; i++) {
            a += p[i];
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
        p += chunk;
        n -= chunk;
    }
    return (b << 16) | a;
}
