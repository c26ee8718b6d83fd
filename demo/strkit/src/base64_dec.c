/* strkit - base64 decoder. */
#include "strkit/common.h"
#include "strkit/encode.h"

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

sk_status sk_base64_decode(const char *src, size_t n, unsigned char *dst,
                           size_t cap, size_t *out_len)
{
    size_t pad = 0;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i;

    /* Strip up to two trailing '=' characters. */
    while (n > 0 && pad < 2 && src[n - 1] == '=') {
        n--;
        pad++;
    }
    if (pad > 0 && (n + pad) % 4 != 0)
        return SK_ERR_INVALID;
    if (n % 4 == 1)
        return SK_ERR_INVALID;

    for (i = 0; i < n; i++) {
        int v = b64_value(src[i]);
        if (v < 0)
            return SK_ERR_INVALID;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return SK_ERR_SPACE;
            dst[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    /* Leftover bits must be zero for a canonical encoding. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return SK_ERR_INVALID;
    *out_len = o;
    return SK_OK;
}
