/* strkit - allocators and container types. */
#ifndef STRKIT_MEM_H
#define STRKIT_MEM_H

#include "strkit/common.h"

/* --- bump arena --- */
typedef struct sk_arena_block sk_arena_block;
typedef struct sk_arena {
    sk_arena_block *head;
    size_t block_size;
    size_t total;
} sk_arena;

void sk_arena_init(sk_arena *a, size_t block_size);
void *sk_arena_alloc(sk_arena *a, size_t size, size_t align);
char *sk_arena_strdup(sk_arena *a, const char *s);
void sk_arena_reset(sk_arena *a);
void sk_arena_free(sk_arena *a);

/* --- growable vector of int64_t --- */
typedef struct sk_vec {
    int64_t *data;
    size_t len;
    size_t cap;
} sk_vec;

void sk_vec_init(sk_vec *v);
void sk_vec_free(sk_vec *v);
sk_status sk_vec_push(sk_vec *v, int64_t x);
bool sk_vec_pop(sk_vec *v, int64_t *out);
sk_status sk_vec_insert(sk_vec *v, size_t at, int64_t x);
bool sk_vec_remove(sk_vec *v, size_t at, int64_t *out);
sk_status sk_vec_reserve(sk_vec *v, size_t n);

/* --- growable string buffer --- */
typedef struct sk_strbuf {
    char *data;
    size_t len;
    size_t cap;
} sk_strbuf;

void sk_strbuf_init(sk_strbuf *b);
void sk_strbuf_free(sk_strbuf *b);
sk_status sk_strbuf_append(sk_strbuf *b, const char *s, size_t n);
sk_status sk_strbuf_puts(sk_strbuf *b, const char *s);
sk_status sk_strbuf_putc(sk_strbuf *b, char c);
sk_status sk_strbuf_printf(sk_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
sk_status sk_strbuf_repeat(sk_strbuf *b, char c, size_t n);
void sk_strbuf_clear(sk_strbuf *b);
const char *sk_strbuf_cstr(const sk_strbuf *b);

/* --- string -> int64 hash map (open addressing, linear probing) --- */
typedef struct sk_map_entry {
    char *key;
    int64_t value;
    uint32_t hash;
    bool used;
} sk_map_entry;

typedef struct sk_map {
    sk_map_entry *slots;
    size_t cap; /* power of two */
    size_t count;
} sk_map;

void sk_map_init(sk_map *m);
void sk_map_free(sk_map *m);
sk_status sk_map_put(sk_map *m, const char *key, int64_t value);
sk_status sk_map_get(const sk_map *m, const char *key, int64_t *value);
bool sk_map_remove(sk_map *m, const char *key);
sk_status sk_map_add(sk_map *m, const char *key, int64_t delta);
/* Calls fn for every entry in key order; stops early if fn returns false. */
void sk_map_each_sorted(const sk_map *m,
                        bool (*fn)(const char *key, int64_t value, void *ctx),
                        void *ctx);

/* --- fixed-capacity byte ring buffer --- */
typedef struct sk_ring {
    unsigned char *buf;
    size_t cap;
    size_t head;
    size_t len;
} sk_ring;

sk_status sk_ring_init(sk_ring *r, size_t cap);
void sk_ring_free(sk_ring *r);
size_t sk_ring_write(sk_ring *r, const void *src, size_t n);
size_t sk_ring_read(sk_ring *r, void *dst, size_t n);
size_t sk_ring_peek(const sk_ring *r, void *dst, size_t n);

/* --- bit set --- */
typedef struct sk_bitset {
    uint64_t *words;
    size_t nbits;
} sk_bitset;

sk_status sk_bitset_init(sk_bitset *b, size_t nbits);
void sk_bitset_free(sk_bitset *b);
void sk_bitset_set(sk_bitset *b, size_t i);
void sk_bitset_clear(sk_bitset *b, size_t i);
bool sk_bitset_test(const sk_bitset *b, size_t i);
size_t sk_bitset_count(const sk_bitset *b);
/* Index of the first set bit at or after from, or nbits if none. */
size_t sk_bitset_next(const sk_bitset *b, size_t from);

/* --- binary min-heap of int64 --- */
typedef struct sk_heap {
    int64_t *data;
    size_t len;
    size_t cap;
} sk_heap;

void sk_heap_init(sk_heap *h);
void sk_heap_free(sk_heap *h);
sk_status sk_heap_push(sk_heap *h, int64_t x);
bool sk_heap_pop(sk_heap *h, int64_t *out);
bool sk_heap_peek(const sk_heap *h, int64_t *out);

/* --- singly linked list of ints, nodes from an arena --- */
typedef struct sk_list_node {
    struct sk_list_node *next;
    int64_t value;
} sk_list_node;

sk_list_node *sk_list_push_front(sk_arena *a, sk_list_node *head, int64_t v);
sk_list_node *sk_list_reverse(sk_list_node *head);
sk_list_node *sk_list_sort(sk_list_node *head);
size_t sk_list_length(const sk_list_node *head);

/* --- prefix tree over bytes, nodes from an arena --- */
typedef struct sk_trie_node sk_trie_node;
typedef struct sk_trie {
    sk_arena arena;
    sk_trie_node *root;
    size_t words;
} sk_trie;

sk_status sk_trie_init(sk_trie *t);
void sk_trie_free(sk_trie *t);
sk_status sk_trie_insert(sk_trie *t, const char *word);
bool sk_trie_contains(const sk_trie *t, const char *word);
size_t sk_trie_count_prefix(const sk_trie *t, const char *prefix);
/* Length of the longest inserted word that is a prefix of s (0 if none). */
size_t sk_trie_longest_prefix(const sk_trie *t, const char *s);

#endif /* STRKIT_MEM_H */
