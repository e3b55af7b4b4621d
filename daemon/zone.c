/* zone.c - the facility's time zone through the C library (see zone.h). */
#include "zone.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZONE_NAME_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-"

/*
 * Whether path is a regular file that starts like a TZif file.  glibc
 * falls back to UTC without a word when TZ names something it cannot
 * read, so parkd looks first and refuses to start instead.
 */
static int
is_tzif(const char *path, int *exists)
{
	unsigned char magic[4];
	struct stat st;
	int fd, ok;

	*exists = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	*exists = 1;
	ok = read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

int
zone_set(const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char tzval[1024];
	int exists, n;

	if (name == NULL || strcmp(name, "UTC") == 0 ||
	    strcmp(name, "Etc/UTC") == 0) {
		/* A POSIX rule: no file needed, so UTC works without tzdata. */
		snprintf(tzval, sizeof(tzval), "UTC0");
	} else {
		if (name[0] == '\0' || name[0] == '/' ||
		    strstr(name, "..") != NULL ||
		    strspn(name, ZONE_NAME_CHARS) != strlen(name)) {
			snprintf(err, errlen,
			    "facility.timezone: '%s' is not a time zone name", name);
			return -1;
		}
		if (dir == NULL || dir[0] == '\0')
			dir = "/usr/share/zoneinfo";
		/* ':' then a path: the file and nothing else, never a POSIX rule. */
		n = snprintf(tzval, sizeof(tzval), ":%s/%s", dir, name);
		if (n < 0 || (size_t)n >= sizeof(tzval)) {
			snprintf(err, errlen,
			    "facility.timezone: '%.200s' is too long", name);
			return -1;
		}
		if (!is_tzif(tzval + 1, &exists)) {
			if (exists)
				snprintf(err, errlen, "facility.timezone: "
				    "%.200s is not a valid TZif file", tzval + 1);
			else
				snprintf(err, errlen, "facility.timezone: "
				    "unknown time zone '%s'", name);
			return -1;
		}
	}
	if (setenv("TZ", tzval, 1) != 0) {
		snprintf(err, errlen, "facility.timezone: out of memory");
		return -1;
	}
	tzset();
	return 0;
}

/* localtime_r of t into *out and its UTC offset; -1 when it cannot. */
static int
libc_local(int64_t t, struct local_time *out, long *offset)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return -1;
	out->wday = tm.tm_wday;
	out->hour = tm.tm_hour;
	out->minute = tm.tm_min;
	out->second = tm.tm_sec;
	*offset = tm.tm_gmtoff;
	return 0;
}

/* Whether t + offset read as UTC gives the local time lib. */
static int
sum_matches(int64_t t, long offset, const struct local_time *lib)
{
	struct local_time sum;

	local_time_utc(NULL, t + offset, &sum);
	return lib->wday == sum.wday && lib->hour == sum.hour &&
	    lib->minute == sum.minute && lib->second == sum.second;
}

/*
 * Whether the C library puts t at offset, with no leap-second correction
 * ("right/" zones count leap seconds, and so never pass).
 */
static int
offset_holds(int64_t t, long offset)
{
	struct local_time lib;
	long o;

	return t <= INT64_MAX - 86400 && libc_local(t, &lib, &o) == 0 &&
	    o == offset && sum_matches(t, offset, &lib);
}

/*
 * Fills the cache with t's UTC hour (the C library put t at offset, local
 * time lib) when the offset holds at the hour's first and last second and
 * at t.  Offsets change months apart, and at most once in any hour: the
 * same offset at both ends means none changed between.
 */
static void
cache_hour(struct zone_cache *c, int64_t t, long offset,
    const struct local_time *lib)
{
	int64_t into = t % 3600;

	if (into < 0)
		into += 3600;
	c->lo = t - into;
	c->hi = c->lo + 3599;
	c->offset = offset;
	c->valid = sum_matches(t, offset, lib) && offset_holds(c->lo, offset) &&
	    offset_holds(c->hi, offset);
}

void
zone_local_time(void *ud, int64_t t, struct local_time *out)
{
	struct zone_cache *c = ud;
	long offset;

	if (c != NULL && c->valid && t >= c->lo && t <= c->hi) {
		local_time_utc(NULL, t + c->offset, out);
		return;
	}
	if (libc_local(t, out, &offset) != 0) {
		out->wday = -1;
		out->hour = out->minute = out->second = 0;
		return;
	}
	/*
	 * An hour examined already and found changing stays uncached: looking
	 * again would cost two more localtime_r on every call in it (every
	 * call, in a "right/" zone).
	 */
	if (c != NULL && !(c->hi == c->lo + 3599 && t >= c->lo && t <= c->hi))
		cache_hour(c, t, offset, out);
}
