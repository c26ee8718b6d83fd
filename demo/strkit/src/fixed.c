/* strkit - Q16.16 fixed-point arithmetic. */
#include "strkit/common.h"
#include "strkit/num.h"

#define Q16_ONE 65536

static sk_q16 saturate(int64_t v)
{
    if (v > INT32_MAX)
        return INT32_MAX;
    if (v < INT32_MIN)
        return INT32_MIN;
    return (sk_q16)v;
}

sk_q16 sk_q16_from_int(int32_t v)
{
    return saturate((int64_t)v * Q16_ONE);
}

sk_q16 sk_q16_mul(sk_q16 a, sk_q16 b)
{
    int64_t p = (int64_t)a * (int64_t)b;
    /* Round half away from zero, using division to stay clear of shifting
     * negative values. */
    int64_t half = p < 0 ? -(Q16_ONE / 2) : Q16_ONE / 2;
    return saturate((p + half) / Q16_ONE);
}

sk_status sk_q16_div(sk_q16 a, sk_q16 b, sk_q16 *out)
{
    int64_t num;

    if (b == 0)
        return SK_ERR_INVALID;
    num = (int64_t)a * Q16_ONE;
    *out = saturate(num / b);
    return SK_OK;
}

size_t sk_q16_format(sk_q16 v, char *buf, size_t cap)
{
    int64_t x = v;
    uint64_t mag = x < 0 ? (uint64_t)(-x) : (uint64_t)x;
    uint64_t whole = mag / Q16_ONE;
    uint64_t frac = mag % Q16_ONE;
    /* Four decimal places, rounded to nearest. */
    uint64_t dec = (frac * 10000 + Q16_ONE / 2) / Q16_ONE;
    size_t o = 0;
    size_t n;
    int i;

    if (dec == 10000) {
        whole++;
        dec = 0;
    }
    if (cap < 2)
        return 0;
    if (x < 0)
        buf[o++] = '-';
    n = sk_format_u64(whole, 10, buf + o, cap - o);
    if (n == 0 || cap - o - n < 6)
        return 0;
    o += n;
    buf[o++] = '.';
    for (i = 3; i >= 0; i--) {
        buf[o + (size_t)i] = (char)('0' + dec % 10);
        dec /= 10;
    }
    o += 4;
    buf[o] = '\0';
    return o;
}
