/* strkit - Fisher-Yates shuffle. */
#include "strkit/algo.h"
#include "strkit/common.h"

void sk_shuffle(int32_t *a, size_t n, sk_rng *r)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j = sk_rng_below(r, (uint32_t)i);
        int32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
