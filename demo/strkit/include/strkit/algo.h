/* strkit - sorting, searching, matrices and random numbers. */
#ifndef STRKIT_ALGO_H
#define STRKIT_ALGO_H

#include "strkit/common.h"

void sk_quicksort(int32_t *a, size_t n);
sk_status sk_mergesort(int32_t *a, size_t n);
void sk_heapsort(int32_t *a, size_t n);
void sk_insertion_sort(int32_t *a, size_t n);
void sk_shellsort(int32_t *a, size_t n);
sk_status sk_radix_sort(uint32_t *a, size_t n);
bool sk_is_sorted(const int32_t *a, size_t n);

size_t sk_lower_bound(const int32_t *a, size_t n, int32_t key);
size_t sk_upper_bound(const int32_t *a, size_t n, int32_t key);
bool sk_binary_search(const int32_t *a, size_t n, int32_t key, size_t *at);

/* k-th smallest (0-based); reorders a. */
int32_t sk_select(int32_t *a, size_t n, size_t k);
bool sk_next_permutation(int32_t *a, size_t n);

/* Row-major matrices: c[n x p] = a[n x m] * b[m x p]. */
void sk_mat_mul(const int64_t *a, const int64_t *b, int64_t *c, size_t n,
                size_t m, size_t p);
void sk_mat_transpose(const int64_t *a, int64_t *t, size_t rows, size_t cols);
/* Exact integer determinant of an n x n matrix (n <= 8) via Bareiss. */
sk_status sk_mat_det(const int64_t *a, size_t n, int64_t *det);
void sk_mat_identity(int64_t *a, size_t n);
sk_status sk_mat_pow(const int64_t *a, size_t n, unsigned e, int64_t *out);

/* xorshift64* generator. */
typedef struct sk_rng {
    uint64_t state;
} sk_rng;

void sk_rng_seed(sk_rng *r, uint64_t seed);
uint64_t sk_rng_next(sk_rng *r);
uint32_t sk_rng_u32(sk_rng *r);
/* Uniform in [0, bound) without modulo bias; bound must be non-zero. */
uint32_t sk_rng_below(sk_rng *r, uint32_t bound);
void sk_shuffle(int32_t *a, size_t n, sk_rng *r);

/* Summary statistics over int32 arrays. */
typedef struct sk_stats {
    int32_t min;
    int32_t max;
    int64_t sum;
    int64_t mean_milli;     /* mean * 1000, truncated toward zero */
    int64_t variance_milli; /* population variance * 1000 */
} sk_stats;

/* Requires 1 <= n <= 1000 and |a[i]| <= 10^6, else SK_ERR_INVALID/RANGE. */
sk_status sk_compute_stats(const int32_t *a, size_t n, sk_stats *out);
int32_t sk_mode(const int32_t *a, size_t n);

#endif /* STRKIT_ALGO_H */
