/* strkit - glob-style matching with '*' and '?'.
 *
 * Greedy matching with a single backtrack point: when a later literal
 * fails we retry from the most recent star, consuming one more character.
 * This runs in O(len(pattern) * len(text)) time without recursion. */
#include "strkit/common.h"
#include "strkit/str.h"

bool sk_wildcard_match(const char *pattern, const char *text)
{
    const char *p = pattern;
    const char *t = text;
    const char *star_p = NULL;
    const char *star_t = NULL;

    while (*t) {
        if (*p == '*') {
            star_p = p++;
            star_t = t;
        } else if (*p == '?' || (*p != '\0' && *p == *t)) {
            p++;
            t++;
        } else if (star_p != NULL) {
            p = star_p + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}
