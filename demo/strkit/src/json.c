/* strkit - strict JSON (RFC 8259) validator.
 *
 * Validates one JSON text and gathers simple statistics.  Nesting uses an
 * explicit stack of container kinds rather than recursion, so deeply
 * nested input cannot exhaust the C stack. */
#include "strkit/common.h"
#include "strkit/encode.h"
#include "strkit/parse.h"

#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct json_state {
    const char *s;
    size_t n;
    size_t pos;
    sk_json_stats *st;
} json_state;

static void skip_ws(json_state *j)
{
    while (j->pos < j->n) {
        char c = j->s[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

static bool at(const json_state *j, char c)
{
    return j->pos < j->n && j->s[j->pos] == c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static sk_status scan_literal(json_state *j)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t i;

    for (i = 0; i < SK_ARRAY_LEN(words); i++) {
        size_t len = strlen(words[i]);
        if (j->n - j->pos >= len &&
            memcmp(j->s + j->pos, words[i], len) == 0) {
            j->pos += len;
            j->st->literals++;
            return SK_OK;
        }
    }
    return SK_ERR_INVALID;
}

static size_t scan_digits(json_state *j)
{
    size_t start = j->pos;
    while (j->pos < j->n && is_digit(j->s[j->pos]))
        j->pos++;
    return j->pos - start;
}

static sk_status scan_number(json_state *j)
{
    if (at(j, '-'))
        j->pos++;
    if (at(j, '0')) {
        j->pos++; /* no leading zeros allowed */
    } else if (scan_digits(j) == 0) {
        return SK_ERR_INVALID;
    }
    if (at(j, '.')) {
        j->pos++;
        if (scan_digits(j) == 0)
            return SK_ERR_INVALID;
    }
    if (at(j, 'e') || at(j, 'E')) {
        j->pos++;
        if (at(j, '+') || at(j, '-'))
            j->pos++;
        if (scan_digits(j) == 0)
            return SK_ERR_INVALID;
    }
    j->st->numbers++;
    return SK_OK;
}

static int hex4(const json_state *j, size_t at_pos)
{
    int v = 0;
    size_t i;

    if (j->n - at_pos < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int d = sk_hex_digit_value((unsigned char)j->s[at_pos + i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static sk_status scan_string(json_state *j)
{
    j->pos++; /* opening quote */
    while (j->pos < j->n) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c == '"') {
            j->pos++;
            j->st->strings++;
            return SK_OK;
        }
        if (c < 0x20)
            return SK_ERR_INVALID; /* raw control characters */
        if (c == '\\') {
            char e;
            if (j->pos + 1 >= j->n)
                return SK_ERR_INVALID;
            e = j->s[j->pos + 1];
            if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                j->pos += 2;
            } else if (e == 'u') {
                int u = hex4(j, j->pos + 2);
                if (u < 0)
                    return SK_ERR_INVALID;
                j->pos += 6;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    /* A high surrogate must be followed by a low one. */
                    int lo;
                    if (j->n - j->pos < 2 || j->s[j->pos] != '\\' ||
                        j->s[j->pos + 1] != 'u')
                        return SK_ERR_INVALID;
                    lo = hex4(j, j->pos + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return SK_ERR_INVALID;
                    j->pos += 6;
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    return SK_ERR_INVALID;
                }
            } else {
                return SK_ERR_INVALID;
            }
            continue;
        }
        if (c < 0x80) {
            j->pos++;
        } else {
            uint32_t cp;
            size_t used = sk_utf8_decode(j->s + j->pos, j->n - j->pos, &cp);
            if (used == 0)
                return SK_ERR_INVALID;
            j->pos += used;
        }
    }
    return SK_ERR_INVALID; /* unterminated */
}

static sk_status scan_scalar(json_state *j)
{
    char c;

    if (j->pos >= j->n)
        return SK_ERR_INVALID;
    c = j->s[j->pos];
    if (c == '"')
        return scan_string(j);
    if (c == '-' || is_digit(c))
        return scan_number(j);
    return scan_literal(j);
}

sk_status sk_json_validate(const char *s, size_t n, sk_json_stats *st,
                           size_t *error_pos)
{
    char stack[JSON_MAX_DEPTH]; /* '{' or '[' per open container */
    size_t depth = 0;
    json_state j;
    sk_status rc = SK_OK;

    memset(st, 0, sizeof *st);
    j.s = s;
    j.n = n;
    j.pos = 0;
    j.st = st;

    /* Each iteration parses one value, then any closers and a separator. */
    for (;;) {
        skip_ws(&j);
        if (at(&j, '{') || at(&j, '[')) {
            char open = j.s[j.pos];
            if (depth == JSON_MAX_DEPTH) {
                rc = SK_ERR_RANGE;
                break;
            }
            stack[depth++] = open;
            if (depth > st->max_depth)
                st->max_depth = depth;
            if (open == '{')
                st->objects++;
            else
                st->arrays++;
            j.pos++;
            skip_ws(&j);
            if (at(&j, open == '{' ? '}' : ']')) {
                /* Empty container: fall through to the closer handling. */
            } else {
                if (open == '{') {
                    if (!at(&j, '"')) {
                        rc = SK_ERR_INVALID;
                        break;
                    }
                    rc = scan_string(&j);
                    if (rc != SK_OK)
                        break;
                    st->strings--; /* keys are not counted as values */
                    skip_ws(&j);
                    if (!at(&j, ':')) {
                        rc = SK_ERR_INVALID;
                        break;
                    }
                    j.pos++;
                }
                continue; /* parse the first element */
            }
        } else {
            rc = scan_scalar(&j);
            if (rc != SK_OK)
                break;
        }

        /* After a value: close containers and look for the next element. */
        for (;;) {
            skip_ws(&j);
            if (depth == 0)
                goto done;
            if (at(&j, stack[depth - 1] == '{' ? '}' : ']')) {
                j.pos++;
                depth--;
                continue;
            }
            if (!at(&j, ',')) {
                rc = SK_ERR_INVALID;
                goto done;
            }
            j.pos++;
            if (stack[depth - 1] == '{') {
                skip_ws(&j);
                if (!at(&j, '"')) {
                    rc = SK_ERR_INVALID;
                    goto done;
                }
                rc = scan_string(&j);
                if (rc != SK_OK)
                    goto done;
                st->strings--;
                skip_ws(&j);
                if (!at(&j, ':')) {
                    rc = SK_ERR_INVALID;
                    goto done;
                }
                j.pos++;
            }
            break;
        }
    }
done:
    if (rc == SK_OK) {
        skip_ws(&j);
        if (j.pos != j.n)
            rc = SK_ERR_INVALID; /* trailing garbage */
    }
    if (error_pos != NULL)
        *error_pos = rc == SK_OK ? 0 : j.pos;
    return rc;
}
