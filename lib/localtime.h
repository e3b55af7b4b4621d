/*
 * localtime.h - the facility's local time, as a function the caller passes in.
 *
 * Peak windows are written in the facility's local time (weekday and time
 * of day), and the rules that turn an instant into it live in the system's
 * time zone database.  The pure core reads no files and no environment, so
 * it does not convert by itself: whoever builds a garage passes a
 * local_time_fn, the way ids and "now" are passed in.  The daemon's calls
 * localtime_r with TZ set once at start to facility.timezone; tests pass
 * one of their own.  A NULL function means UTC (local_time_utc).
 */
#ifndef PARKD_LOCALTIME_H
#define PARKD_LOCALTIME_H

#include <stdint.h>

/* What the core needs of a local time. */
struct local_time {
	int wday;		/* 0 = Sunday .. 6 = Saturday */
	int hour;		/* 0..23 */
	int minute;		/* 0..59 */
	int second;		/* 0..60 (60: a leap second in "right/" zones) */
};

/*
 * Writes the local time of the Unix instant t to *out.  Must fill every
 * field; a function that cannot convert t sets a field out of the ranges
 * above (wday -1, say), and the core then treats the time as matching no
 * local-time rule.  ud is the pointer given with the function.  Called on
 * the caller's thread, as often as once per entry.
 */
typedef void (*local_time_fn)(void *ud, int64_t t, struct local_time *out);

/* UTC by integer arithmetic, for any t (ud unused). */
void local_time_utc(void *ud, int64_t t, struct local_time *out);

/*
 * fn(ud, t, out), or local_time_utc when fn is NULL.  Returns 0 when every
 * field is in range, -1 otherwise (the caller applies no local-time rule).
 */
int local_time_of(local_time_fn fn, void *ud, int64_t t,
    struct local_time *out);

#endif
