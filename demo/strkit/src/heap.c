/* strkit - binary min-heap of 64-bit integers. */
#include "strkit/common.h"
#include "strkit/mem.h"

#include <stdlib.h>

void sk_heap_init(sk_heap *h)
{
    h->data = NULL;
    h->len = 0;
    h->cap = 0;
}

void sk_heap_free(sk_heap *h)
{
    free(h->data);
    sk_heap_init(h);
}

static void sift_up(int64_t *d, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        int64_t t;
        if (d[parent] <= d[i])
            break;
        t = d[parent];
        d[parent] = d[i];
        d[i] = t;
        i = parent;
    }
}

static void sift_down(int64_t *d, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t best = i;
        int64_t t;
        if (l < n && d[l] < d[best])
            best = l;
        if (r < n && d[r] < d[best])
            best = r;
        if (best == i)
            return;
        t = d[best];
        d[best] = d[i];
        d[i] = t;
        i = best;
    }
}

sk_status sk_heap_push(sk_heap *h, int64_t x)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        int64_t *p = realloc(h->data, cap * sizeof *p);
        if (p == NULL)
            return SK_ERR_NOMEM;
        h->data = p;
        h->cap = cap;
    }
    h->data[h->len] = x;
    sift_up(h->data, h->len);
    h->len++;
    return SK_OK;
}

bool sk_heap_peek(const sk_heap *h, int64_t *out)
{
    if (h->len == 0)
        return false;
    *out = h->data[0];
    return true;
}

bool sk_heap_pop(sk_heap *h, int64_t *out)
{
    if (h->len == 0)
        return false;
    *out = h->data[0];
    h->len--;
    if (h->len > 0) {
        h->data[0] = h->data[h->len];
        sift_down(h->data, h->len, 0);
    }
    return true;
}
