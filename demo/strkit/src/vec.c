/* strkit - growable vector of 64-bit integers. */
#include "strkit/common.h"
#include "strkit/mem.h"

#include <stdlib.h>
#include <string.h>

void sk_vec_init(sk_vec *v)
{
    v->data = NULL;
    v->len = 0;
    v->cap = 0;
}

void sk_vec_free(sk_vec *v)
{
    free(v->data);
    sk_vec_init(v);
}

sk_status sk_vec_reserve(sk_vec *v, size_t n)
{
    size_t cap = v->cap ? v->cap : 8;
    int64_t *p;

    if (n <= v->cap)
        return SK_OK;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof *p)
            return SK_ERR_NOMEM;
        cap *= 2;
    }
    p = realloc(v->data, cap * sizeof *p);
    if (p == NULL)
        return SK_ERR_NOMEM;
    v->data = p;
    v->cap = cap;
    return SK_OK;
}

sk_status sk_vec_push(sk_vec *v, int64_t x)
{
    sk_status st = sk_vec_reserve(v, v->len + 1);
    if (st != SK_OK)
        return st;
    v->data[v->len++] = x;
    return SK_OK;
}

bool sk_vec_pop(sk_vec *v, int64_t *out)
{
    if (v->len == 0)
        return false;
    *out = v->data[--v->len];
    return true;
}

sk_status sk_vec_insert(sk_vec *v, size_t at, int64_t x)
{
    sk_status st;

    if (at > v->len)
        return SK_ERR_RANGE;
    st = sk_vec_reserve(v, v->len + 1);
    if (st != SK_OK)
        return st;
    memmove(v->data + at + 1, v->data + at, (v->len - at) * sizeof *v->data);
    v->data[at] = x;
    v->len++;
    return SK_OK;
}

bool sk_vec_remove(sk_vec *v, size_t at, int64_t *out)
{
    if (at >= v->len)
        return false;
    if (out != NULL)
        *out = v->data[at];
    memmove(v->data + at, v->data + at + 1,
            (v->len - at - 1) * sizeof *v->data);
    v->len--;
    return true;
}
