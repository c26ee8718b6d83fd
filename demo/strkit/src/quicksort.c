/* strkit - introspective-style quicksort for int32 arrays.
 *
 * Median-of-three pivot, three-way partitioning (so runs of equal keys
 * cost nothing), recursion on the smaller side only, and insertion sort
 * for short ranges. */
#include "strkit/algo.h"
#include "strkit/common.h"

#define SMALL_RANGE 12

static void swap_i32(int32_t *a, int32_t *b)
{
    int32_t t = *a;
    *a = *b;
    *b = t;
}

static int32_t median3(int32_t a, int32_t b, int32_t c)
{
    if (a < b) {
        if (b < c)
            return b;
        return a < c ? c : a;
    }
    if (a < c)
        return a;
    return b < c ? c : b;
}

static void sort_range(int32_t *a, size_t n)
{
    while (n > SMALL_RANGE) {
        int32_t pivot = median3(a[0], a[n / 2], a[n - 1]);
        size_t lt = 0;  /* a[0..lt) < pivot */
        size_t i = 0;   /* a[lt..i) == pivot */
        size_t gt = n;  /* a[gt..n) > pivot */
        while (i < gt) {
            if (a[i] < pivot) {
                swap_i32(&a[lt++], &a[i++]);
            } else if (a[i] > pivot) {
                swap_i32(&a[i], &a[--gt]);
            } else {
                i++;
            }
        }
        /* Recurse into the smaller part, loop on the larger. */
        if (lt < n - gt) {
            sort_range(a, lt);
            a += gt;
            n -= gt;
        } else {
            sort_range(a + gt, n - gt);
            n = lt;
        }
    }
    sk_insertion_sort(a, n);
}

void sk_quicksort(int32_t *a, size_t n)
{
    sort_range(a, n);
}
