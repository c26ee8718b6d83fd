/* strkit - greatest common divisor, extended Euclid, modular inverse. */
#include "strkit/common.h"
#include "strkit/num.h"

uint64_t sk_gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint64_t sk_lcm(uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a / sk_gcd(a, b) * b;
}

int64_t sk_egcd(int64_t a, int64_t b, int64_t *x, int64_t *y)
{
    int64_t x0 = 1, y0 = 0, x1 = 0, y1 = 1;

    while (b != 0) {
        int64_t q = a / b;
        int64_t t;
        t = a - q * b;
        a = b;
        b = t;
        t = x0 - q * x1;
        x0 = x1;
        x1 = t;
        t = y0 - q * y1;
        y0 = y1;
        y1 = t;
    }
    *x = x0;
    *y = y0;
    return a;
}

sk_status sk_modinv(int64_t a, int64_t m, int64_t *out)
{
    int64_t x;
    int64_t y;
    int64_t g;

    if (m <= 1)
        return SK_ERR_INVALID;
    a %= m;
    if (a < 0)
        a += m;
    g = sk_egcd(a, m, &x, &y);
    if (g != 1)
        return SK_ERR_INVALID;
    x %= m;
    if (x < 0)
        x += m;
    *out = x;
    return SK_OK;
}
