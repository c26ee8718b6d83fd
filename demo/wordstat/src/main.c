/* wordstat: count the words of a text and print the most frequent ones. */
#include <stdio.h>
#include <stdlib.h>
#include "rank.h"
#include "readall.h"
#include "report.h"
#include "table.h"
#include "tokenize.h"
#include "xalloc.h"

static void count_word(const char *word, size_t len, void *ctx)
{
    table_add(ctx, word, len);
}

int main(int argc, char **argv)
{
    size_t top = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 10;
    size_t len;
    char *text = read_all(stdin, &len);
    struct table t;
    table_init(&t);
    size_t words = tokenize(text, len, count_word, &t);
    struct entry *entries = xcalloc(t.used + 1, sizeof *entries);
    size_t n = table_entries(&t, entries);
    rank(entries, n);
    report(stdout, entries, n, top, words);
    free(entries);
    table_free(&t);
    free(text);
    return 0;
}
