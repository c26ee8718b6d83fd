/* strkit - byte trie using first-child / next-sibling links.
 *
 * Siblings are kept sorted by byte value so lookups can stop early.  All
 * nodes live in the trie's arena and are released together. */
#include "strkit/common.h"
#include "strkit/mem.h"

struct sk_trie_node {
    sk_trie_node *child;
    sk_trie_node *sibling;
    size_t below;   /* number of words ending at or under this node */
    unsigned char byte;
    bool terminal;
};

static sk_trie_node *new_node(sk_arena *a, unsigned char byte)
{
    sk_trie_node *n = sk_arena_alloc(a, sizeof *n, _Alignof(sk_trie_node));

    if (n != NULL) {
        n->child = NULL;
        n->sibling = NULL;
        n->below = 0;
        n->byte = byte;
        n->terminal = false;
    }
    return n;
}

sk_status sk_trie_init(sk_trie *t)
{
    sk_arena_init(&t->arena, 4096);
    t->words = 0;
    t->root = new_node(&t->arena, 0);
    return t->root != NULL ? SK_OK : SK_ERR_NOMEM;
}

void sk_trie_free(sk_trie *t)
{
    sk_arena_free(&t->arena);
    t->root = NULL;
    t->words = 0;
}

static sk_trie_node *find_child(const sk_trie_node *n, unsigned char b)
{
    sk_trie_node *c;

    for (c = n->child; c != NULL && c->byte <= b; c = c->sibling) {
        if (c->byte == b)
            return c;
    }
    return NULL;
}

static const sk_trie_node *walk(const sk_trie *t, const char *s)
{
    const sk_trie_node *n = t->root;

    for (; *s && n != NULL; s++)
        n = find_child(n, (unsigned char)*s);
    return n;
}

/* Child for byte b, created in sorted position if missing. */
static sk_trie_node *child_for(sk_arena *a, sk_trie_node *n, unsigned char b)
{
    sk_trie_node **link = &n->child;
    sk_trie_node *fresh;

    while (*link != NULL && (*link)->byte < b)
        link = &(*link)->sibling;
    if (*link != NULL && (*link)->byte == b)
        return *link;
    fresh = new_node(a, b);
    if (fresh == NULL)
        return NULL;
    fresh->sibling = *link;
    *link = fresh;
    return fresh;
}

sk_status sk_trie_insert(sk_trie *t, const char *word)
{
    sk_trie_node *n = t->root;
    const char *s;

    if (sk_trie_contains(t, word))
        return SK_OK;
    /* Create the path first so that a failed allocation leaves the
     * counters untouched. */
    for (s = word; *s; s++) {
        n = child_for(&t->arena, n, (unsigned char)*s);
        if (n == NULL)
            return SK_ERR_NOMEM;
    }
    n->terminal = true;
    n = t->root;
    n->below++;
    for (s = word; *s; s++) {
        n = find_child(n, (unsigned char)*s);
        n->below++;
    }
    t->words++;
    return SK_OK;
}

bool sk_trie_contains(const sk_trie *t, const char *word)
{
    const sk_trie_node *n = walk(t, word);
    return n != NULL && n->terminal;
}

size_t sk_trie_count_prefix(const sk_trie *t, const char *prefix)
{
    const sk_trie_node *n = walk(t, prefix);
    return n != NULL ? n->below : 0;
}

size_t sk_trie_longest_prefix(const sk_trie *t, const char *s)
{
    const sk_trie_node *n = t->root;
    size_t best = 0;
    size_t depth = 0;

    while (s[depth] != '\0') {
        n = find_child(n, (unsigned char)s[depth]);
        if (n == NULL)
            break;
        depth++;
        if (n->terminal)
            best = depth;
    }
    return best;
}
