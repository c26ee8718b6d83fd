/* strkit - binary-to-text encodings and text transforms. */
#ifndef STRKIT_ENCODE_H
#define STRKIT_ENCODE_H

#include "strkit/common.h"

/* --- base64 (RFC 4648 standard alphabet, with padding) --- */
size_t sk_base64_encoded_len(size_t n);
/* Writes sk_base64_encoded_len(n) chars plus a NUL; returns the char count. */
size_t sk_base64_encode(const void *src, size_t n, char *dst);
/* Decodes padded or unpadded input; whitespace is rejected. */
sk_status sk_base64_decode(const char *src, size_t n, unsigned char *dst,
                           size_t cap, size_t *out_len);

/* --- base32 (RFC 4648 alphabet, with padding) --- */
size_t sk_base32_encoded_len(size_t n);
size_t sk_base32_encode(const void *src, size_t n, char *dst);
sk_status sk_base32_decode(const char *src, size_t n, unsigned char *dst,
                           size_t cap, size_t *out_len);

/* --- hexadecimal --- */
size_t sk_hex_encode(const void *src, size_t n, char *dst, bool upper);
sk_status sk_hex_decode(const char *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len);
int sk_hex_digit_value(int c); /* -1 if not a hex digit */

/* --- UTF-8 --- */
/* Decodes one code point; returns bytes consumed or 0 if invalid. */
size_t sk_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes one code point into out; returns length or 0 if not a scalar. */
size_t sk_utf8_encode(uint32_t cp, char out[4]);
bool sk_utf8_valid(const char *s, size_t n);
/* Number of code points, or SIZE_MAX if the input is not valid UTF-8. */
size_t sk_utf8_count(const char *s, size_t n);

/* --- run-length encoding: pairs of (count 1..255, byte) --- */
sk_status sk_rle_encode(const void *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len);
sk_status sk_rle_decode(const unsigned char *src, size_t n, unsigned char *dst,
                        size_t cap, size_t *out_len);

/* --- percent (URL) encoding, RFC 3986 unreserved set kept --- */
sk_status sk_url_encode(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len);
sk_status sk_url_decode(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len);

/* --- roman numerals (1..3999) --- */
sk_status sk_roman_from_int(int value, char *buf, size_t cap);
/* Returns the value, or 0 if s is not a canonical roman numeral. */
int sk_roman_to_int(const char *s);

/* --- C string escaping --- */
sk_status sk_c_escape(const char *src, size_t n, char *dst, size_t cap,
                      size_t *out_len);
sk_status sk_c_unescape(const char *src, size_t n, char *dst, size_t cap,
                        size_t *out_len);

/* --- Caesar / ROT13 (ASCII letters only, in place) --- */
void sk_caesar(char *s, int shift);
void sk_rot13(char *s);

#endif /* STRKIT_ENCODE_H */
