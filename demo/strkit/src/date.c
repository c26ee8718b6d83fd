/* strkit - proleptic Gregorian calendar arithmetic.
 *
 * Dates are counted as days relative to 1970-01-01.  The conversion shifts
 * the year to start on March 1st so that the leap day falls at the end of
 * the year, then works in 400-year cycles of exactly 146097 days. */
#include "strkit/common.h"
#include "strkit/num.h"

#define DAYS_PER_CYCLE 146097
/* Days from 0000-03-01 to 1970-01-01. */
#define EPOCH_SHIFT 719468

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

bool sk_is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned sk_days_in_month(int64_t y, unsigned m)
{
    static const unsigned char lengths[12] = {31, 28, 31, 30, 31, 30,
                                              31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    if (m == 2 && sk_is_leap_year(y))
        return 29;
    return lengths[m - 1];
}

/* Day of the March-based year (0 = March 1st) for month m and day d. */
static int64_t march_day_of_year(unsigned m, unsigned d)
{
    unsigned mp = m > 2 ? m - 3 : m + 9; /* March = 0 ... February = 11 */
    return (int64_t)((153 * mp + 2) / 5 + d - 1);
}

int64_t sk_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    if (m <= 2)
        y -= 1;
    era = floor_div(y, 400);
    yoe = y - era * 400;                       /* 0 ..= 399 */
    doy = march_day_of_year(m, d);             /* 0 ..= 365 */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0 ..= 146096 */
    return era * DAYS_PER_CYCLE + doe - EPOCH_SHIFT;
}

void sk_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    int64_t doe;
    int64_t yoe;
    int64_t doy;
    int64_t mp;
    int64_t year;

    z += EPOCH_SHIFT;
    era = floor_div(z, DAYS_PER_CYCLE);
    doe = z - era * DAYS_PER_CYCLE;
    /* Year of era: remove the leap days accumulated before doe. */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    year = yoe + era * 400;
    if (*m <= 2)
        year += 1;
    *y = year;
}

unsigned sk_weekday(int64_t z)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = (z + 4) % 7;
    if (w < 0)
        w += 7;
    return (unsigned)w;
}

unsigned sk_day_of_year(int64_t y, unsigned m, unsigned d)
{
    return (unsigned)(sk_days_from_civil(y, m, d) -
                      sk_days_from_civil(y, 1, 1) + 1);
}

static size_t put_padded(char *buf, uint64_t v, size_t width)
{
    size_t i;
    for (i = width; i > 0; i--) {
        buf[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return width;
}

size_t sk_format_date(int64_t z, char *buf, size_t cap)
{
    int64_t y;
    unsigned m;
    unsigned d;
    size_t o = 0;

    sk_civil_from_days(z, &y, &m, &d);
    if (y < 0 || y > 9999 || cap < 11)
        return 0;
    o += put_padded(buf + o, (uint64_t)y, 4);
    buf[o++] = '-';
    o += put_padded(buf + o, m, 2);
    buf[o++] = '-';
    o += put_padded(buf + o, d, 2);
    buf[o] = '\0';
    return o;
}

static bool read_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

sk_status sk_parse_date(const char *s, int64_t *z)
{
    unsigned y;
    unsigned m;
    unsigned d;

    if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &m) ||
        s[7] != '-' || !read_digits(s + 8, 2, &d) || s[10] != '\0')
        return SK_ERR_INVALID;
    if (m < 1 || m > 12 || d < 1 || d > sk_days_in_month(y, m))
        return SK_ERR_RANGE;
    *z = sk_days_from_civil(y, m, d);
    return SK_OK;
}
