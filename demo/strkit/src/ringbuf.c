/* strkit - fixed-capacity byte ring buffer. */
#include "strkit/common.h"
#include "strkit/mem.h"

#include <stdlib.h>
#include <string.h>

sk_status sk_ring_init(sk_ring *r, size_t cap)
{
    r->buf = cap ? malloc(cap) : NULL;
    if (cap != 0 && r->buf == NULL)
        return SK_ERR_NOMEM;
    r->cap = cap;
    r->head = 0;
    r->len = 0;
    return SK_OK;
}

void sk_ring_free(sk_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

size_t sk_ring_write(sk_ring *r, const void *src, size_t n)
{
    const unsigned char *in = src;
    size_t room = r->cap - r->len;
    size_t tail;
    size_t first;

    if (n > room)
        n = room;
    if (n == 0)
        return 0;
    tail = (r->head + r->len) % r->cap;
    first = SK_MIN(n, r->cap - tail);
    memcpy(r->buf + tail, in, first);
    if (n > first)
        memcpy(r->buf, in + first, n - first);
    r->len += n;
    return n;
}

size_t sk_ring_peek(const sk_ring *r, void *dst, size_t n)
{
    unsigned char *out = dst;
    size_t first;

    if (n > r->len)
        n = r->len;
    if (n == 0)
        return 0;
    first = SK_MIN(n, r->cap - r->head);
    memcpy(out, r->buf + r->head, first);
    if (n > first)
        memcpy(out + first, r->buf, n - first);
    return n;
}

size_t sk_ring_read(sk_ring *r, void *dst, size_t n)
{
    n = sk_ring_peek(r, dst, n);
    if (n > 0) {
        r->head = (r->head + n) % r->cap;
        r->len -= n;
    }
    return n;
}
