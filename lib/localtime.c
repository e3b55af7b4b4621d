/* localtime.c - UTC as a local time, and the range check (see localtime.h). */
#include "localtime.h"

#include <stddef.h>

#define DAY_S 86400

void
local_time_utc(void *ud, int64_t t, struct local_time *out)
{
	/* Floor division: C's '/' truncates toward zero, days start at 00:00. */
	int64_t days = t / DAY_S, sod = t % DAY_S;

	(void)ud;
	if (sod < 0) {
		sod += DAY_S;
		days--;
	}
	/* 1970-01-01 was a Thursday (4); days % 7 lies in -6..6. */
	out->wday = (int)((days % 7 + 11) % 7);
	out->hour = (int)(sod / 3600);
	out->minute = (int)(sod / 60 % 60);
	out->second = (int)(sod % 60);
}

int
local_time_of(local_time_fn fn, void *ud, int64_t t, struct local_time *out)
{
	if (fn == NULL)
		fn = local_time_utc;
	fn(ud, t, out);
	if (out->wday < 0 || out->wday > 6 || out->hour < 0 || out->hour > 23 ||
	    out->minute < 0 || out->minute > 59 || out->second < 0 ||
	    out->second > 60)
		return -1;
	return 0;
}
