/*
 * rfc3339.h - RFC 3339 timestamps <-> Unix seconds, and the civil calendar.
 *
 * Pure arithmetic on the proleptic Gregorian calendar (no timegm, no
 * mktime, no TZ environment): the protocol's times are UTC with a 'Z'
 * (protocol.md section 4), and they must not depend on the process's time
 * zone (the daemon sets TZ to the facility's, for peak windows).  The
 * calendar helpers are public so that test_rfc3339 can check them alone.
 */
#ifndef PARKD_RFC3339_H
#define PARKD_RFC3339_H

#include <stddef.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SSZ" plus the terminating NUL. */
#define RFC3339_BUFSZ 21

/* The instants rfc3339_parse accepts and rfc3339_format prints exactly. */
#define RFC3339_MIN ((int64_t)0)		/* 1970-01-01T00:00:00Z */
#define RFC3339_MAX ((int64_t)253402300799)	/* 9999-12-31T23:59:59Z */

/*
 * Parses the len bytes at s (no NUL needed) as an RFC 3339 date-time:
 * "YYYY-MM-DDTHH:MM:SS" then 'Z' or "+HH:MM"/"-HH:MM".  'T' and 'Z' may be
 * lower case; fractional seconds ".d..." (1 to 9 digits) are accepted and
 * truncated.  Every field is range-checked (days of the month with leap
 * years, hour < 24, minute < 60, second < 60: leap seconds are refused),
 * and the resulting UTC instant must lie in RFC3339_MIN..RFC3339_MAX.
 * Stores the Unix seconds in *out and returns 0, or returns -1 (and leaves
 * *out alone) on anything else.
 */
int rfc3339_parse(const char *s, size_t len, int64_t *out);

/*
 * Writes t as "YYYY-MM-DDTHH:MM:SSZ" (always 20 characters and a NUL).
 * t is clamped to RFC3339_MIN..RFC3339_MAX so the output always has the
 * fixed shape.
 */
void rfc3339_format(int64_t t, char buf[RFC3339_BUFSZ]);

/*
 * Days since 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31; not
 * validated: out-of-range days simply count on).  Valid for any year whose
 * result fits, far beyond 0001..9999.
 */
int64_t rfc3339_days_from_civil(int64_t y, int m, int d);
/* The civil date of days since 1970-01-01 (inverse of the above). */
void rfc3339_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 1 when y is a Gregorian leap year. */
int rfc3339_is_leap(int64_t y);
/* Days in month m (1..12) of year y. */
int rfc3339_month_days(int64_t y, int m);

#endif
