/* strkit - string manipulation helpers. */
#ifndef STRKIT_STR_H
#define STRKIT_STR_H

#include "strkit/common.h"

/* Whitespace here means ASCII space, \t, \n, \v, \f and \r. */
bool sk_is_space(int c);
sk_slice sk_trim(sk_slice s);
sk_slice sk_trim_left(sk_slice s);
sk_slice sk_trim_right(sk_slice s);

/* Splits on sep; stores at most max fields; returns the total field count. */
size_t sk_split(const char *s, char sep, sk_slice *out, size_t max);
/* Splits on any delimiter in delims, skipping empty tokens. */
size_t sk_tokenize(const char *s, const char *delims, sk_slice *out,
                   size_t max);
sk_status sk_join(const sk_slice *parts, size_t n, const char *sep, char *dst,
                  size_t cap, size_t *out_len);
/* Replaces every non-overlapping occurrence of from (non-empty) with to. */
sk_status sk_replace(const char *s, const char *from, const char *to,
                     char *dst, size_t cap, size_t *out_len);

void sk_to_upper(char *s);
void sk_to_lower(char *s);
void sk_to_title(char *s);
int sk_casecmp(const char *a, const char *b);

bool sk_starts_with(const char *s, const char *prefix);
bool sk_ends_with(const char *s, const char *suffix);

void sk_reverse(char *s, size_t n);
bool sk_is_palindrome(const char *s);

/* Byte offsets of needle in hay, or -1. */
ptrdiff_t sk_find(const char *hay, size_t hn, const char *needle, size_t nn);
ptrdiff_t sk_rfind(const char *hay, size_t hn, const char *needle, size_t nn);
size_t sk_count(const char *hay, size_t hn, const char *needle, size_t nn);
ptrdiff_t sk_kmp_find(const char *hay, size_t hn, const char *needle,
                      size_t nn);

size_t sk_levenshtein(const char *a, const char *b);
size_t sk_lcs_length(const char *a, const char *b);
bool sk_wildcard_match(const char *pattern, const char *text);

sk_status sk_wordwrap(const char *s, size_t width, char *dst, size_t cap,
                      size_t *out_len);
sk_status sk_pad_left(const char *s, size_t width, char fill, char *dst,
                      size_t cap);
sk_status sk_pad_right(const char *s, size_t width, char fill, char *dst,
                       size_t cap);
sk_status sk_center(const char *s, size_t width, char fill, char *dst,
                    size_t cap);

/* American soundex code, always four characters plus NUL. */
void sk_soundex(const char *name, char out[5]);

#endif /* STRKIT_STR_H */
