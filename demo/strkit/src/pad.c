/* strkit - padding and centring. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

static sk_status pad_generic(const char *s, size_t width, char fill,
                             char *dst, size_t cap, size_t left_share)
{
    size_t n = strlen(s);
    size_t total = n < width ? width : n;
    size_t extra = total - n;
    size_t left;

    if (cap <= total)
        return SK_ERR_SPACE;
    /* left_share: 0 = pad right, 1 = pad left, 2 = centre. */
    if (left_share == 0)
        left = 0;
    else if (left_share == 1)
        left = extra;
    else
        left = extra / 2;
    memset(dst, fill, left);
    memcpy(dst + left, s, n);
    memset(dst + left + n, fill, extra - left);
    dst[total] = '\0';
    return SK_OK;
}

sk_status sk_pad_left(const char *s, size_t width, char fill, char *dst,
                      size_t cap)
{
    return pad_generic(s, width, fill, dst, cap, 1);
}

sk_status sk_pad_right(const char *s, size_t width, char fill, char *dst,
                       size_t cap)
{
    return pad_generic(s, width, fill, dst, cap, 0);
}

sk_status sk_center(const char *s, size_t width, char fill, char *dst,
                    size_t cap)
{
    return pad_generic(s, width, fill, dst, cap, 2);
}
