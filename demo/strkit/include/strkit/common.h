/*
 * strkit - a small string/number/container toolkit.
 *
 * Common definitions shared by every strkit module.  This file is part of
 * the ccfarm project's demo workloads and is licensed MIT OR Apache-2.0.
 */
#ifndef STRKIT_COMMON_H
#define STRKIT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_VERSION_MAJOR 1
#define SK_VERSION_MINOR 4
#define SK_VERSION_PATCH 0

#define SK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SK_UNUSED(x) ((void)(x))

/* Result codes returned by fallible strkit functions. */
typedef enum sk_status {
    SK_OK = 0,
    SK_ERR_INVALID = -1, /* malformed input */
    SK_ERR_RANGE = -2,   /* value does not fit */
    SK_ERR_NOMEM = -3,   /* allocation failed */
    SK_ERR_SPACE = -4,   /* caller-supplied buffer too small */
    SK_ERR_NOTFOUND = -5 /* lookup miss */
} sk_status;

/* A non-owning view of a run of bytes. */
typedef struct sk_slice {
    const char *ptr;
    size_t len;
} sk_slice;

/* Build a slice from a NUL-terminated string. */
sk_slice sk_slice_cstr(const char *s);
/* Build a slice from pointer and length. */
sk_slice sk_slice_make(const char *p, size_t n);
/* Compare a slice with a NUL-terminated string for equality. */
bool sk_slice_eq_cstr(sk_slice s, const char *c);
/* Compare two slices byte-wise (memcmp order, shorter first on tie). */
int sk_slice_cmp(sk_slice a, sk_slice b);
/* Copy a slice into buf as a C string; fails with SK_ERR_SPACE if too long. */
sk_status sk_slice_copy(sk_slice s, char *buf, size_t cap);

/* Human-readable name of a status code. */
const char *sk_status_str(sk_status st);
/* Library version as "major.minor.patch". */
const char *sk_version(void);

#endif /* STRKIT_COMMON_H */
