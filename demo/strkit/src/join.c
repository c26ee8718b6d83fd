/* strkit - joining slices with a separator. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

sk_status sk_join(const sk_slice *parts, size_t n, const char *sep, char *dst,
                  size_t cap, size_t *out_len)
{
    size_t seplen = strlen(sep);
    size_t o = 0;
    size_t i;

    if (cap == 0)
        return SK_ERR_SPACE;
    for (i = 0; i < n; i++) {
        if (i > 0) {
            if (cap - 1 - o < seplen)
                return SK_ERR_SPACE;
            memcpy(dst + o, sep, seplen);
            o += seplen;
        }
        if (cap - 1 - o < parts[i].len)
            return SK_ERR_SPACE;
        if (parts[i].len > 0)
            memcpy(dst + o, parts[i].ptr, parts[i].len);
        o += parts[i].len;
    }
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}
