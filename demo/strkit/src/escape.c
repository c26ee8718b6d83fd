/* strkit - C-style string escaping. */
#include "strkit/common.h"
#include "strkit/encode.h"

static char escape_letter(unsigned char c)
{
    switch (c) {
    case '\n':
        return 'n';
    case '\t':
        return 't';
    case '\r':
        return 'r';
    case '\\':
        return '\\';
    case '"':
        return '"';
    case '\0':
        return '0';
    default:
        return 0;
    }
}

sk_status sk_c_escape(const char *src, size_t n, char *dst, size_t cap,
                      size_t *out_len)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        char letter = escape_letter(c);
        if (letter != 0) {
            if (cap - o < 3)
                return SK_ERR_SPACE;
            dst[o++] = '\\';
            dst[o++] = letter;
        } else if (c < 0x20 || c >= 0x7F) {
            if (cap - o < 5)
                return SK_ERR_SPACE;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = digits[c >> 4];
            dst[o++] = digits[c & 15];
        } else {
            if (cap - o < 2)
                return SK_ERR_SPACE;
            dst[o++] = (char)c;
        }
    }
    if (cap - o < 1)
        return SK_ERR_SPACE;
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}

sk_status sk_c_unescape(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len)
{
    size_t o = 0;
    size_t i = 0;

    while (i < n) {
        char c = src[i++];
        if (cap - o < 2)
            return SK_ERR_SPACE;
        if (c != '\\') {
            dst[o++] = c;
            continue;
        }
        if (i >= n)
            return SK_ERR_INVALID;
        c = src[i++];
        switch (c) {
        case 'n':
            dst[o++] = '\n';
            break;
        case 't':
            dst[o++] = '\t';
            break;
        case 'r':
            dst[o++] = '\r';
            break;
        case '0':
            dst[o++] = '\0';
            break;
        case '\\':
        case '"':
        case '\'':
            dst[o++] = c;
            break;
        case 'x': {
            int hi;
            int lo;
            if (n - i < 2)
                return SK_ERR_INVALID;
            hi = sk_hex_digit_value((unsigned char)src[i]);
            lo = sk_hex_digit_value((unsigned char)src[i + 1]);
            if (hi < 0 || lo < 0)
                return SK_ERR_INVALID;
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            return SK_ERR_INVALID;
        }
    }
    if (cap - o < 1)
        return SK_ERR_SPACE;
    dst[o] = '\0';
    *out_len = o;
    return SK_OK;
}
