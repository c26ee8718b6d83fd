/* strkit - longest common subsequence length. */
#include "strkit/common.h"
#include "strkit/str.h"

#include <stdlib.h>
#include <string.h>

size_t sk_lcs_length(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t *row;
    size_t i;
    size_t j;
    size_t result;

    if (la == 0 || lb == 0)
        return 0;
    row = calloc(lb + 1, sizeof *row);
    if (row == NULL)
        return SIZE_MAX;
    for (i = 1; i <= la; i++) {
        size_t diag = 0; /* value of row[j-1] from the previous iteration */
        for (j = 1; j <= lb; j++) {
            size_t above = row[j];
            if (a[i - 1] == b[j - 1])
                row[j] = diag + 1;
            else if (row[j - 1] > row[j])
                row[j] = row[j - 1];
            diag = above;
        }
    }
    result = row[lb];
    free(row);
    return result;
}
