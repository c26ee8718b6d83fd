/* strkit - summary statistics in exact integer arithmetic. */
#include "strkit/algo.h"
#include "strkit/common.h"

#include <stdlib.h>
#include <string.h>

/* Inputs are limited so that every intermediate fits in 64 bits:
 * |x| <= 10^6 gives |deviation| <= 2 * 10^9 milli-units, whose square is
 * below 4 * 10^18, and at most 1000 such terms are summed after /1000. */
#define STATS_MAX_ABS 1000000
#define STATS_MAX_N 1000

sk_status sk_compute_stats(const int32_t *a, size_t n, sk_stats *out)
{
    int64_t sum = 0;
    int64_t mean_milli;
    int64_t var_acc = 0;
    size_t i;

    if (n == 0)
        return SK_ERR_INVALID;
    if (n > STATS_MAX_N)
        return SK_ERR_RANGE;
    out->min = a[0];
    out->max = a[0];
    for (i = 0; i < n; i++) {
        if (a[i] > STATS_MAX_ABS || a[i] < -STATS_MAX_ABS)
            return SK_ERR_RANGE;
        sum += a[i];
        if (a[i] < out->min)
            out->min = a[i];
        if (a[i] > out->max)
            out->max = a[i];
    }
    mean_milli = sum * 1000 / (int64_t)n;
    for (i = 0; i < n; i++) {
        int64_t dev = (int64_t)a[i] * 1000 - mean_milli;
        var_acc += dev * dev / 1000;
    }
    out->sum = sum;
    out->mean_milli = mean_milli;
    out->variance_milli = var_acc / (int64_t)n;
    return SK_OK;
}

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x;
    int32_t b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

int32_t sk_mode(const int32_t *a, size_t n)
{
    int32_t *copy;
    int32_t best;
    size_t best_run = 0;
    size_t i = 0;

    if (n == 0)
        return 0;
    copy = malloc(n * sizeof *copy);
    if (copy == NULL)
        return a[0];
    memcpy(copy, a, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_i32);
    best = copy[0];
    while (i < n) {
        size_t j = i;
        while (j < n && copy[j] == copy[i])
            j++;
        if (j - i > best_run) { /* ties resolve to the smallest value */
            best_run = j - i;
            best = copy[i];
        }
        i = j;
    }
    free(copy);
    return best;
}
