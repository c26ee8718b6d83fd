/* strkit - percent encoding for URL components. */
#include "strkit/common.h"
#include "strkit/encode.h"

static bool url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

sk_status sk_url_encode(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (url_unreserved(c)) {
            if (cap - o < 2)
                return SK_ERR_SPACE;
            dst[o++] = (char)c;
        } else {
            if (cap - o < 4)
                return SK_ERR_SPACE;
            dst[o++] = '%';
            dst[o++] = digits[c >> 4];
            dst[o++] = digits[c & 15];
        }
    }
    if (cap - o < 1)
        return SK_ERR_SPACE;
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}

sk_status sk_url_decode(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len)
{
    size_t o = 0;
    size_t i = 0;

    while (i < n) {
        char c = src[i];
        if (cap - o < 2)
            return SK_ERR_SPACE;
        if (c == '%') {
            int hi;
            int lo;
            if (n - i < 3)
                return SK_ERR_INVALID;
            hi = sk_hex_digit_value((unsigned char)src[i + 1]);
            lo = sk_hex_digit_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return SK_ERR_INVALID;
            dst[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else if (c == '+') {
            dst[o++] = ' ';
            i++;
        } else {
            dst[o++] = c;
            i++;
        }
    }
    if (cap - o < 1)
        return SK_ERR_SPACE;
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}
