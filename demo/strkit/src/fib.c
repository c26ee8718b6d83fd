/* strkit - Fibonacci numbers, iterative and by fast doubling. */
#include "strkit/common.h"
#include "strkit/num.h"

uint64_t sk_fib(unsigned n)
{
    uint64_t a = 0;
    uint64_t b = 1;
    unsigned i;

    if (n > 93)
        return 0;
    for (i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

static uint64_t addmod(uint64_t a, uint64_t b, uint64_t m)
{
    /* a, b < m; avoids overflow even when m is close to 2^64. */
    return a >= m - b ? a - (m - b) : a + b;
}

static uint64_t submod(uint64_t a, uint64_t b, uint64_t m)
{
    return a >= b ? a - b : a + (m - b);
}

/* F(2k) = F(k) * (2F(k+1) - F(k));  F(2k+1) = F(k)^2 + F(k+1)^2. */
uint64_t sk_fib_mod(uint64_t n, uint64_t m)
{
    uint64_t a = 0; /* F(k) */
    uint64_t b = 1; /* F(k+1) */
    int bit;

    if (m == 1)
        return 0;
    for (bit = 63; bit >= 0; bit--) {
        uint64_t two_b = addmod(b, b, m);
        uint64_t c = sk_mulmod(a, submod(two_b, a, m), m);
        uint64_t d = addmod(sk_mulmod(a, a, m), sk_mulmod(b, b, m), m);
        if ((n >> bit) & 1u) {
            a = d;
            b = addmod(c, d, m);
        } else {
            a = c;
            b = d;
        }
    }
    return a;
}
