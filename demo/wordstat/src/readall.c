#include <stdlib.h>
#include "readall.h"
#include "xalloc.h"

char *read_all(FILE *in, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = xcalloc(cap, 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = xcalloc(cap * 2, 1);
            for (size_t i = 0; i < n; i++)
                bigger[i] = buf[i];
            free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}
