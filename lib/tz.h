/*
 * tz.h - time zones from TZif bytes (RFC 8536), for local-time tariff rules.
 *
 * The pricing core needs the facility's local weekday and time of day (peak
 * windows), and nothing else about zones.  The daemon reads
 * /usr/share/zoneinfo/NAME and hands the bytes over; this module never opens
 * a file, never reads the TZ environment and never calls localtime, so the
 * result does not depend on the process's settings.
 *
 * Supported: TZif version 1 (32-bit data) and versions 2, 3 and 4 (the
 * 64-bit data block is used, the version 1 block only skipped), "fat" and
 * "slim" files, and the POSIX TZ footer with the RFC 8536 extensions (rule
 * times from -167 to 167 hours, <...> quoted names, Jn / n / Mm.w.d rules)
 * for instants at or after the last transition.  Leap-second records are
 * bounds-checked and ignored: parkd's clock is POSIX time, which has none.
 */
#ifndef PARKD_TZ_H
#define PARKD_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct tz tz;

/*
 * Builds a zone from the len bytes of a TZif file.  The bytes are
 * untrusted: every count and index is checked, and malformed input (bad
 * magic, truncated blocks, transition types out of range, times not
 * ascending, offsets outside RFC 8536's -89999..93599 s, more than 256
 * time types, an unparsable or missing v2+ footer) gives NULL.
 * NULL also when out of memory.  The caller keeps buf; the zone copies what
 * it needs.
 */
tz *tz_from_tzif(const unsigned char *buf, size_t len);

/* A zone that is UTC at all times (offset 0), or NULL when out of memory. */
tz *tz_utc(void);

/* Frees z.  Accepts NULL. */
void tz_free(tz *z);

/* A broken-down local time. */
struct tz_local {
	int year;		/* e.g. 2026 */
	int month;		/* 1..12 */
	int mday;		/* 1..31 */
	int wday;		/* 0 = Sunday .. 6 = Saturday */
	int hour;		/* 0..23 */
	int minute;		/* 0..59 */
	int second;		/* 0..59 */
	int32_t utc_offset_s;	/* local = UTC + utc_offset_s */
};

/*
 * The local time in zone z of the Unix instant t.  Before the first
 * transition the zone's first time type applies (RFC 8536); at or after the
 * last one the footer rule does when the file has one.  t is clamped to
 * the years 0001..9999 so the fields always fit.  A NULL z is UTC.
 */
void tz_localtime(const tz *z, int64_t t, struct tz_local *out);

#endif
