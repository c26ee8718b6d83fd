#ifndef WORDSTAT_RANK_H
#define WORDSTAT_RANK_H
#include "table.h"
/* Most frequent first; ties in alphabetical order. */
void rank(struct entry *entries, size_t n);
#endif
