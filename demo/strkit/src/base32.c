/* strkit - base32 (RFC 4648) encoder and decoder. */
#include "strkit/common.h"
#include "strkit/encode.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t sk_base32_encoded_len(size_t n)
{
    return (n + 4) / 5 * 8;
}

size_t sk_base32_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *in = src;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        acc = ((acc << 8) | in[i]) & 0xFFFFu;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            dst[o++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        dst[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    while (o % 8 != 0)
        dst[o++] = '=';
    dst[o] = '\0';
    return o;
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

sk_status sk_base32_decode(const char *src, size_t n, unsigned char *dst,
                           size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    size_t i;
    size_t data_chars;

    while (n > 0 && src[n - 1] == '=')
        n--;
    data_chars = n % 8;
    /* Only 0, 2, 4, 5 or 7 trailing characters form whole bytes. */
    if (data_chars == 1 || data_chars == 3 || data_chars == 6)
        return SK_ERR_INVALID;
    for (i = 0; i < n; i++) {
        int v = b32_value(src[i]);
        if (v < 0)
            return SK_ERR_INVALID;
        acc = ((acc << 5) | (uint32_t)v) & 0xFFFu;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return SK_ERR_SPACE;
            dst[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    *out_len = o;
    return SK_OK;
}
