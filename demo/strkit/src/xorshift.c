/* strkit - xorshift64* pseudo-random number generator. */
#include "strkit/algo.h"
#include "strkit/common.h"
#include "strkit/hash.h"

void sk_rng_seed(sk_rng *r, uint64_t seed)
{
    /* Scramble the seed; the state must never be zero. */
    r->state = sk_mix64(seed + 0x9E3779B97F4A7C15ull);
    if (r->state == 0)
        r->state = 0x2545F4914F6CDD1Dull;
}

uint64_t sk_rng_next(sk_rng *r)
{
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t sk_rng_u32(sk_rng *r)
{
    return (uint32_t)(sk_rng_next(r) >> 32);
}

uint32_t sk_rng_below(sk_rng *r, uint32_t bound)
{
    /* Reject the low values that would make the modulo uneven. */
    uint32_t threshold = (0u - bound) % bound;

    for (;;) {
        uint32_t x = sk_rng_u32(r);
        if (x >= threshold)
            return x % bound;
    }
}
