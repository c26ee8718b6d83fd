/* strkit - single-record CSV parser (RFC 4180 quoting rules). */
#include "strkit/common.h"
#include "strkit/parse.h"

sk_status sk_csv_parse_line(const char *line, char *buf, size_t cap,
                            sk_slice *fields, size_t max, size_t *count)
{
    size_t o = 0;
    size_t nf = 0;
    const char *p = line;

    for (;;) {
        size_t start = o;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return SK_ERR_INVALID; /* unterminated quote */
                if (*p == '"') {
                    if (p[1] == '"') {
                        p++; /* doubled quote is a literal quote */
                    } else {
                        p++;
                        break;
                    }
                }
                if (o >= cap)
                    return SK_ERR_SPACE;
                buf[o++] = *p++;
            }
            if (*p != ',' && *p != '\0' && *p != '\n' && *p != '\r')
                return SK_ERR_INVALID; /* text after closing quote */
        } else {
            while (*p != ',' && *p != '\0' && *p != '\n' && *p != '\r') {
                if (*p == '"')
                    return SK_ERR_INVALID; /* stray quote in bare field */
                if (o >= cap)
                    return SK_ERR_SPACE;
                buf[o++] = *p++;
            }
        }
        if (nf >= max)
            return SK_ERR_SPACE;
        fields[nf++] = sk_slice_make(buf + start, o - start);
        if (*p != ',')
            break;
        p++;
    }
    if (*p == '\r')
        p++;
    if (*p == '\n')
        p++;
    if (*p != '\0')
        return SK_ERR_INVALID;
    *count = nf;
    return SK_OK;
}
