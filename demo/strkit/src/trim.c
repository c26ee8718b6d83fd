/* strkit - whitespace trimming on slices. */
#include "strkit/common.h"
#include "strkit/str.h"

bool sk_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

sk_slice sk_trim_left(sk_slice s)
{
    while (s.len > 0 && sk_is_space((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    return s;
}

sk_slice sk_trim_right(sk_slice s)
{
    while (s.len > 0 && sk_is_space((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

sk_slice sk_trim(sk_slice s)
{
    return sk_trim_right(sk_trim_left(s));
}
