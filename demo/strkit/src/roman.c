/* strkit - roman numeral conversion. */
#include "strkit/common.h"
#include "strkit/encode.h"

#include <string.h>

struct roman_step {
    int value;
    const char *glyphs;
};

static const struct roman_step roman_steps[] = {
    {1000, "M"}, {900, "CM"}, {500, "D"}, {400, "CD"}, {100, "C"},
    {90, "XC"},  {50, "L"},   {40, "XL"}, {10, "X"},  {9, "IX"},
    {5, "V"},    {4, "IV"},   {1, "I"},
};

sk_status sk_roman_from_int(int value, char *buf, size_t cap)
{
    size_t o = 0;
    size_t i;

    if (value <= 0 || value > 3999)
        return SK_ERR_RANGE;
    for (i = 0; i < SK_ARRAY_LEN(roman_steps); i++) {
        while (value >= roman_steps[i].value) {
            size_t len = strlen(roman_steps[i].glyphs);
            if (cap - o <= len)
                return SK_ERR_SPACE;
            memcpy(buf + o, roman_steps[i].glyphs, len);
            o += len;
            value -= roman_steps[i].value;
        }
    }
    buf[o] = '\0';
    return SK_OK;
}

static int roman_digit(char c)
{
    switch (c) {
    case 'I':
        return 1;
    case 'V':
        return 5;
    case 'X':
        return 10;
    case 'L':
        return 50;
    case 'C':
        return 100;
    case 'D':
        return 500;
    case 'M':
        return 1000;
    default:
        return 0;
    }
}

int sk_roman_to_int(const char *s)
{
    char canon[32];
    size_t n = strlen(s);
    int total = 0;
    size_t i;

    if (n == 0 || n >= sizeof canon)
        return 0;
    for (i = 0; i < n; i++) {
        int v = roman_digit(s[i]);
        int next = i + 1 < n ? roman_digit(s[i + 1]) : 0;
        if (v == 0)
            return 0;
        total += v < next ? -v : v;
    }
    /* Accept only the canonical spelling: re-encode and compare. */
    if (sk_roman_from_int(total, canon, sizeof canon) != SK_OK)
        return 0;
    return strcmp(canon, s) == 0 ? total : 0;
}
