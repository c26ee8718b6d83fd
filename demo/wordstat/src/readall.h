#ifndef WORDSTAT_READALL_H
#define WORDSTAT_READALL_H
#include <stdio.h>
char *read_all(FILE *in, size_t *len);
#endif
