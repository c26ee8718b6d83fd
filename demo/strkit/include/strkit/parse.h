/* strkit - small parsers: expressions, JSON validation, CSV and INI. */
#ifndef STRKIT_PARSE_H
#define STRKIT_PARSE_H

#include "strkit/common.h"

/* --- integer expression evaluator --- */
typedef struct sk_expr_var {
    const char *name;
    int64_t value;
} sk_expr_var;

typedef struct sk_expr_result {
    int64_t value;
    sk_status status;
    size_t error_pos; /* byte offset of the error, if any */
} sk_expr_result;

/* Supports + - * / % ** unary -, ~, ! comparisons, && || ?: & | ^ << >>,
 * parentheses, decimal/hex literals, variables and min/max/abs/gcd calls. */
sk_expr_result sk_expr_eval(const char *src, const sk_expr_var *vars,
                            size_t nvars);

/* --- JSON validation --- */
typedef struct sk_json_stats {
    size_t objects;
    size_t arrays;
    size_t strings;
    size_t numbers;
    size_t literals; /* true, false, null */
    size_t max_depth;
} sk_json_stats;

sk_status sk_json_validate(const char *s, size_t n, sk_json_stats *st,
                           size_t *error_pos);

/* --- CSV (RFC 4180 style, one record) ---
 * Field text is unquoted into buf; fields[] point into buf. */
sk_status sk_csv_parse_line(const char *line, char *buf, size_t cap,
                            sk_slice *fields, size_t max, size_t *count);

/* --- INI --- */
typedef bool (*sk_ini_handler)(const char *section, const char *key,
                               const char *value, void *ctx);
/* Returns SK_OK, or SK_ERR_INVALID with *error_line set (1-based). */
sk_status sk_ini_parse(const char *text, sk_ini_handler fn, void *ctx,
                       size_t *error_line);

#endif /* STRKIT_PARSE_H */
