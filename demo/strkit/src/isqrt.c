/* strkit - integer square and cube roots. */
#include "strkit/common.h"
#include "strkit/num.h"

uint32_t sk_isqrt(uint64_t n)
{
    uint64_t lo = 0;
    uint64_t hi = UINT32_MAX;

    /* Largest r with r*r <= n; r*r cannot overflow for r < 2^32. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (mid * mid <= n)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (uint32_t)lo;
}

uint32_t sk_icbrt(uint64_t n)
{
    uint64_t lo = 0;
    uint64_t hi = 2642245; /* floor(cbrt(2^64 - 1)) */

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (mid * mid * mid <= n)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (uint32_t)lo;
}
