#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "table.h"
#include "xalloc.h"

void table_init(struct table *t)
{
    t->capacity = 64;
    t->used = 0;
    t->slots = xcalloc(t->capacity, sizeof *t->slots);
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->capacity; i++)
        free(t->slots[i].word);
    free(t->slots);
}

static struct entry *find(struct entry *slots, size_t cap, const char *w, size_t len)
{
    size_t i = hash_bytes(w, len) & (cap - 1);
    while (slots[i].word && !(strlen(slots[i].word) == len && memcmp(slots[i].word, w, len) == 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void grow(struct table *t)
{
    size_t cap = t->capacity * 2;
    struct entry *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < t->capacity; i++) {
        if (t->slots[i].word) {
            struct entry *e = find(slots, cap, t->slots[i].word, strlen(t->slots[i].word));
            *e = t->slots[i];
        }
    }
    free(t->slots);
    t->slots = slots;
    t->capacity = cap;
}

void table_add(struct table *t, const char *word, size_t len)
{
    if (2 * (t->used + 1) > t->capacity)
        grow(t);
    struct entry *e = find(t->slots, t->capacity, word, len);
    if (!e->word) {
        e->word = xstrndup(word, len);
        t->used++;
    }
    e->count++;
}

size_t table_entries(const struct table *t, struct entry *out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].word)
            out[n++] = t->slots[i];
    return n;
}
