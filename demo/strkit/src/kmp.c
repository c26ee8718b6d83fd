/* strkit - Knuth-Morris-Pratt substring search. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <stdlib.h>

/* failure[i] = length of the longest proper border of needle[0..i]. */
static void build_failure(const char *needle, size_t nn, size_t *failure)
{
    size_t k = 0;
    size_t i;

    failure[0] = 0;
    for (i = 1; i < nn; i++) {
        while (k > 0 && needle[i] != needle[k])
            k = failure[k - 1];
        if (needle[i] == needle[k])
            k++;
        failure[i] = k;
    }
}

ptrdiff_t sk_kmp_find(const char *hay, size_t hn, const char *needle,
                      size_t nn)
{
    size_t stack_fail[64];
    size_t *failure = stack_fail;
    ptrdiff_t result = -1;
    size_t k = 0;
    size_t i;

    if (nn == 0)
        return 0;
    if (nn > hn)
        return -1;
    if (nn > SK_ARRAY_LEN(stack_fail)) {
        failure = malloc(nn * sizeof *failure);
        if (failure == NULL)
            return sk_find(hay, hn, needle, nn);
    }
    build_failure(needle, nn, failure);
    for (i = 0; i < hn; i++) {
        while (k > 0 && hay[i] != needle[k])
            k = failure[k - 1];
        if (hay[i] == needle[k])
            k++;
        if (k == nn) {
            result = (ptrdiff_t)(i + 1 - nn);
            break;
        }
    }
    if (failure != stack_fail)
        free(failure);
    return result;
}
