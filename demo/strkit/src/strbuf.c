/* strkit - growable NUL-terminated string buffer. */
#include "strkit/common.h"
#include "strkit/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sk_strbuf_init(sk_strbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sk_strbuf_free(sk_strbuf *b)
{
    free(b->data);
    sk_strbuf_init(b);
}

/* Ensure room for extra more bytes plus the terminator. */
static sk_status grow(sk_strbuf *b, size_t extra)
{
    size_t need;
    size_t cap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return SK_ERR_NOMEM;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return SK_OK;
    cap = b->cap ? b->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return SK_ERR_NOMEM;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        return SK_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return SK_OK;
}

sk_status sk_strbuf_append(sk_strbuf *b, const char *s, size_t n)
{
    sk_status st = grow(b, n);

    if (st != SK_OK)
        return st;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SK_OK;
}

sk_status sk_strbuf_puts(sk_strbuf *b, const char *s)
{
    return sk_strbuf_append(b, s, strlen(s));
}

sk_status sk_strbuf_putc(sk_strbuf *b, char c)
{
    return sk_strbuf_append(b, &c, 1);
}

sk_status sk_strbuf_repeat(sk_strbuf *b, char c, size_t n)
{
    sk_status st = grow(b, n);

    if (st != SK_OK)
        return st;
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SK_OK;
}

sk_status sk_strbuf_printf(sk_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_list ap2;
    int need;
    sk_status st;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        va_end(ap2);
        return SK_ERR_INVALID;
    }
    st = grow(b, (size_t)need);
    if (st != SK_OK) {
        va_end(ap2);
        return st;
    }
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)need;
    return SK_OK;
}

void sk_strbuf_clear(sk_strbuf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

const char *sk_strbuf_cstr(const sk_strbuf *b)
{
    return b->data != NULL ? b->data : "";
}
