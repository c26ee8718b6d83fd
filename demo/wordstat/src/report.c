#include "report.h"

void report(FILE *out, const struct entry *ranked, size_t n, size_t top, size_t words)
{
    fprintf(out, "%zu words, %zu distinct\n", words, n);
    for (size_t i = 0; i < n && i < top; i++) {
        double share = words ? 100.0 * (double)ranked[i].count / (double)words : 0.0;
        fprintf(out, "%3zu. %-16s %6lu  %5.2f%%\n", i + 1, ranked[i].word, ranked[i].count, share);
    }
}
