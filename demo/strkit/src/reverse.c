/* strkit - in-place reversal and palindrome detection. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

void sk_reverse(char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n / 2; i++) {
        char t = s[i];
        s[i] = s[n - 1 - i];
        s[n - 1 - i] = t;
    }
}

static int fold(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 'a';
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return c;
    return -1;
}

bool sk_is_palindrome(const char *s)
{
    size_t n = strlen(s);
    size_t i = 0;
    size_t j = n;

    while (i < j) {
        int a = fold(s[i]);
        int b = fold(s[j - 1]);
        if (a < 0) {
            i++;
        } else if (b < 0) {
            j--;
        } else {
            if (a != b)
                return false;
            i++;
            j--;
        }
    }
    return true;
}
