/*
 * zone.h - the facility's time zone: TZ set once at start, and the local
 * time the core asks for (lib/localtime.h) read back through localtime_r.
 *
 * The C library keeps one time zone per process, so parkd sets it once,
 * before the loop and before any thread exists, and never again: a reload
 * does not change facility.timezone.  Snapshot children inherit it.
 */
#ifndef PARKD_ZONE_H
#define PARKD_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "localtime.h"

/*
 * Makes name (facility.timezone, e.g. "Europe/Berlin") the process's time
 * zone: "UTC", "Etc/UTC" and NULL need no file; any other name must be a
 * plain relative name (letters, digits, "/_+-", no "..") of a regular file
 * under $TZDIR or /usr/share/zoneinfo that starts with the TZif magic.
 * Then TZ is set to that file and tzset() called.  Returns 0, or -1 with a
 * message naming facility.timezone in err (TZ unchanged).  Start-up only:
 * setenv is not safe while other threads may read the environment.
 */
int zone_set(const char *name, char *err, size_t errlen);

/*
 * The UTC hour zone_local_time last converted, when one UTC offset holds
 * all through it: a local time in it is then t + offset, read as UTC, with
 * no call to localtime_r (which takes a lock and searches the zone's
 * transitions, some 700 instructions an entry).  Whoever owns one passes
 * it as ud; it belongs to one thread.  Zero-initialize (no hour yet); an
 * hour found with an offset change inside stays examined and uncached
 * (valid 0) until a time outside it comes.
 */
struct zone_cache {
	int64_t lo, hi;		/* the hour's first and last second */
	long offset;		/* seconds east of UTC */
	int valid;		/* lo .. hi may be answered from offset */
};

/*
 * A local_time_fn: localtime_r in the zone zone_set made the process's,
 * answered from the struct zone_cache at ud when there is one and t lies
 * in its hour.  An instant the C library cannot convert gives wday -1.
 */
void zone_local_time(void *ud, int64_t t, struct local_time *out);

#endif
