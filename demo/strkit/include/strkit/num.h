/* strkit - integer parsing, formatting and arithmetic helpers. */
#ifndef STRKIT_NUM_H
#define STRKIT_NUM_H

#include "strkit/common.h"

/* Parses the whole of s[0..n) in the given base (2..36, or 0 to detect a
 * 0x / 0b / 0o prefix).  An optional leading sign is accepted. */
sk_status sk_parse_i64(const char *s, size_t n, int base, int64_t *out);
sk_status sk_parse_u64(const char *s, size_t n, int base, uint64_t *out);

/* Formats into buf (NUL-terminated); returns length, or 0 if cap is short. */
size_t sk_format_u64(uint64_t v, unsigned base, char *buf, size_t cap);
size_t sk_format_i64(int64_t v, unsigned base, char *buf, size_t cap);
size_t sk_format_grouped(int64_t v, char sep, char *buf, size_t cap);
size_t sk_humanize_bytes(uint64_t n, char *buf, size_t cap);

uint64_t sk_gcd(uint64_t a, uint64_t b);
uint64_t sk_lcm(uint64_t a, uint64_t b);
int64_t sk_egcd(int64_t a, int64_t b, int64_t *x, int64_t *y);
/* Inverse of a modulo m, or SK_ERR_INVALID if none exists. */
sk_status sk_modinv(int64_t a, int64_t m, int64_t *out);

uint64_t sk_mulmod(uint64_t a, uint64_t b, uint64_t m);
uint64_t sk_powmod(uint64_t base, uint64_t exp, uint64_t m);

uint32_t sk_isqrt(uint64_t n);
uint32_t sk_icbrt(uint64_t n);

bool sk_is_prime(uint64_t n);
size_t sk_sieve(uint32_t limit, uint32_t *out, size_t max);
size_t sk_factorize(uint64_t n, uint64_t *factors, size_t max);

unsigned sk_popcount32(uint32_t x);
unsigned sk_clz32(uint32_t x); /* 32 for zero */
unsigned sk_ctz32(uint32_t x); /* 32 for zero */
uint32_t sk_next_pow2(uint32_t x);
uint32_t sk_reverse_bits32(uint32_t x);
uint32_t sk_rotl32(uint32_t x, unsigned r);
bool sk_is_pow2(uint64_t x);
uint32_t sk_gray_encode(uint32_t x);
uint32_t sk_gray_decode(uint32_t g);

/* Proleptic Gregorian calendar; day 0 is 1970-01-01. */
bool sk_is_leap_year(int64_t y);
unsigned sk_days_in_month(int64_t y, unsigned m);
int64_t sk_days_from_civil(int64_t y, unsigned m, unsigned d);
void sk_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
unsigned sk_weekday(int64_t z); /* 0 = Sunday */
unsigned sk_day_of_year(int64_t y, unsigned m, unsigned d);
size_t sk_format_date(int64_t z, char *buf, size_t cap);
sk_status sk_parse_date(const char *s, int64_t *z);

/* Q16.16 fixed point. */
typedef int32_t sk_q16;
sk_q16 sk_q16_from_int(int32_t v);
sk_q16 sk_q16_mul(sk_q16 a, sk_q16 b);
sk_status sk_q16_div(sk_q16 a, sk_q16 b, sk_q16 *out);
size_t sk_q16_format(sk_q16 v, char *buf, size_t cap);

uint64_t sk_fib(unsigned n); /* exact for n <= 93 */
uint64_t sk_fib_mod(uint64_t n, uint64_t m);

bool sk_add_i64(int64_t a, int64_t b, int64_t *r); /* false on overflow */
bool sk_sub_i64(int64_t a, int64_t b, int64_t *r);
bool sk_mul_i64(int64_t a, int64_t b, int64_t *r);
bool sk_mul_u64(uint64_t a, uint64_t b, uint64_t *r);

unsigned sk_digit_sum(uint64_t n);
unsigned sk_digital_root(uint64_t n);
uint64_t sk_reverse_digits(uint64_t n);
bool sk_is_armstrong(uint64_t n);
uint64_t sk_collatz_steps(uint64_t n);

/* Arbitrary-precision non-negative decimal integers. */
typedef struct sk_bigint {
    uint32_t *limbs; /* base 10^9, least significant first */
    size_t len;
    size_t cap;
} sk_bigint;

void sk_bigint_init(sk_bigint *b);
void sk_bigint_free(sk_bigint *b);
sk_status sk_bigint_set_u64(sk_bigint *b, uint64_t v);
sk_status sk_bigint_parse(sk_bigint *b, const char *s);
sk_status sk_bigint_add(sk_bigint *r, const sk_bigint *a, const sk_bigint *b);
sk_status sk_bigint_mul(sk_bigint *r, const sk_bigint *a, const sk_bigint *b);
sk_status sk_bigint_mul_small(sk_bigint *b, uint32_t m);
/* r = a - b; SK_ERR_RANGE if b > a.  r may alias a or b. */
sk_status sk_bigint_sub(sk_bigint *r, const sk_bigint *a, const sk_bigint *b);
/* b /= d (d != 0); the remainder is stored in *rem if non-NULL. */
sk_status sk_bigint_divmod_small(sk_bigint *b, uint32_t d, uint32_t *rem);
sk_status sk_bigint_pow(sk_bigint *r, uint32_t base, unsigned exp);
int sk_bigint_cmp(const sk_bigint *a, const sk_bigint *b);
size_t sk_bigint_to_string(const sk_bigint *b, char *buf, size_t cap);
sk_status sk_bigint_factorial(sk_bigint *r, unsigned n);

#endif /* STRKIT_NUM_H */
