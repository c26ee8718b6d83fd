/* strkit - insertion sort, Shell sort and sortedness check. */
#include "strkit/algo.h"
#include "strkit/common.h"

void sk_insertion_sort(int32_t *a, size_t n)
{
    size_t i;

    for (i = 1; i < n; i++) {
        int32_t x = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > x) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

void sk_shellsort(int32_t *a, size_t n)
{
    /* Ciura's gap sequence, extended by a factor of 2.25. */
    static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
    size_t gi;

    for (gi = 0; gi < SK_ARRAY_LEN(gaps); gi++) {
        size_t gap = gaps[gi];
        size_t i;
        for (i = gap; i < n; i++) {
            int32_t x = a[i];
            size_t j = i;
            while (j >= gap && a[j - gap] > x) {
                a[j] = a[j - gap];
                j -= gap;
            }
            a[j] = x;
        }
    }
}

bool sk_is_sorted(const int32_t *a, size_t n)
{
    size_t i;

    for (i = 1; i < n; i++) {
        if (a[i - 1] > a[i])
            return false;
    }
    return true;
}
