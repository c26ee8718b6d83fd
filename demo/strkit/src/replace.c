/* strkit - substring replacement. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

sk_status sk_replace(const char *s, const char *from, const char *to,
                     char *dst, size_t cap, size_t *out_len)
{
    size_t flen = strlen(from);
    size_t tlen = strlen(to);
    size_t slen = strlen(s);
    size_t o = 0;
    size_t i = 0;

    if (flen == 0)
        return SK_ERR_INVALID;
    if (cap == 0)
        return SK_ERR_SPACE;
    while (i < slen) {
        ptrdiff_t hit = sk_find(s + i, slen - i, from, flen);
        size_t keep = hit < 0 ? slen - i : (size_t)hit;
        if (cap - 1 - o < keep)
            return SK_ERR_SPACE;
        memcpy(dst + o, s + i, keep);
        o += keep;
        i += keep;
        if (hit < 0)
            break;
        if (cap - 1 - o < tlen)
            return SK_ERR_SPACE;
        memcpy(dst + o, to, tlen);
        o += tlen;
        i += flen;
    }
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}
