/* strkit - portable bit manipulation helpers. */
#include "strkit/common.h"
#include "strkit/num.h"

unsigned sk_popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (unsigned)((x * 0x01010101u) >> 24);
}

unsigned sk_clz32(uint32_t x)
{
    unsigned n = 0;

    if (x == 0)
        return 32;
    if ((x & 0xFFFF0000u) == 0) {
        n += 16;
        x <<= 16;
    }
    if ((x & 0xFF000000u) == 0) {
        n += 8;
        x <<= 8;
    }
    if ((x & 0xF0000000u) == 0) {
        n += 4;
        x <<= 4;
    }
    if ((x & 0xC0000000u) == 0) {
        n += 2;
        x <<= 2;
    }
    if ((x & 0x80000000u) == 0)
        n += 1;
    return n;
}

unsigned sk_ctz32(uint32_t x)
{
    if (x == 0)
        return 32;
    /* Isolate the lowest set bit, then count the bits below it. */
    return sk_popcount32((x & (0u - x)) - 1u);
}

uint32_t sk_next_pow2(uint32_t x)
{
    if (x <= 1)
        return 1;
    x--;
    x |= x >> 1;
    x |= x >> 2;
    x |= x >> 4;
    x |= x >> 8;
    x |= x >> 16;
    return x + 1; /* wraps to 0 above 2^31 */
}

uint32_t sk_reverse_bits32(uint32_t x)
{
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
    return (x >> 16) | (x << 16);
}

uint32_t sk_rotl32(uint32_t x, unsigned r)
{
    r &= 31u;
    if (r == 0)
        return x;
    return (x << r) | (x >> (32u - r));
}

bool sk_is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

uint32_t sk_gray_encode(uint32_t x)
{
    return x ^ (x >> 1);
}

uint32_t sk_gray_decode(uint32_t g)
{
    g ^= g >> 16;
    g ^= g >> 8;
    g ^= g >> 4;
    g ^= g >> 2;
    g ^= g >> 1;
    return g;
}
