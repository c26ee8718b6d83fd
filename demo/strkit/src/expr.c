/* strkit - integer expression evaluator.
 *
 * A hand-written recursive-descent parser that evaluates while it parses.
 * Grammar, lowest precedence first:
 *
 *   expr     := ternary
 *   ternary  := lor ( '?' expr ':' ternary )?
 *   lor      := land ( '||' land )*
 *   land     := bor ( '&&' bor )*
 *   bor      := bxor ( '|' bxor )*
 *   bxor     := band ( '^' band )*
 *   band     := equal ( '&' equal )*
 *   equal    := rel ( ('==' | '!=') rel )*
 *   rel      := shift ( ('<' | '<=' | '>' | '>=') shift )*
 *   shift    := add ( ('<<' | '>>') add )*
 *   add      := mul ( ('+' | '-') mul )*
 *   mul      := unary ( ('*' | '/' | '%') unary )*
 *   unary    := ('-' | '+' | '~' | '!') unary | power
 *   power    := primary ( '**' unary )?
 *   primary  := number | name | name '(' args ')' | '(' expr ')'
 *
 * Sub-expressions that are skipped by && || and ?: are still parsed, but
 * in "dead" mode where arithmetic errors such as division by zero are
 * ignored, matching C's short-circuit semantics.  All arithmetic is
 * overflow-checked. */
#include "strkit/common.h"
#include "strkit/num.h"
#include "strkit/parse.h"
#include "strkit/str.h"

#include <string.h>

#define EXPR_MAX_DEPTH 64
#define EXPR_MAX_ARGS 8

typedef struct parser {
    const char *src;
    size_t pos;
    const sk_expr_var *vars;
    size_t nvars;
    sk_status status;
    size_t error_pos;
    unsigned depth;
    bool live; /* false while evaluating a short-circuited branch */
} parser;

static int64_t parse_expr(parser *p);
static int64_t parse_unary(parser *p);

static void fail(parser *p, sk_status st)
{
    if (p->status == SK_OK) {
        p->status = st;
        p->error_pos = p->pos;
    }
}

/* Arithmetic failures only count in live code. */
static void arith_fail(parser *p, sk_status st)
{
    if (p->live)
        fail(p, st);
}

static void skip_space(parser *p)
{
    while (sk_is_space((unsigned char)p->src[p->pos]))
        p->pos++;
}

static bool peek_op(parser *p, const char *op)
{
    size_t n = strlen(op);
    skip_space(p);
    return strncmp(p->src + p->pos, op, n) == 0;
}

/* Consumes op if present, taking care that e.g. '<' does not match '<<'
 * and '*' does not match '**'. */
static bool accept(parser *p, const char *op)
{
    size_t n = strlen(op);
    char next;

    if (p->status != SK_OK || !peek_op(p, op))
        return false;
    next = p->src[p->pos + n];
    if (n == 1 && (op[0] == '<' || op[0] == '>') && (next == op[0] || next == '='))
        return false;
    if (n == 1 && (op[0] == '*' || op[0] == '&' || op[0] == '|') && next == op[0])
        return false;
    if (n == 1 && (op[0] == '!' || op[0] == '=') && next == '=')
        return false;
    p->pos += n;
    return true;
}

static void expect(parser *p, const char *op)
{
    if (!accept(p, op))
        fail(p, SK_ERR_INVALID);
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int64_t parse_number(parser *p)
{
    size_t start = p->pos;
    size_t end = start;
    int64_t v = 0;
    sk_status st;

    while (is_ident_char(p->src[end]))
        end++;
    st = sk_parse_i64(p->src + start, end - start, 0, &v);
    if (st != SK_OK) {
        fail(p, st);
        return 0;
    }
    p->pos = end;
    return v;
}

static int64_t abs_checked(parser *p, int64_t v)
{
    if (v == INT64_MIN) {
        arith_fail(p, SK_ERR_RANGE);
        return 0;
    }
    return v < 0 ? -v : v;
}

static int64_t call_function(parser *p, const char *name, size_t len,
                             const int64_t *args, size_t nargs)
{
    size_t i;

#define NAME_IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (NAME_IS("abs") && nargs == 1)
        return abs_checked(p, args[0]);
    if ((NAME_IS("min") || NAME_IS("max")) && nargs >= 1) {
        int64_t best = args[0];
        bool want_min = name[1] == 'i';
        for (i = 1; i < nargs; i++) {
            if (want_min ? args[i] < best : args[i] > best)
                best = args[i];
        }
        return best;
    }
    if (NAME_IS("gcd") && nargs == 2) {
        uint64_t a = args[0] < 0 ? 0u - (uint64_t)args[0] : (uint64_t)args[0];
        uint64_t b = args[1] < 0 ? 0u - (uint64_t)args[1] : (uint64_t)args[1];
        uint64_t g = sk_gcd(a, b);
        if (g > (uint64_t)INT64_MAX) {
            arith_fail(p, SK_ERR_RANGE);
            return 0;
        }
        return (int64_t)g;
    }
    if (NAME_IS("clamp") && nargs == 3) {
        if (args[1] > args[2]) {
            arith_fail(p, SK_ERR_INVALID);
            return 0;
        }
        return args[0] < args[1] ? args[1] : args[0] > args[2] ? args[2] : args[0];
    }
#undef NAME_IS
    fail(p, SK_ERR_NOTFOUND);
    return 0;
}

static int64_t parse_name(parser *p)
{
    size_t start = p->pos;
    size_t len;
    size_t i;

    while (is_ident_char(p->src[p->pos]))
        p->pos++;
    len = p->pos - start;
    if (accept(p, "(")) {
        int64_t args[EXPR_MAX_ARGS];
        size_t nargs = 0;
        if (!accept(p, ")")) {
            do {
                int64_t v = parse_expr(p);
                if (nargs == EXPR_MAX_ARGS) {
                    fail(p, SK_ERR_RANGE);
                    return 0;
                }
                args[nargs++] = v;
            } while (accept(p, ","));
            expect(p, ")");
        }
        if (p->status != SK_OK)
            return 0;
        return call_function(p, p->src + start, len, args, nargs);
    }
    for (i = 0; i < p->nvars; i++) {
        const char *name = p->vars[i].name;
        if (strlen(name) == len && memcmp(name, p->src + start, len) == 0)
            return p->vars[i].value;
    }
    p->pos = start;
    fail(p, SK_ERR_NOTFOUND);
    return 0;
}

static int64_t parse_primary(parser *p)
{
    char c;

    skip_space(p);
    c = p->src[p->pos];
    if (c >= '0' && c <= '9')
        return parse_number(p);
    if (is_ident_start(c))
        return parse_name(p);
    if (accept(p, "(")) {
        int64_t v = parse_expr(p);
        expect(p, ")");
        return v;
    }
    fail(p, SK_ERR_INVALID);
    return 0;
}

static int64_t power(parser *p, int64_t base, int64_t exp)
{
    int64_t result = 1;

    if (exp < 0) {
        arith_fail(p, SK_ERR_RANGE);
        return 0;
    }
    while (exp > 0) {
        if (exp & 1) {
            if (!sk_mul_i64(result, base, &result)) {
                arith_fail(p, SK_ERR_RANGE);
                return 0;
            }
        }
        exp >>= 1;
        if (exp > 0 && !sk_mul_i64(base, base, &base)) {
            arith_fail(p, SK_ERR_RANGE);
            return 0;
        }
    }
    return result;
}

static int64_t parse_power(parser *p)
{
    int64_t base = parse_primary(p);

    if (accept(p, "**")) {
        int64_t exp = parse_unary(p); /* right associative */
        return power(p, base, exp);
    }
    return base;
}

static int64_t parse_unary(parser *p)
{
    int64_t v;

    if (++p->depth > EXPR_MAX_DEPTH) {
        fail(p, SK_ERR_RANGE);
        return 0;
    }
    if (accept(p, "-")) {
        v = parse_unary(p);
        if (v == INT64_MIN) {
            arith_fail(p, SK_ERR_RANGE);
            v = 0;
        } else {
            v = -v;
        }
    } else if (accept(p, "+")) {
        v = parse_unary(p);
    } else if (accept(p, "~")) {
        v = ~parse_unary(p);
    } else if (accept(p, "!")) {
        v = !parse_unary(p);
    } else {
        v = parse_power(p);
    }
    p->depth--;
    return v;
}

static int64_t parse_mul(parser *p)
{
    int64_t v = parse_unary(p);

    for (;;) {
        if (accept(p, "*")) {
            int64_t r = parse_unary(p);
            if (!sk_mul_i64(v, r, &v)) {
                arith_fail(p, SK_ERR_RANGE);
                v = 0;
            }
        } else if (p->status == SK_OK &&
                   (peek_op(p, "/") || peek_op(p, "%"))) {
            bool is_mod = p->src[p->pos] == '%';
            int64_t r;
            p->pos++;
            r = parse_unary(p);
            if (r == 0) {
                arith_fail(p, SK_ERR_RANGE);
                v = 0;
            } else if (v == INT64_MIN && r == -1) {
                if (is_mod) {
                    v = 0;
                } else {
                    arith_fail(p, SK_ERR_RANGE);
                    v = 0;
                }
            } else {
                v = is_mod ? v % r : v / r;
            }
        } else {
            return v;
        }
    }
}

static int64_t parse_add(parser *p)
{
    int64_t v = parse_mul(p);

    for (;;) {
        bool ok;
        if (accept(p, "+"))
            ok = sk_add_i64(v, parse_mul(p), &v);
        else if (accept(p, "-"))
            ok = sk_sub_i64(v, parse_mul(p), &v);
        else
            return v;
        if (!ok) {
            arith_fail(p, SK_ERR_RANGE);
            v = 0;
        }
    }
}

static int64_t parse_shift(parser *p)
{
    int64_t v = parse_add(p);

    for (;;) {
        bool left;
        int64_t n;
        int64_t scale;
        if (accept(p, "<<"))
            left = true;
        else if (accept(p, ">>"))
            left = false;
        else
            return v;
        n = parse_add(p);
        if (n < 0 || n > 62) {
            arith_fail(p, SK_ERR_RANGE);
            v = 0;
            continue;
        }
        scale = (int64_t)1 << n;
        if (left) {
            if (!sk_mul_i64(v, scale, &v)) {
                arith_fail(p, SK_ERR_RANGE);
                v = 0;
            }
        } else {
            /* Arithmetic shift = floor division by 2^n. */
            int64_t q = v / scale;
            if (v % scale != 0 && v < 0)
                q--;
            v = q;
        }
    }
}

static int64_t parse_rel(parser *p)
{
    int64_t v = parse_shift(p);

    for (;;) {
        if (accept(p, "<="))
            v = v <= parse_shift(p);
        else if (accept(p, ">="))
            v = v >= parse_shift(p);
        else if (accept(p, "<"))
            v = v < parse_shift(p);
        else if (accept(p, ">"))
            v = v > parse_shift(p);
        else
            return v;
    }
}

static int64_t parse_equal(parser *p)
{
    int64_t v = parse_rel(p);

    for (;;) {
        if (accept(p, "=="))
            v = v == parse_rel(p);
        else if (accept(p, "!="))
            v = v != parse_rel(p);
        else
            return v;
    }
}

static int64_t parse_band(parser *p)
{
    int64_t v = parse_equal(p);
    while (accept(p, "&"))
        v &= parse_equal(p);
    return v;
}

static int64_t parse_bxor(parser *p)
{
    int64_t v = parse_band(p);
    while (accept(p, "^"))
        v ^= parse_band(p);
    return v;
}

static int64_t parse_bor(parser *p)
{
    int64_t v = parse_bxor(p);
    while (accept(p, "|"))
        v |= parse_bxor(p);
    return v;
}

static int64_t parse_land(parser *p)
{
    int64_t v = parse_bor(p);

    while (accept(p, "&&")) {
        bool saved = p->live;
        int64_t r;
        if (!v)
            p->live = false;
        r = parse_bor(p);
        p->live = saved;
        v = v && r;
    }
    return v;
}

static int64_t parse_lor(parser *p)
{
    int64_t v = parse_land(p);

    while (accept(p, "||")) {
        bool saved = p->live;
        int64_t r;
        if (v)
            p->live = false;
        r = parse_land(p);
        p->live = saved;
        v = v || r;
    }
    return v;
}

static int64_t parse_ternary(parser *p)
{
    int64_t cond = parse_lor(p);
    bool saved;
    int64_t a;
    int64_t b;

    if (!accept(p, "?"))
        return cond;
    saved = p->live;
    p->live = saved && cond;
    a = parse_expr(p);
    p->live = saved;
    expect(p, ":");
    p->live = saved && !cond;
    b = parse_ternary(p);
    p->live = saved;
    return cond ? a : b;
}

static int64_t parse_expr(parser *p)
{
    int64_t v;

    if (++p->depth > EXPR_MAX_DEPTH) {
        fail(p, SK_ERR_RANGE);
        return 0;
    }
    v = parse_ternary(p);
    p->depth--;
    return v;
}

sk_expr_result sk_expr_eval(const char *src, const sk_expr_var *vars,
                            size_t nvars)
{
    parser p;
    sk_expr_result r;

    p.src = src;
    p.pos = 0;
    p.vars = vars;
    p.nvars = nvars;
    p.status = SK_OK;
    p.error_pos = 0;
    p.depth = 0;
    p.live = true;

    r.value = parse_expr(&p);
    skip_space(&p);
    if (p.status == SK_OK && p.src[p.pos] != '\0')
        fail(&p, SK_ERR_INVALID);
    r.status = p.status;
    r.error_pos = p.status == SK_OK ? 0 : p.error_pos;
    if (r.status != SK_OK)
        r.value = 0;
    return r;
}
