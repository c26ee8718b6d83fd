/* strkit - arbitrary-precision non-negative integers.
 *
 * Numbers are stored as little-endian arrays of base-10^9 limbs, which
 * keeps decimal conversion trivial while using 64-bit intermediates for
 * multiplication.  A zero value has len == 0. */
#include "strkit/common.h"
#include "strkit/num.h"

#include <stdlib.h>
#include <string.h>

#define LIMB_BASE 1000000000u
#define LIMB_DIGITS 9

void sk_bigint_init(sk_bigint *b)
{
    b->limbs = NULL;
    b->len = 0;
    b->cap = 0;
}

void sk_bigint_free(sk_bigint *b)
{
    free(b->limbs);
    sk_bigint_init(b);
}

static sk_status reserve(sk_bigint *b, size_t n)
{
    uint32_t *p;
    size_t cap;

    if (n <= b->cap)
        return SK_OK;
    cap = b->cap ? b->cap : 4;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof *p)
            return SK_ERR_NOMEM;
        cap *= 2;
    }
    p = realloc(b->limbs, cap * sizeof *p);
    if (p == NULL)
        return SK_ERR_NOMEM;
    b->limbs = p;
    b->cap = cap;
    return SK_OK;
}

/* Drop high zero limbs so that every value has one representation. */
static void normalize(sk_bigint *b)
{
    while (b->len > 0 && b->limbs[b->len - 1] == 0)
        b->len--;
}

static sk_status copy_into(sk_bigint *dst, const sk_bigint *src)
{
    sk_status st;

    if (dst == src)
        return SK_OK;
    st = reserve(dst, src->len);
    if (st != SK_OK)
        return st;
    if (src->len > 0)
        memcpy(dst->limbs, src->limbs, src->len * sizeof *src->limbs);
    dst->len = src->len;
    return SK_OK;
}

sk_status sk_bigint_set_u64(sk_bigint *b, uint64_t v)
{
    sk_status st = reserve(b, 3);

    if (st != SK_OK)
        return st;
    b->len = 0;
    while (v != 0) {
        b->limbs[b->len++] = (uint32_t)(v % LIMB_BASE);
        v /= LIMB_BASE;
    }
    return SK_OK;
}

sk_status sk_bigint_parse(sk_bigint *b, const char *s)
{
    size_t n = strlen(s);
    size_t limbs;
    size_t i;
    sk_status st;

    if (n == 0)
        return SK_ERR_INVALID;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SK_ERR_INVALID;
    }
    limbs = (n + LIMB_DIGITS - 1) / LIMB_DIGITS;
    st = reserve(b, limbs);
    if (st != SK_OK)
        return st;
    /* Walk groups of nine digits from the right-hand end. */
    b->len = 0;
    for (i = n; i > 0;) {
        size_t start = i >= LIMB_DIGITS ? i - LIMB_DIGITS : 0;
        uint32_t limb = 0;
        size_t k;
        for (k = start; k < i; k++)
            limb = limb * 10 + (uint32_t)(s[k] - '0');
        b->limbs[b->len++] = limb;
        i = start;
    }
    normalize(b);
    return SK_OK;
}

int sk_bigint_cmp(const sk_bigint *a, const sk_bigint *b)
{
    size_t i;

    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    for (i = a->len; i > 0; i--) {
        if (a->limbs[i - 1] != b->limbs[i - 1])
            return a->limbs[i - 1] < b->limbs[i - 1] ? -1 : 1;
    }
    return 0;
}

sk_status sk_bigint_add(sk_bigint *r, const sk_bigint *a, const sk_bigint *b)
{
    size_t n = SK_MAX(a->len, b->len);
    uint32_t carry = 0;
    size_t i;
    sk_status st;

    /* Growing r may move its limbs; a and b may alias r, so only read
     * through them after the reservation. */
    st = reserve(r, n + 1);
    if (st != SK_OK)
        return st;
    for (i = 0; i < n; i++) {
        uint32_t x = i < a->len ? a->limbs[i] : 0;
        uint32_t y = i < b->len ? b->limbs[i] : 0;
        uint32_t s = x + y + carry; /* < 2 * 10^9 + 1, fits in 32 bits */
        carry = s >= LIMB_BASE;
        r->limbs[i] = carry ? s - LIMB_BASE : s;
    }
    r->limbs[n] = carry;
    r->len = n + 1;
    normalize(r);
    return SK_OK;
}

sk_status sk_bigint_sub(sk_bigint *r, const sk_bigint *a, const sk_bigint *b)
{
    size_t n = a->len;
    uint32_t borrow = 0;
    size_t i;
    sk_status st;

    if (sk_bigint_cmp(a, b) < 0)
        return SK_ERR_RANGE;
    st = reserve(r, n);
    if (st != SK_OK)
        return st;
    for (i = 0; i < n; i++) {
        uint32_t x = a->limbs[i];
        uint32_t y = (i < b->len ? b->limbs[i] : 0) + borrow;
        if (x >= y) {
            r->limbs[i] = x - y;
            borrow = 0;
        } else {
            r->limbs[i] = x + LIMB_BASE - y;
            borrow = 1;
        }
    }
    r->len = n;
    normalize(r);
    return SK_OK;
}

sk_status sk_bigint_mul_small(sk_bigint *b, uint32_t m)
{
    uint64_t carry = 0;
    size_t i;
    sk_status st;

    if (m == 0 || b->len == 0) {
        b->len = 0;
        return SK_OK;
    }
    for (i = 0; i < b->len; i++) {
        uint64_t p = (uint64_t)b->limbs[i] * m + carry;
        b->limbs[i] = (uint32_t)(p % LIMB_BASE);
        carry = p / LIMB_BASE;
    }
    while (carry != 0) {
        st = reserve(b, b->len + 1);
        if (st != SK_OK)
            return st;
        b->limbs[b->len++] = (uint32_t)(carry % LIMB_BASE);
        carry /= LIMB_BASE;
    }
    return SK_OK;
}

sk_status sk_bigint_divmod_small(sk_bigint *b, uint32_t d, uint32_t *rem)
{
    uint64_t r = 0;
    size_t i;

    if (d == 0)
        return SK_ERR_INVALID;
    for (i = b->len; i > 0; i--) {
        uint64_t cur = r * LIMB_BASE + b->limbs[i - 1];
        b->limbs[i - 1] = (uint32_t)(cur / d);
        r = cur % d;
    }
    normalize(b);
    if (rem != NULL)
        *rem = (uint32_t)r;
    return SK_OK;
}

sk_status sk_bigint_mul(sk_bigint *r, const sk_bigint *a, const sk_bigint *b)
{
    sk_bigint tmp;
    size_t i;
    size_t j;
    sk_status st;

    if (a->len == 0 || b->len == 0) {
        r->len = 0;
        return SK_OK;
    }
    /* Work in a temporary so that r may alias a or b. */
    sk_bigint_init(&tmp);
    st = reserve(&tmp, a->len + b->len);
    if (st != SK_OK)
        return st;
    memset(tmp.limbs, 0, (a->len + b->len) * sizeof *tmp.limbs);
    for (i = 0; i < a->len; i++) {
        uint64_t carry = 0;
        for (j = 0; j < b->len; j++) {
            uint64_t cur = tmp.limbs[i + j] +
                           (uint64_t)a->limbs[i] * b->limbs[j] + carry;
            tmp.limbs[i + j] = (uint32_t)(cur % LIMB_BASE);
            carry = cur / LIMB_BASE;
        }
        for (j = i + b->len; carry != 0; j++) {
            uint64_t cur = tmp.limbs[j] + carry;
            tmp.limbs[j] = (uint32_t)(cur % LIMB_BASE);
            carry = cur / LIMB_BASE;
        }
    }
    tmp.len = a->len + b->len;
    normalize(&tmp);
    st = copy_into(r, &tmp);
    sk_bigint_free(&tmp);
    return st;
}

sk_status sk_bigint_pow(sk_bigint *r, uint32_t base, unsigned exp)
{
    sk_bigint acc;
    sk_bigint sq;
    sk_status st;

    sk_bigint_init(&acc);
    sk_bigint_init(&sq);
    st = sk_bigint_set_u64(&acc, 1);
    if (st == SK_OK)
        st = sk_bigint_set_u64(&sq, base);
    while (st == SK_OK && exp != 0) {
        if (exp & 1u)
            st = sk_bigint_mul(&acc, &acc, &sq);
        exp >>= 1;
        if (st == SK_OK && exp != 0)
            st = sk_bigint_mul(&sq, &sq, &sq);
    }
    if (st == SK_OK)
        st = copy_into(r, &acc);
    sk_bigint_free(&acc);
    sk_bigint_free(&sq);
    return st;
}

size_t sk_bigint_to_string(const sk_bigint *b, char *buf, size_t cap)
{
    size_t o = 0;
    size_t i;

    if (b->len == 0) {
        if (cap < 2)
            return 0;
        buf[0] = '0';
        buf[1] = '\0';
        return 1;
    }
    for (i = b->len; i > 0; i--) {
        uint32_t limb = b->limbs[i - 1];
        char group[LIMB_DIGITS];
        size_t k;
        size_t start = 0;
        for (k = LIMB_DIGITS; k > 0; k--) {
            group[k - 1] = (char)('0' + limb % 10);
            limb /= 10;
        }
        /* The most significant limb is printed without leading zeros. */
        if (i == b->len) {
            while (start + 1 < LIMB_DIGITS && group[start] == '0')
                start++;
        }
        if (cap - o <= LIMB_DIGITS - start)
            return 0;
        memcpy(buf + o, group + start, LIMB_DIGITS - start);
        o += LIMB_DIGITS - start;
    }
    buf[o] = '\0';
    return o;
}

sk_status sk_bigint_factorial(sk_bigint *r, unsigned n)
{
    sk_status st = sk_bigint_set_u64(r, 1);
    unsigned i;

    for (i = 2; st == SK_OK && i <= n; i++)
        st = sk_bigint_mul_small(r, i);
    return st;
}
