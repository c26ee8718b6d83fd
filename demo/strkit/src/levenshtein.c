/* strkit - Levenshtein edit distance with a two-row table. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <stdlib.h>
#include <string.h>

size_t sk_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t *prev;
    size_t *cur;
    size_t i;
    size_t j;
    size_t result;

    /* Keep the shorter string along the row to bound memory. */
    if (lb > la) {
        const char *t = a;
        size_t tl = la;
        a = b;
        la = lb;
        b = t;
        lb = tl;
    }
    if (lb == 0)
        return la;
    prev = malloc((lb + 1) * sizeof *prev);
    cur = malloc((lb + 1) * sizeof *cur);
    if (prev == NULL || cur == NULL) {
        free(prev);
        free(cur);
        return SIZE_MAX;
    }
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        size_t *swap;
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t del = prev[j] + 1;
            size_t ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + cost;
            size_t best = del < ins ? del : ins;
            cur[j] = best < sub ? best : sub;
        }
        swap = prev;
        prev = cur;
        cur = swap;
    }
    result = prev[lb];
    free(prev);
    free(cur);
    return result;
}
