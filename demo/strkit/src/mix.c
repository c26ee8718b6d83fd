/* strkit - integer finalisers for hash tables. */
#include "strkit/common.h"
#include "strkit/hash.h"

uint32_t sk_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

uint64_t sk_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

uint64_t sk_hash_combine(uint64_t seed, uint64_t value)
{
    return sk_mix64(seed ^ (value + 0x9E3779B97F4A7C15ull + (seed << 6) +
                            (seed >> 2)));
}
