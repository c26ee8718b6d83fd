/* strkit - UTF-8 decoding and validation. */
#include "strkit/common.h"
#include "strkit/encode.h"

size_t sk_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t value;
    uint32_t min;
    size_t need;
    size_t i;

    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0) {
        need = 2;
        value = p[0] & 0x1Fu;
        min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        need = 3;
        value = p[0] & 0x0Fu;
        min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        need = 4;
        value = p[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0; /* stray continuation byte or 0xF8..0xFF */
    }
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        value = (value << 6) | (p[i] & 0x3Fu);
    }
    if (value < min)
        return 0; /* overlong form */
    if (value > 0x10FFFF)
        return 0;
    if (value >= 0xD800 && value <= 0xDFFF)
        return 0; /* surrogate halves are not scalar values */
    *cp = value;
    return need;
}

bool sk_utf8_valid(const char *s, size_t n)
{
    return sk_utf8_count(s, n) != SIZE_MAX;
}

size_t sk_utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t used = sk_utf8_decode(s + i, n - i, &cp);
        if (used == 0)
            return SIZE_MAX;
        i += used;
        count++;
    }
    return count;
}
