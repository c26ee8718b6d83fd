/* strkit - Caesar shift and ROT13. */
#include "strkit/common.h"
#include "strkit/encode.h"

void sk_caesar(char *s, int shift)
{
    int k = shift % 26;

    if (k < 0)
        k += 26;
    for (; *s; s++) {
        if (*s >= 'a' && *s <= 'z')
            *s = (char)('a' + (*s - 'a' + k) % 26);
        else if (*s >= 'A' && *s <= 'Z')
            *s = (char)('A' + (*s - 'A' + k) % 26);
    }
}

void sk_rot13(char *s)
{
    sk_caesar(s, 13);
}
