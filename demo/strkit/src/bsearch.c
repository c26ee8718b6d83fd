/* strkit - binary search over sorted int32 arrays. */
#include "strkit/algo.h"
#include "strkit/common.h"

size_t sk_lower_bound(const int32_t *a, size_t n, int32_t key)
{
    size_t lo = 0;
    size_t hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t sk_upper_bound(const int32_t *a, size_t n, int32_t key)
{
    size_t lo = 0;
    size_t hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool sk_binary_search(const int32_t *a, size_t n, int32_t key, size_t *at)
{
    size_t i = sk_lower_bound(a, n, key);

    if (i < n && a[i] == key) {
        if (at != NULL)
            *at = i;
        return true;
    }
    return false;
}
