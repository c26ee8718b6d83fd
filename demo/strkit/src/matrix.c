/* strkit - small dense integer matrices (row-major). */
#include "strkit/algo.h"
#include "strkit/common.h"

#include <string.h>

#define MAT_MAX 8

void sk_mat_mul(const int64_t *a, const int64_t *b, int64_t *c, size_t n,
                size_t m, size_t p)
{
    size_t i;
    size_t j;
    size_t k;

    for (i = 0; i < n; i++) {
        for (j = 0; j < p; j++)
            c[i * p + j] = 0;
        /* i-k-j loop order walks both b and c along rows. */
        for (k = 0; k < m; k++) {
            int64_t aik = a[i * m + k];
            for (j = 0; j < p; j++)
                c[i * p + j] += aik * b[k * p + j];
        }
    }
}

void sk_mat_transpose(const int64_t *a, int64_t *t, size_t rows, size_t cols)
{
    size_t r;
    size_t c;

    for (r = 0; r < rows; r++) {
        for (c = 0; c < cols; c++)
            t[c * rows + r] = a[r * cols + c];
    }
}

void sk_mat_identity(int64_t *a, size_t n)
{
    size_t i;
    size_t j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++)
            a[i * n + j] = i == j;
    }
}

/* Fraction-free Gaussian elimination (Bareiss): every intermediate value
 * is itself a minor of the input, so division is always exact. */
sk_status sk_mat_det(const int64_t *a, size_t n, int64_t *det)
{
    int64_t m[MAT_MAX * MAT_MAX];
    int64_t prev = 1;
    int sign = 1;
    size_t k;
    size_t i;
    size_t j;

    if (n == 0) {
        *det = 1;
        return SK_OK;
    }
    if (n > MAT_MAX)
        return SK_ERR_RANGE;
    memcpy(m, a, n * n * sizeof *m);
    for (k = 0; k + 1 < n; k++) {
        if (m[k * n + k] == 0) {
            /* Swap in a row with a non-zero pivot. */
            size_t r;
            for (r = k + 1; r < n && m[r * n + k] == 0; r++)
                ;
            if (r == n) {
                *det = 0;
                return SK_OK;
            }
            for (j = 0; j < n; j++) {
                int64_t t = m[k * n + j];
                m[k * n + j] = m[r * n + j];
                m[r * n + j] = t;
            }
            sign = -sign;
        }
        for (i = k + 1; i < n; i++) {
            for (j = k + 1; j < n; j++) {
                m[i * n + j] = (m[i * n + j] * m[k * n + k] -
                                m[i * n + k] * m[k * n + j]) /
                               prev;
            }
        }
        prev = m[k * n + k];
    }
    *det = sign * m[(n - 1) * n + (n - 1)];
    return SK_OK;
}

sk_status sk_mat_pow(const int64_t *a, size_t n, unsigned e, int64_t *out)
{
    int64_t base[MAT_MAX * MAT_MAX];
    int64_t tmp[MAT_MAX * MAT_MAX];

    if (n == 0 || n > MAT_MAX)
        return SK_ERR_RANGE;
    memcpy(base, a, n * n * sizeof *base);
    sk_mat_identity(out, n);
    while (e != 0) {
        if (e & 1u) {
            sk_mat_mul(out, base, tmp, n, n, n);
            memcpy(out, tmp, n * n * sizeof *tmp);
        }
        e >>= 1;
        if (e != 0) {
            sk_mat_mul(base, base, tmp, n, n, n);
            memcpy(base, tmp, n * n * sizeof *tmp);
        }
    }
    return SK_OK;
}
