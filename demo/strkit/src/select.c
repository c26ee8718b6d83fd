/* strkit - quickselect (Hoare-style partitioning, iterative). */
#include "strkit/algo.h"
#include "strkit/common.h"

int32_t sk_select(int32_t *a, size_t n, size_t k)
{
    size_t lo = 0;
    size_t hi = n - 1;

    if (n == 0 || k >= n)
        return 0;
    while (lo < hi) {
        int32_t pivot = a[lo + (hi - lo) / 2];
        size_t i = lo;
        size_t j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        /* Now a[lo..j] <= pivot <= a[i..hi], with j < i. */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}
