/* strkit - greedy word wrapping. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

sk_status sk_wordwrap(const char *s, size_t width, char *dst, size_t cap,
                      size_t *out_len)
{
    size_t o = 0;
    size_t col = 0;

    if (width == 0)
        return SK_ERR_INVALID;
    if (cap == 0)
        return SK_ERR_SPACE;
    while (*s) {
        size_t wlen;
        size_t need;
        while (*s && sk_is_space((unsigned char)*s))
            s++;
        if (*s == '\0')
            break;
        wlen = 0;
        while (s[wlen] && !sk_is_space((unsigned char)s[wlen]))
            wlen++;
        /* Separator: nothing at line start, a space or a newline otherwise. */
        if (col == 0)
            need = 0;
        else
            need = 1;
        if (col > 0 && col + 1 + wlen > width) {
            if (cap - 1 - o < 1)
                return SK_ERR_SPACE;
            dst[o++] = '\n';
            col = 0;
            need = 0;
        }
        if (cap - 1 - o < need + wlen)
            return SK_ERR_SPACE;
        if (need)
            dst[o++] = ' ';
        memcpy(dst + o, s, wlen);
        o += wlen;
        col += need + wlen;
        s += wlen;
    }
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}
