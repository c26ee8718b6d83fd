/* strkit - Luhn (mod 10) check digits. */
#include "strkit/common.h"
#include "strkit/hash.h"

#include <string.h>

/* Sum of the Luhn-weighted digits; doubling starts with the rightmost digit
 * when double_last is true.  Returns -1 on a non-digit. */
static int luhn_sum(const char *digits, bool double_last)
{
    size_t n = strlen(digits);
    int sum = 0;
    bool dbl = double_last;
    size_t i;

    if (n == 0)
        return -1;
    for (i = n; i > 0; i--) {
        char c = digits[i - 1];
        int d;
        if (c < '0' || c > '9')
            return -1;
        d = c - '0';
        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum = (sum + d) % 10;
        dbl = !dbl;
    }
    return sum;
}

bool sk_luhn_valid(const char *digits)
{
    int s = luhn_sum(digits, false);
    return s >= 0 && s % 10 == 0;
}

int sk_luhn_check_digit(const char *digits)
{
    int s = luhn_sum(digits, true);
    if (s < 0)
        return -1;
    return (10 - s % 10) % 10;
}
