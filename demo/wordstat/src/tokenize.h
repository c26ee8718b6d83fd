#ifndef WORDSTAT_TOKENIZE_H
#define WORDSTAT_TOKENIZE_H
#include <stddef.h>
/* Calls fn for every word (a run of letters, digits or apostrophes), lowercased. */
typedef void (*word_fn)(const char *word, size_t len, void *ctx);
size_t tokenize(const char *text, size_t len, word_fn fn, void *ctx);
#endif
