/* A string -> count hash table with open addressing. */
#ifndef WORDSTAT_TABLE_H
#define WORDSTAT_TABLE_H
#include <stddef.h>

struct entry {
    char *word;
    unsigned long count;
};

struct table {
    struct entry *slots;
    size_t capacity;
    size_t used;
};

void table_init(struct table *t);
void table_free(struct table *t);
void table_add(struct table *t, const char *word, size_t len);
size_t table_entries(const struct table *t, struct entry *out);
#endif
