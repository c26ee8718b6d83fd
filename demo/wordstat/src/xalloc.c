#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xalloc.h"

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "wordstat: out of memory\n");
        exit(2);
    }
    return p;
}

char *xstrndup(const char *s, size_t len)
{
    char *p = xcalloc(len + 1, 1);
    memcpy(p, s, len);
    return p;
}
