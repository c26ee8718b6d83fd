/* strkit - byte-oriented run-length encoding. */
#include "strkit/common.h"
#include "strkit/encode.h"

sk_status sk_rle_encode(const void *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len)
{
    const unsigned char *in = src;
    size_t o = 0;
    size_t i = 0;

    while (i < n) {
        unsigned char byte = in[i];
        size_t run = 1;
        while (i + run < n && in[i + run] == byte && run < 255)
            run++;
        if (cap - o < 2)
            return SK_ERR_SPACE;
        dst[o++] = (unsigned char)run;
        dst[o++] = byte;
        i += run;
    }
    *out_len = o;
    return SK_OK;
}

sk_status sk_rle_decode(const unsigned char *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len)
{
    size_t o = 0;
    size_t i;

    if (n % 2 != 0)
        return SK_ERR_INVALID;
    for (i = 0; i < n; i += 2) {
        size_t run = src[i];
        size_t k;
        if (run == 0)
            return SK_ERR_INVALID;
        if (run > cap - o)
            return SK_ERR_SPACE;
        for (k = 0; k < run; k++)
            dst[o++] = src[i + 1];
    }
    *out_len = o;
    return SK_OK;
}
