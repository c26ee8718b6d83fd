#ifndef WORDSTAT_XALLOC_H
#define WORDSTAT_XALLOC_H
#include <stddef.h>
void *xcalloc(size_t n, size_t size);
char *xstrndup(const char *s, size_t len);
#endif
