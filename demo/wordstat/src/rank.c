#include <stdlib.h>
#include <string.h>
#include "rank.h"

static int by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

void rank(struct entry *entries, size_t n)
{
    qsort(entries, n, sizeof *entries, by_count);
}
