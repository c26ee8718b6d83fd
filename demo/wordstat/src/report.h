#ifndef WORDSTAT_REPORT_H
#define WORDSTAT_REPORT_H
#include <stdio.h>
#include "table.h"
void report(FILE *out, const struct entry *ranked, size_t n, size_t top, size_t words);
#endif
