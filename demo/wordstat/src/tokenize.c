#include <ctype.h>
#include "tokenize.h"

#define MAX_WORD 128

size_t tokenize(const char *text, size_t len, word_fn fn, void *ctx)
{
    char word[MAX_WORD];
    size_t n = 0, words = 0;
    for (size_t i = 0; i <= len; i++) {
        int c = i < len ? (unsigned char)text[i] : ' ';
        if (isalnum(c) || (c == '\'' && n > 0)) {
            if (n < MAX_WORD)
                word[n++] = (char)tolower(c);
        } else if (n > 0) {
            while (n > 0 && word[n - 1] == '\'')
                n--;
            if (n > 0) {
                fn(word, n, ctx);
                words++;
            }
            n = 0;
        }
    }
    return words;
}
