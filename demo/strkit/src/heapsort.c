/* strkit - in-place heapsort. */
#include "strkit/algo.h"
#include "strkit/common.h"

static void sift(int32_t *a, size_t start, size_t end)
{
    size_t root = start;

    while (2 * root + 1 < end) {
        size_t child = 2 * root + 1;
        int32_t t;
        if (child + 1 < end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

void sk_heapsort(int32_t *a, size_t n)
{
    size_t i;

    if (n < 2)
        return;
    for (i = n / 2; i > 0; i--)
        sift(a, i - 1, n);
    for (i = n - 1; i > 0; i--) {
        int32_t t = a[0];
        a[0] = a[i];
        a[i] = t;
        sift(a, 0, i);
    }
}
