/* strkit - string-keyed hash map with open addressing.
 *
 * Linear probing over a power-of-two table.  Deletion uses backward-shift
 * so the table never accumulates tombstones: after removing a slot, later
 * entries of the same probe run are moved up to close the gap. */
#include "strkit/common.h"
#include "strkit/hash.h"
#include "strkit/mem.h"

#include <stdlib.h>
#include <string.h>

#define MAP_MIN_CAP 8u

static uint32_t key_hash(const char *key)
{
    return sk_fnv1a32(key, strlen(key));
}

static char *dup_key(const char *key)
{
    size_t n = strlen(key) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, key, n);
    return p;
}

void sk_map_init(sk_map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void sk_map_free(sk_map *m)
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        if (m->slots[i].used)
            free(m->slots[i].key);
    }
    free(m->slots);
    sk_map_init(m);
}

/* Slot holding key, or the empty slot where it would be inserted. */
static size_t probe(const sk_map_entry *slots, size_t cap, const char *key,
                    uint32_t h)
{
    size_t mask = cap - 1;
    size_t i = h & mask;

    while (slots[i].used) {
        if (slots[i].hash == h && strcmp(slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static sk_status rehash(sk_map *m, size_t new_cap)
{
    sk_map_entry *fresh = calloc(new_cap, sizeof *fresh);
    size_t i;

    if (fresh == NULL)
        return SK_ERR_NOMEM;
    for (i = 0; i < m->cap; i++) {
        if (m->slots[i].used) {
            size_t at = probe(fresh, new_cap, m->slots[i].key,
                              m->slots[i].hash);
            fresh[at] = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = fresh;
    m->cap = new_cap;
    return SK_OK;
}

/* Keep the load factor at or below 3/4. */
static sk_status ensure_room(sk_map *m)
{
    if (m->cap == 0)
        return rehash(m, MAP_MIN_CAP);
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (m->cap > SIZE_MAX / 2 / sizeof(sk_map_entry))
            return SK_ERR_NOMEM;
        return rehash(m, m->cap * 2);
    }
    return SK_OK;
}

static sk_map_entry *find_or_insert(sk_map *m, const char *key,
                                    sk_status *st)
{
    uint32_t h = key_hash(key);
    size_t at;

    *st = ensure_room(m);
    if (*st != SK_OK)
        return NULL;
    at = probe(m->slots, m->cap, key, h);
    if (!m->slots[at].used) {
        char *copy = dup_key(key);
        if (copy == NULL) {
            *st = SK_ERR_NOMEM;
            return NULL;
        }
        m->slots[at].key = copy;
        m->slots[at].hash = h;
        m->slots[at].value = 0;
        m->slots[at].used = true;
        m->count++;
    }
    return &m->slots[at];
}

sk_status sk_map_put(sk_map *m, const char *key, int64_t value)
{
    sk_status st;
    sk_map_entry *e = find_or_insert(m, key, &st);

    if (e != NULL)
        e->value = value;
    return st;
}

sk_status sk_map_add(sk_map *m, const char *key, int64_t delta)
{
    sk_status st;
    sk_map_entry *e = find_or_insert(m, key, &st);

    if (e != NULL)
        e->value += delta;
    return st;
}

sk_status sk_map_get(const sk_map *m, const char *key, int64_t *value)
{
    size_t at;

    if (m->cap == 0)
        return SK_ERR_NOTFOUND;
    at = probe(m->slots, m->cap, key, key_hash(key));
    if (!m->slots[at].used)
        return SK_ERR_NOTFOUND;
    if (value != NULL)
        *value = m->slots[at].value;
    return SK_OK;
}

/* True if home lies cyclically in the half-open range (from, to]. */
static bool cyclic_between(size_t from, size_t home, size_t to)
{
    if (from <= to)
        return from < home && home <= to;
    return from < home || home <= to;
}

bool sk_map_remove(sk_map *m, const char *key)
{
    size_t mask;
    size_t hole;
    size_t i;

    if (m->cap == 0)
        return false;
    mask = m->cap - 1;
    hole = probe(m->slots, m->cap, key, key_hash(key));
    if (!m->slots[hole].used)
        return false;
    free(m->slots[hole].key);
    m->slots[hole].used = false;
    m->count--;
    /* Shift back any entry whose probe run passes over the hole. */
    for (i = (hole + 1) & mask; m->slots[i].used; i = (i + 1) & mask) {
        size_t home = m->slots[i].hash & mask;
        if (cyclic_between(hole, home, i))
            continue; /* entry is still reachable from its home slot */
        m->slots[hole] = m->slots[i];
        m->slots[i].used = false;
        hole = i;
    }
    return true;
}

static int entry_cmp(const void *a, const void *b)
{
    const sk_map_entry *const *x = a;
    const sk_map_entry *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

void sk_map_each_sorted(const sk_map *m,
                        bool (*fn)(const char *key, int64_t value, void *ctx),
                        void *ctx)
{
    const sk_map_entry **order;
    size_t n = 0;
    size_t i;

    if (m->count == 0)
        return;
    order = malloc(m->count * sizeof *order);
    if (order == NULL)
        return;
    for (i = 0; i < m->cap; i++) {
        if (m->slots[i].used)
            order[n++] = &m->slots[i];
    }
    qsort(order, n, sizeof *order, entry_cmp);
    for (i = 0; i < n; i++) {
        if (!fn(order[i]->key, order[i]->value, ctx))
            break;
    }
    free(order);
}
