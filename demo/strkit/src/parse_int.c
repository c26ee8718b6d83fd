/* strkit - strict integer parsing with overflow detection. */
#include "strkit/common.h"
#include "strkit/num.h"

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* Consumes an optional radix prefix when base is 0 (or matches it). */
static int detect_base(const char **s, size_t *n, int base)
{
    if (*n >= 2 && (*s)[0] == '0') {
        char p = (*s)[1];
        int pb = 0;
        if (p == 'x' || p == 'X')
            pb = 16;
        else if (p == 'b' || p == 'B')
            pb = 2;
        else if (p == 'o' || p == 'O')
            pb = 8;
        if (pb != 0 && (base == 0 || base == pb)) {
            *s += 2;
            *n -= 2;
            return pb;
        }
    }
    return base == 0 ? 10 : base;
}

static sk_status parse_magnitude(const char *s, size_t n, int base,
                                 uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    size_t digits = 0;

    for (i = 0; i < n; i++) {
        int d;
        if (s[i] == '_' && digits > 0 && i + 1 < n && s[i + 1] != '_')
            continue; /* digit separator */
        d = digit_value(s[i]);
        if (d >= base)
            return SK_ERR_INVALID;
        if (v > (limit - (uint64_t)d) / (uint64_t)base)
            return SK_ERR_RANGE;
        v = v * (uint64_t)base + (uint64_t)d;
        digits++;
    }
    if (digits == 0)
        return SK_ERR_INVALID;
    *out = v;
    return SK_OK;
}

sk_status sk_parse_u64(const char *s, size_t n, int base, uint64_t *out)
{
    if (base != 0 && (base < 2 || base > 36))
        return SK_ERR_INVALID;
    if (n > 0 && s[0] == '+') {
        s++;
        n--;
    }
    base = detect_base(&s, &n, base);
    return parse_magnitude(s, n, base, UINT64_MAX, out);
}

sk_status sk_parse_i64(const char *s, size_t n, int base, int64_t *out)
{
    bool neg = false;
    uint64_t mag;
    uint64_t limit;
    sk_status st;

    if (base != 0 && (base < 2 || base > 36))
        return SK_ERR_INVALID;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    base = detect_base(&s, &n, base);
    limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    st = parse_magnitude(s, n, base, limit, &mag);
    if (st != SK_OK)
        return st;
    if (neg) {
        /* -(2^63) is representable; compute without signed overflow. */
        *out = mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag;
    } else {
        *out = (int64_t)mag;
    }
    return SK_OK;
}
