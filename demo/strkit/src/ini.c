/* strkit - minimal INI parser with [sections], key = value and comments.
 *
 * Lines are copied into a bounded local buffer, trimmed, and reported to
 * a callback.  Values may be wrapped in double quotes to keep leading or
 * trailing spaces; ';' and '#' start comments at the beginning of a line. */
#include "strkit/common.h"
#include "strkit/parse.h"
#include "strkit/str.h"

#include <string.h>

#define INI_MAX_LINE 256
#define INI_MAX_SECTION 64

static sk_status copy_trimmed(sk_slice s, char *dst, size_t cap)
{
    return sk_slice_copy(sk_trim(s), dst, cap);
}

sk_status sk_ini_parse(const char *text, sk_ini_handler fn, void *ctx,
                       size_t *error_line)
{
    char section[INI_MAX_SECTION] = "";
    size_t lineno = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        sk_slice line = sk_trim(sk_slice_make(p, len));
        lineno++;
        p += len;
        if (*p == '\n')
            p++;

        if (line.len == 0 || line.ptr[0] == ';' || line.ptr[0] == '#')
            continue;
        if (line.ptr[0] == '[') {
            if (line.ptr[line.len - 1] != ']' || line.len < 3 ||
                copy_trimmed(sk_slice_make(line.ptr + 1, line.len - 2),
                             section, sizeof section) != SK_OK ||
                section[0] == '\0')
                goto bad;
            continue;
        } else {
            const char *eq = memchr(line.ptr, '=', line.len);
            char key[INI_MAX_LINE];
            char value[INI_MAX_LINE];
            size_t vlen;
            if (eq == NULL)
                goto bad;
            if (copy_trimmed(sk_slice_make(line.ptr, (size_t)(eq - line.ptr)),
                             key, sizeof key) != SK_OK ||
                key[0] == '\0')
                goto bad;
            if (copy_trimmed(sk_slice_make(eq + 1, line.len -
                                                       (size_t)(eq + 1 - line.ptr)),
                             value, sizeof value) != SK_OK)
                goto bad;
            vlen = strlen(value);
            if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
                memmove(value, value + 1, vlen - 2);
                value[vlen - 2] = '\0';
            }
            if (!fn(section, key, value, ctx))
                return SK_OK; /* handler asked to stop */
        }
    }
    return SK_OK;
bad:
    if (error_line != NULL)
        *error_line = lineno;
    return SK_ERR_INVALID;
}
