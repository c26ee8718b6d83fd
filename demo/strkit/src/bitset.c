/* strkit - dense bit set. */
#include "strkit/common.h"
#include "strkit/mem.h"
#include "strkit/num.h"

#include <stdlib.h>

#define WORD_BITS 64u

static size_t word_count(size_t nbits)
{
    return (nbits + WORD_BITS - 1) / WORD_BITS;
}

sk_status sk_bitset_init(sk_bitset *b, size_t nbits)
{
    size_t words = word_count(nbits);

    b->words = words ? calloc(words, sizeof *b->words) : NULL;
    if (words != 0 && b->words == NULL)
        return SK_ERR_NOMEM;
    b->nbits = nbits;
    return SK_OK;
}

void sk_bitset_free(sk_bitset *b)
{
    free(b->words);
    b->words = NULL;
    b->nbits = 0;
}

void sk_bitset_set(sk_bitset *b, size_t i)
{
    if (i < b->nbits)
        b->words[i / WORD_BITS] |= UINT64_C(1) << (i % WORD_BITS);
}

void sk_bitset_clear(sk_bitset *b, size_t i)
{
    if (i < b->nbits)
        b->words[i / WORD_BITS] &= ~(UINT64_C(1) << (i % WORD_BITS));
}

bool sk_bitset_test(const sk_bitset *b, size_t i)
{
    if (i >= b->nbits)
        return false;
    return (b->words[i / WORD_BITS] >> (i % WORD_BITS)) & 1u;
}

static unsigned popcount64(uint64_t w)
{
    return sk_popcount32((uint32_t)w) + sk_popcount32((uint32_t)(w >> 32));
}

static unsigned ctz64(uint64_t w)
{
    uint32_t lo = (uint32_t)w;
    return lo != 0 ? sk_ctz32(lo) : 32 + sk_ctz32((uint32_t)(w >> 32));
}

size_t sk_bitset_count(const sk_bitset *b)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < word_count(b->nbits); i++)
        n += popcount64(b->words[i]);
    return n;
}

size_t sk_bitset_next(const sk_bitset *b, size_t from)
{
    size_t w;
    uint64_t bits;

    if (from >= b->nbits)
        return b->nbits;
    w = from / WORD_BITS;
    bits = b->words[w] & (~UINT64_C(0) << (from % WORD_BITS));
    for (;;) {
        if (bits != 0) {
            size_t idx = w * WORD_BITS + ctz64(bits);
            return idx < b->nbits ? idx : b->nbits;
        }
        if (++w >= word_count(b->nbits))
            return b->nbits;
        bits = b->words[w];
    }
}
