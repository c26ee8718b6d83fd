/* strkit - prefix and suffix tests. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <string.h>

bool sk_starts_with(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0;
}

bool sk_ends_with(const char *s, const char *suffix)
{
    size_t sl = strlen(s);
    size_t xl = strlen(suffix);
    return xl <= sl && memcmp(s + sl - xl, suffix, xl) == 0;
}
