/* strkit - modular multiplication and exponentiation without 128-bit
 * integers. */
#include "strkit/common.h"
#include "strkit/num.h"

uint64_t sk_mulmod(uint64_t a, uint64_t b, uint64_t m)
{
    uint64_t r = 0;

    a %= m;
    b %= m;
    if (a < (UINT64_C(1) << 32) && b < (UINT64_C(1) << 32))
        return a * b % m;
    while (b != 0) {
        if (b & 1u) {
            r = r >= m - a ? r - (m - a) : r + a;
        }
        a = a >= m - a ? a - (m - a) : a + a;
        b >>= 1;
    }
    return r;
}

uint64_t sk_powmod(uint64_t base, uint64_t exp, uint64_t m)
{
    uint64_t r;

    if (m == 1)
        return 0;
    r = 1;
    base %= m;
    while (exp != 0) {
        if (exp & 1u)
            r = sk_mulmod(r, base, m);
        base = sk_mulmod(base, base, m);
        exp >>= 1;
    }
    return r;
}
