/* strkit - bump-pointer arena allocator. */
#include "strkit/common.h"
#include "strkit/mem.h"

#include <stdlib.h>
#include <string.h>

struct sk_arena_block {
    sk_arena_block *next;
    size_t used;
    size_t size;
    unsigned char data[];
};

void sk_arena_init(sk_arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size < 64 ? 64 : block_size;
    a->total = 0;
}

static sk_arena_block *new_block(size_t size)
{
    sk_arena_block *b;

    if (size > SIZE_MAX - sizeof *b)
        return NULL;
    b = malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->used = 0;
    b->size = size;
    return b;
}

/* Padding needed so that data + used is a multiple of align. */
static size_t padding_for(const sk_arena_block *b, size_t align)
{
    uintptr_t addr = (uintptr_t)(b->data + b->used);
    return (align - (size_t)(addr % align)) % align;
}

void *sk_arena_alloc(sk_arena *a, size_t size, size_t align)
{
    sk_arena_block *b = a->head;
    size_t pad;
    void *p;

    if (align == 0 || (align & (align - 1)) != 0)
        return NULL;
    if (size == 0)
        size = 1;
    pad = b != NULL ? padding_for(b, align) : 0;
    if (b == NULL || b->size - b->used < pad ||
        b->size - b->used - pad < size) {
        size_t want = a->block_size;
        if (size > SIZE_MAX - align)
            return NULL;
        if (want < size + align)
            want = size + align;
        b = new_block(want);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        a->head = b;
        pad = padding_for(b, align);
    }
    p = b->data + b->used + pad;
    b->used += pad + size;
    a->total += size;
    return p;
}

char *sk_arena_strdup(sk_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sk_arena_alloc(a, n, 1);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

void sk_arena_reset(sk_arena *a)
{
    sk_arena_block *b = a->head;

    if (b == NULL)
        return;
    /* Keep the newest block for reuse and release the rest. */
    while (b->next != NULL) {
        sk_arena_block *victim = b->next;
        b->next = victim->next;
        free(victim);
    }
    b->used = 0;
    a->total = 0;
}

void sk_arena_free(sk_arena *a)
{
    while (a->head != NULL) {
        sk_arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    a->total = 0;
}
