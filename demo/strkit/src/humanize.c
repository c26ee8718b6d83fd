/* strkit - human-readable byte counts using binary prefixes. */
#include "strkit/common.h"
#include "strkit/num.h"

#include <string.h>

size_t sk_humanize_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    size_t unit = 0;
    uint64_t whole = n;
    uint64_t rem = 0;
    char num[24];
    size_t len;
    size_t ulen;

    while (whole >= 1024 && unit + 1 < SK_ARRAY_LEN(units)) {
        rem = whole % 1024;
        whole /= 1024;
        unit++;
    }
    len = sk_format_u64(whole, 10, num, sizeof num);
    if (unit > 0) {
        /* One decimal place, truncated, from the last remainder. */
        uint64_t tenth = rem * 10 / 1024;
        num[len++] = '.';
        num[len++] = (char)('0' + tenth);
        num[len] = '\0';
    }
    ulen = strlen(units[unit]);
    if (cap <= len + 1 + ulen)
        return 0;
    memcpy(buf, num, len);
    buf[len] = ' ';
    memcpy(buf + len + 1, units[unit], ulen + 1);
    return len + 1 + ulen;
}
