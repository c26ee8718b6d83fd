/* strkit - naive substring search. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

ptrdiff_t sk_find(const char *hay, size_t hn, const char *needle, size_t nn)
{
    size_t i;

    if (nn == 0)
        return 0;
    if (nn > hn)
        return -1;
    for (i = 0; i + nn <= hn; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0)
            return (ptrdiff_t)i;
    }
    return -1;
}

ptrdiff_t sk_rfind(const char *hay, size_t hn, const char *needle, size_t nn)
{
    size_t i;

    if (nn > hn)
        return -1;
    if (nn == 0)
        return (ptrdiff_t)hn;
    for (i = hn - nn + 1; i > 0; i--) {
        if (memcmp(hay + i - 1, needle, nn) == 0)
            return (ptrdiff_t)(i - 1);
    }
    return -1;
}

size_t sk_count(const char *hay, size_t hn, const char *needle, size_t nn)
{
    size_t count = 0;
    size_t i = 0;

    if (nn == 0)
        return 0;
    while (i < hn) {
        ptrdiff_t at = sk_find(hay + i, hn - i, needle, nn);
        if (at < 0)
            break;
        count++;
        i += (size_t)at + nn;
    }
    return count;
}
