/* strkit - checksums and non-cryptographic hash functions. */
#ifndef STRKIT_HASH_H
#define STRKIT_HASH_H

#include "strkit/common.h"

uint32_t sk_crc32(const void *data, size_t n);
uint32_t sk_crc32_update(uint32_t crc, const void *data, size_t n);
uint32_t sk_crc32c(const void *data, size_t n);
uint32_t sk_adler32(const void *data, size_t n);
uint16_t sk_fletcher16(const void *data, size_t n);
uint32_t sk_fnv1a32(const void *data, size_t n);
uint64_t sk_fnv1a64(const void *data, size_t n);
uint32_t sk_djb2(const char *s);
uint32_t sk_sdbm(const char *s);
uint32_t sk_mix32(uint32_t x);
uint64_t sk_mix64(uint64_t x);
uint64_t sk_hash_combine(uint64_t seed, uint64_t value);
bool sk_luhn_valid(const char *digits);
/* Check digit (0..9) to append to digits, or -1 if digits is malformed. */
int sk_luhn_check_digit(const char *digits);

#endif /* STRKIT_HASH_H */
