#ifndef WORDSTAT_HASH_H
#define WORDSTAT_HASH_H
#include <stddef.h>
#include <stdint.h>
/* FNV-1a, 64 bit. */
uint64_t hash_bytes(const char *p, size_t len);
#endif
