/* strkit - ASCII case conversion and comparison. */
#include "strkit/common.h"
#include "strkit/str.h"

static char lower_of(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char upper_of(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

void sk_to_upper(char *s)
{
    for (; *s; s++)
        *s = upper_of(*s);
}

void sk_to_lower(char *s)
{
    for (; *s; s++)
        *s = lower_of(*s);
}

void sk_to_title(char *s)
{
    bool start = true;

    for (; *s; s++) {
        if (is_alnum(*s)) {
            *s = start ? upper_of(*s) : lower_of(*s);
            start = false;
        } else {
            start = true;
        }
    }
}

int sk_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)lower_of(*a);
        unsigned char cb = (unsigned char)lower_of(*b);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca == '\0')
            return 0;
    }
}
