/* strkit - tokenising on a set of delimiters. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

size_t sk_tokenize(const char *s, const char *delims, sk_slice *out,
                   size_t max)
{
    size_t count = 0;

    while (*s) {
        size_t skip = strspn(s, delims);
        size_t len;
        s += skip;
        if (*s == '\0')
            break;
        len = strcspn(s, delims);
        if (count < max)
            out[count] = sk_slice_make(s, len);
        count++;
        s += len;
    }
    return count;
}
