/* strkit - hexadecimal encoding. */
#include "strkit/common.h"
#include "strkit/encode.h"

int sk_hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t sk_hex_encode(const void *src, size_t n, char *dst, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    const unsigned char *in = src;
    size_t i;

    for (i = 0; i < n; i++) {
        dst[2 * i] = digits[in[i] >> 4];
        dst[2 * i + 1] = digits[in[i] & 15];
    }
    dst[2 * n] = '\0';
    return 2 * n;
}

sk_status sk_hex_decode(const char *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len)
{
    size_t i;

    if (n % 2 != 0)
        return SK_ERR_INVALID;
    if (n / 2 > cap)
        return SK_ERR_SPACE;
    for (i = 0; i < n; i += 2) {
        int hi = sk_hex_digit_value((unsigned char)src[i]);
        int lo = sk_hex_digit_value((unsigned char)src[i + 1]);
        if (hi < 0 || lo < 0)
            return SK_ERR_INVALID;
        dst[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    *out_len = n / 2;
    return SK_OK;
}
