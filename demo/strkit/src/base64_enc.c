/* strkit - base64 encoder. */
#include "strkit/common.h"
#include "strkit/encode.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sk_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t sk_base64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *in = src;
    size_t o = 0;
    size_t i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t group = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) |
                         (uint32_t)in[i + 2];
        dst[o++] = b64_alphabet[(group >> 18) & 63];
        dst[o++] = b64_alphabet[(group >> 12) & 63];
        dst[o++] = b64_alphabet[(group >> 6) & 63];
        dst[o++] = b64_alphabet[group & 63];
    }
    if (n - i == 1) {
        uint32_t group = (uint32_t)in[i] << 16;
        dst[o++] = b64_alphabet[(group >> 18) & 63];
        dst[o++] = b64_alphabet[(group >> 12) & 63];
        dst[o++] = '=';
        dst[o++] = '=';
    } else if (n - i == 2) {
        uint32_t group = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        dst[o++] = b64_alphabet[(group >> 18) & 63];
        dst[o++] = b64_alphabet[(group >> 12) & 63];
        dst[o++] = b64_alphabet[(group >> 6) & 63];
        dst[o++] = '=';
    }
    dst[o] = '\0';
    return o;
}
