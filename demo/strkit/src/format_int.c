/* strkit - integer formatting in arbitrary bases and with grouping. */
#include "strkit/common.h"
#include "strkit/num.h"

#include <string.h>

static const char digit_chars[] = "0123456789abcdefghijklmnopqrstuvwxyz";

size_t sk_format_u64(uint64_t v, unsigned base, char *buf, size_t cap)
{
    char tmp[65];
    size_t n = 0;
    size_t i;

    if (base < 2 || base > 36)
        return 0;
    do {
        tmp[n++] = digit_chars[v % base];
        v /= base;
    } while (v != 0);
    if (cap <= n)
        return 0;
    for (i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

size_t sk_format_i64(int64_t v, unsigned base, char *buf, size_t cap)
{
    uint64_t mag;
    size_t n;

    if (v >= 0)
        return sk_format_u64((uint64_t)v, base, buf, cap);
    if (cap < 2)
        return 0;
    mag = 0u - (uint64_t)v;
    n = sk_format_u64(mag, base, buf + 1, cap - 1);
    if (n == 0)
        return 0;
    buf[0] = '-';
    return n + 1;
}

size_t sk_format_grouped(int64_t v, char sep, char *buf, size_t cap)
{
    char digits[24];
    size_t nd;
    size_t total;
    size_t o = 0;
    size_t i;
    bool neg = v < 0;
    uint64_t mag = neg ? 0u - (uint64_t)v : (uint64_t)v;

    nd = sk_format_u64(mag, 10, digits, sizeof digits);
    total = nd + (nd - 1) / 3 + (neg ? 1 : 0);
    if (cap <= total)
        return 0;
    if (neg)
        buf[o++] = '-';
    for (i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            buf[o++] = sep;
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return o;
}
