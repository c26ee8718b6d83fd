/* strkit - primality testing, sieving and factorisation. */
#include "strkit/common.h"
#include "strkit/num.h"

#include <stdlib.h>

/* One Miller-Rabin round: true if n is a strong probable prime to base a. */
static bool strong_probable_prime(uint64_t n, uint64_t d, unsigned s,
                                  uint64_t a)
{
    uint64_t x = sk_powmod(a, d, n);
    unsigned r;

    if (x == 1 || x == n - 1)
        return true;
    for (r = 1; r < s; r++) {
        x = sk_mulmod(x, x, n);
        if (x == n - 1)
            return true;
    }
    return false;
}

bool sk_is_prime(uint64_t n)
{
    /* These bases make the test deterministic for all 64-bit inputs. */
    static const uint64_t bases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    uint64_t d;
    unsigned s = 0;
    size_t i;

    if (n < 2)
        return false;
    for (i = 0; i < SK_ARRAY_LEN(bases); i++) {
        if (n == bases[i])
            return true;
        if (n % bases[i] == 0)
            return false;
    }
    d = n - 1;
    while ((d & 1u) == 0) {
        d >>= 1;
        s++;
    }
    for (i = 0; i < SK_ARRAY_LEN(bases); i++) {
        if (!strong_probable_prime(n, d, s, bases[i]))
            return false;
    }
    return true;
}

size_t sk_sieve(uint32_t limit, uint32_t *out, size_t max)
{
    unsigned char *composite;
    size_t count = 0;
    uint64_t i;

    if (limit < 2)
        return 0;
    composite = calloc((size_t)limit + 1, 1);
    if (composite == NULL)
        return 0;
    for (i = 2; i * i <= limit; i++) {
        uint64_t j;
        if (composite[i])
            continue;
        for (j = i * i; j <= limit; j += i)
            composite[j] = 1;
    }
    for (i = 2; i <= limit; i++) {
        if (!composite[i]) {
            if (count < max)
                out[count] = (uint32_t)i;
            count++;
        }
    }
    free(composite);
    return count;
}

size_t sk_factorize(uint64_t n, uint64_t *factors, size_t max)
{
    size_t count = 0;
    uint64_t p;

    if (n < 2)
        return 0;
    while (n % 2 == 0) {
        if (count < max)
            factors[count] = 2;
        count++;
        n /= 2;
    }
    for (p = 3; p <= n / p; p += 2) {
        bool divided = false;
        while (n % p == 0) {
            if (count < max)
                factors[count] = p;
            count++;
            n /= p;
            divided = true;
        }
        /* Stop trial division as soon as the cofactor is itself prime;
         * this keeps large prime cofactors cheap. */
        if ((divided || p == 3) && n > 1 && sk_is_prime(n))
            break;
    }
    if (n > 1) {
        if (count < max)
            factors[count] = n;
        count++;
    }
    return count;
}
