/* strkit - American Soundex phonetic code. */
#include "strkit/common.h"
#include "strkit/str.h"

/* Digit class for a lower-case letter: '0' for vowels (and y), 'h' for
 * the transparent letters h and w, otherwise '1'..'6'. */
static char soundex_class(char c)
{
    switch (c) {
    case 'b': case 'f': case 'p': case 'v':
        return '1';
    case 'c': case 'g': case 'j': case 'k': case 'q': case 's': case 'x':
    case 'z':
        return '2';
    case 'd': case 't':
        return '3';
    case 'l':
        return '4';
    case 'm': case 'n':
        return '5';
    case 'r':
        return '6';
    case 'h': case 'w':
        return 'h';
    default:
        return '0';
    }
}

static char to_lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
    c = to_lower_ascii(c);
    return c >= 'a' && c <= 'z';
}

void sk_soundex(const char *name, char out[5])
{
    size_t o = 0;
    char last;

    while (*name && !is_alpha(*name))
        name++;
    if (*name == '\0') {
        out[0] = '\0';
        return;
    }
    out[o++] = (char)(to_lower_ascii(*name) - 'a' + 'A');
    last = soundex_class(to_lower_ascii(*name));
    for (name++; *name && o < 4; name++) {
        char cls;
        if (!is_alpha(*name))
            continue;
        cls = soundex_class(to_lower_ascii(*name));
        if (cls == 'h')
            continue; /* h/w do not separate equal codes */
        if (cls != '0' && cls != last)
            out[o++] = cls;
        last = cls;
    }
    while (o < 4)
        out[o++] = '0';
    out[4] = '\0';
}
