/* strkit - lexicographic next permutation. */
#include "strkit/algo.h"
#include "strkit/common.h"

static void reverse_range(int32_t *a, size_t lo, size_t hi)
{
    while (lo + 1 < hi) {
        int32_t t = a[lo];
        a[lo] = a[hi - 1];
        a[hi - 1] = t;
        lo++;
        hi--;
    }
}

bool sk_next_permutation(int32_t *a, size_t n)
{
    size_t i;
    size_t j;
    int32_t t;

    if (n < 2)
        return false;
    /* Find the rightmost ascent a[i-1] < a[i]. */
    i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0) {
        reverse_range(a, 0, n);
        return false; /* wrapped around to the first permutation */
    }
    j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    reverse_range(a, i, n);
    return true;
}
