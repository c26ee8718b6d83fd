/* strkit - top-down merge sort (stable) with a single scratch buffer. */
#include "strkit/algo.h"
#include "strkit/common.h"

#include <stdlib.h>
#include <string.h>

static void merge_sort_rec(int32_t *a, int32_t *tmp, size_t n)
{
    size_t mid;
    size_t i;
    size_t j;
    size_t k;

    if (n < 2)
        return;
    mid = n / 2;
    merge_sort_rec(a, tmp, mid);
    merge_sort_rec(a + mid, tmp, n - mid);
    if (a[mid - 1] <= a[mid])
        return; /* already in order */
    memcpy(tmp, a, mid * sizeof *a);
    i = 0;
    j = mid;
    k = 0;
    while (i < mid && j < n) {
        if (a[j] < tmp[i])
            a[k++] = a[j++];
        else
            a[k++] = tmp[i++];
    }
    while (i < mid)
        a[k++] = tmp[i++];
}

sk_status sk_mergesort(int32_t *a, size_t n)
{
    int32_t *tmp;

    if (n < 2)
        return SK_OK;
    tmp = malloc((n / 2 + 1) * sizeof *tmp);
    if (tmp == NULL)
        return SK_ERR_NOMEM;
    merge_sort_rec(a, tmp, n);
    free(tmp);
    return SK_OK;
}
