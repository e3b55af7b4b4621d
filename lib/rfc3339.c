/* rfc3339.c - RFC 3339 parsing and formatting on integer calendar math. */
#include "rfc3339.h"


/* Floor division: C's '/' truncates toward zero, the calendar needs floor. */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int
rfc3339_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
rfc3339_month_days(int64_t y, int m)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m < 1 || m > 12)
		return 0;
	return mdays[m - 1] + (m == 2 && rfc3339_is_leap(y));
}

/*
 * Howard Hinnant's days_from_civil: years are shifted to start in March so
 * that the leap day is the last day of the (shifted) year, and counted in
 * 400-year eras of exactly 146097 days.
 */
int64_t
rfc3339_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;				/* 0..399 */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	/* 0..146096 */
	return era * 146097 + doe - 719468;
}

void
rfc3339_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;			/* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;		/* 0 = March */

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n decimal digits at s into *v; -1 if any is not a digit. */
static int
digits(const char *s, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

int
rfc3339_parse(const char *s, size_t len, int64_t *out)
{
	int year, mon, mday, hour, min, sec, oh, om;
	int64_t t, off = 0;
	size_t i;

	/* "YYYY-MM-DDTHH:MM:SS" is 19 bytes; a zone designator follows. */
	if (s == NULL || out == NULL || len < 20)
		return -1;
	if (digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) ||
	    s[7] != '-' || digits(s + 8, 2, &mday) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &hour) ||
	    s[13] != ':' || digits(s + 14, 2, &min) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || mday < 1 ||
	    mday > rfc3339_month_days(year, mon) || hour > 23 || min > 59 ||
	    sec > 59)
		return -1;
	i = 19;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		/* At least one digit; more than nanoseconds is not a time. */
		if (i == start || i - start > 9)
			return -1;
	}
	if (i >= len)
		return -1;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		if (len - i < 6 || digits(s + i + 1, 2, &oh) ||
		    s[i + 3] != ':' || digits(s + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = (int64_t)oh * 3600 + om * 60;
		if (s[i] == '-')
			off = -off;
		i += 6;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	t = rfc3339_days_from_civil(year, mon, mday) * 86400 +
	    hour * 3600 + min * 60 + sec;
	/* Local time minus the offset is UTC. */
	t -= off;
	if (t < RFC3339_MIN || t > RFC3339_MAX)
		return -1;
	*out = t;
	return 0;
}

/* Writes v (0 <= v < 10^n) as exactly n decimal digits. */
static char *
put_digits(char *p, int64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void
rfc3339_format(int64_t t, char buf[RFC3339_BUFSZ])
{
	int64_t days, secs, y;
	int m, d;
	char *p = buf;

	if (t < RFC3339_MIN)
		t = RFC3339_MIN;
	if (t > RFC3339_MAX)
		t = RFC3339_MAX;
	days = t / 86400;
	secs = t % 86400;
	rfc3339_civil_from_days(days, &y, &m, &d);
	/* Fixed-width fields: the clamp keeps the year to four digits. */
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, secs / 3600, 2);
	*p++ = ':';
	p = put_digits(p, secs / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, secs % 60, 2);
	*p++ = 'Z';
	*p = '\0';
}
