/* strkit - status code names. */
#include "strkit/common.h"

const char *sk_status_str(sk_status st)
{
    switch (st) {
    case SK_OK:
        return "ok";
    case SK_ERR_INVALID:
        return "invalid input";
    case SK_ERR_RANGE:
        return "out of range";
    case SK_ERR_NOMEM:
        return "out of memory";
    case SK_ERR_SPACE:
        return "buffer too small";
    case SK_ERR_NOTFOUND:
        return "not found";
    }
    return "unknown status";
}
