/* strkit - version string. */
#include "strkit/common.h"

#define SK_STR_(x) #x
#define SK_STR(x) SK_STR_(x)

const char *sk_version(void)
{
    return SK_STR(SK_VERSION_MAJOR) "." SK_STR(SK_VERSION_MINOR) "." SK_STR(
        SK_VERSION_PATCH);
}
