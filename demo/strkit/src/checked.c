/* strkit - overflow-checked 64-bit arithmetic without compiler builtins. */
#include "strkit/common.h"
#include "strkit/num.h"

bool sk_add_i64(int64_t a, int64_t b, int64_t *r)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return false;
    *r = a + b;
    return true;
}

bool sk_sub_i64(int64_t a, int64_t b, int64_t *r)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return false;
    *r = a - b;
    return true;
}

bool sk_mul_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *r = a * b;
    return true;
}

bool sk_mul_i64(int64_t a, int64_t b, int64_t *r)
{
    bool neg = (a < 0) != (b < 0);
    uint64_t ua = a < 0 ? 0u - (uint64_t)a : (uint64_t)a;
    uint64_t ub = b < 0 ? 0u - (uint64_t)b : (uint64_t)b;
    uint64_t p;

    if (!sk_mul_u64(ua, ub, &p))
        return false;
    if (neg) {
        if (p > (uint64_t)INT64_MAX + 1u)
            return false;
        *r = p == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)p;
    } else {
        if (p > (uint64_t)INT64_MAX)
            return false;
        *r = (int64_t)p;
    }
    return true;
}
