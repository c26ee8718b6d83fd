/* strkit - decimal digit curiosities. */
#include "strkit/common.h"
#include "strkit/num.h"

unsigned sk_digit_sum(uint64_t n)
{
    unsigned s = 0;
    while (n != 0) {
        s += (unsigned)(n % 10);
        n /= 10;
    }
    return s;
}

unsigned sk_digital_root(uint64_t n)
{
    return n == 0 ? 0 : (unsigned)(1 + (n - 1) % 9);
}

uint64_t sk_reverse_digits(uint64_t n)
{
    uint64_t r = 0;
    while (n != 0) {
        r = r * 10 + n % 10; /* may wrap for 20-digit inputs; unsigned */
        n /= 10;
    }
    return r;
}

bool sk_is_armstrong(uint64_t n)
{
    unsigned k = 0;
    uint64_t t = n;
    uint64_t sum = 0;

    do {
        k++;
        t /= 10;
    } while (t != 0);
    for (t = n; t != 0; t /= 10) {
        uint64_t d = t % 10;
        uint64_t p = 1;
        unsigned i;
        for (i = 0; i < k; i++) {
            if (!sk_mul_u64(p, d, &p))
                return false;
        }
        if (sum > UINT64_MAX - p)
            return false;
        sum += p;
    }
    return sum == n;
}

uint64_t sk_collatz_steps(uint64_t n)
{
    uint64_t steps = 0;

    if (n == 0)
        return 0;
    while (n != 1) {
        if (n % 2 == 0) {
            n /= 2;
        } else {
            if (n > (UINT64_MAX - 1) / 3)
                return UINT64_MAX; /* would overflow */
            n = 3 * n + 1;
        }
        steps++;
    }
    return steps;
}
