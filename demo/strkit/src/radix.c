/* strkit - LSD radix sort for unsigned 32-bit keys, one byte per pass. */
#include "strkit/algo.h"
#include "strkit/common.h"

#include <stdlib.h>
#include <string.h>

sk_status sk_radix_sort(uint32_t *a, size_t n)
{
    uint32_t *buf;
    uint32_t *src = a;
    uint32_t *dst;
    unsigned shift;

    if (n < 2)
        return SK_OK;
    buf = malloc(n * sizeof *buf);
    if (buf == NULL)
        return SK_ERR_NOMEM;
    dst = buf;
    for (shift = 0; shift < 32; shift += 8) {
        size_t count[257];
        size_t i;
        uint32_t *t;
        memset(count, 0, sizeof count);
        for (i = 0; i < n; i++)
            count[((src[i] >> shift) & 0xFFu) + 1]++;
        for (i = 1; i < 257; i++)
            count[i] += count[i - 1];
        for (i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFFu]++] = src[i];
        t = src;
        src = dst;
        dst = t;
    }
    /* Four passes: the result is back in a. */
    free(buf);
    return SK_OK;
}
