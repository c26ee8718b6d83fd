/* strkit - slice helpers. */
#include "strkit/common.h"

#include <string.h>

sk_slice sk_slice_cstr(const char *s)
{
    sk_slice r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

sk_slice sk_slice_make(const char *p, size_t n)
{
    sk_slice r;
    r.ptr = p;
    r.len = n;
    return r;
}

bool sk_slice_eq_cstr(sk_slice s, const char *c)
{
    size_t n = strlen(c);
    if (n != s.len)
        return false;
    return n == 0 || memcmp(s.ptr, c, n) == 0;
}

int sk_slice_cmp(sk_slice a, sk_slice b)
{
    size_t n = SK_MIN(a.len, b.len);
    if (n > 0) {
        int c = memcmp(a.ptr, b.ptr, n);
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
    if (a.len == b.len)
        return 0;
    return a.len < b.len ? -1 : 1;
}

sk_status sk_slice_copy(sk_slice s, char *buf, size_t cap)
{
    if (cap == 0 || s.len > cap - 1)
        return SK_ERR_SPACE;
    if (s.len > 0)
        memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    return SK_OK;
}
