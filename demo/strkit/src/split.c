/* strkit - splitting on a single separator. */
#include "strkit/common.h"
#include "strkit/str.h"

size_t sk_split(const char *s, char sep, sk_slice *out, size_t max)
{
    size_t count = 0;
    const char *start = s;
    const char *p = s;

    for (;;) {
        if (*p == sep || *p == '\0') {
            if (count < max)
                out[count] = sk_slice_make(start, (size_t)(p - start));
            count++;
            if (*p == '\0')
                break;
            start = p + 1;
        }
        p++;
    }
    return count;
}
