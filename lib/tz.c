/* tz.c - TZif (RFC 8536) decoding and UTC-to-local conversion. */
#include "tz.h"

#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"

#define TZ_HEADER_LEN	44
/* RFC 8536 section 3.2: utoff should lie in [-89999, 93599]. */
#define TZ_UTOFF_MIN	(-89999)
#define TZ_UTOFF_MAX	93599
/* tz_localtime works on the years 0001..9999 so every field fits an int. */
#define TZ_T_MIN	((int64_t)-62135596800)
#define TZ_T_MAX	((int64_t)253402300799)

struct tz_type {
	int32_t utoff;
	unsigned char isdst;
};

/* One "start" or "end" rule of a POSIX TZ string. */
enum tz_rule_kind {
	TZ_RULE_JULIAN,		/* Jn: day n in 1..365, February 29 never counted */
	TZ_RULE_ZERO,		/* n: day n in 0..365, February 29 counted */
	TZ_RULE_MONTH		/* Mm.w.d: weekday d of week w (5 = last) of month m */
};

struct tz_rule {
	enum tz_rule_kind kind;
	int n, m, w, d;
	int32_t time;		/* seconds after local midnight; -167h..167h */
};

/* The footer rule that extends the table past its last transition. */
struct tz_posix {
	int32_t std_utoff, dst_utoff;
	int has_dst;
	struct tz_rule start, end;	/* only when has_dst */
};

/*
 * The transition table as RFC 8536 defines it: trans[i] (strictly
 * ascending) starts time type types[trans_type[i]].  Every trans_type entry
 * is < ntypes and ntypes >= 1; tz_from_tzif guarantees both, so lookups
 * never check again.
 */
struct tz {
	size_t ntrans;
	int64_t *trans;
	unsigned char *trans_type;
	size_t ntypes;
	struct tz_type *types;
	int has_posix;
	struct tz_posix posix;
};

struct tz_header {
	unsigned char version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Two's complement decoding without relying on implementation behaviour. */
static int32_t
be32s(const unsigned char *p)
{
	uint32_t u = be32(p);

	return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

static int64_t
be64s(const unsigned char *p)
{
	uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);

	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static int
read_header(const unsigned char *buf, size_t len, size_t off,
    struct tz_header *h)
{
	const unsigned char *p = buf + off;

	if (off > len || len - off < TZ_HEADER_LEN || memcmp(p, "TZif", 4) != 0)
		return -1;
	h->version = p[4];
	/* Version 1 is a NUL byte; '2', '3', '4' (and later) add a footer. */
	if (h->version != 0 && h->version < '2')
		return -1;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return 0;
}

/* Bytes of the data block after h; counts are < 2^32, so no overflow. */
static uint64_t
block_size(const struct tz_header *h, unsigned timesize)
{
	return (uint64_t)h->timecnt * timesize + h->timecnt +
	    (uint64_t)h->typecnt * 6 + h->charcnt +
	    (uint64_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

/* ---- POSIX TZ strings (the footer) ---- */

struct cursor {
	const char *p, *end;
};

static int
peek(const struct cursor *c)
{
	return c->p < c->end ? (unsigned char)*c->p : -1;
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* An unsigned number of 1..maxdigits digits in [0, max]. */
static int
parse_num(struct cursor *c, int maxdigits, int max, int *v)
{
	int n = 0, x = 0;

	while (n < maxdigits && is_digit(peek(c))) {
		x = x * 10 + (*c->p++ - '0');
		n++;
	}
	if (n == 0 || x > max)
		return -1;
	*v = x;
	return 0;
}

/* A zone abbreviation: three or more letters, or <...> of [A-Za-z0-9+-]. */
static int
parse_name(struct cursor *c)
{
	const char *start;

	if (peek(c) == '<') {
		c->p++;
		start = c->p;
		while (c->p < c->end && *c->p != '>') {
			int ch = (unsigned char)*c->p;

			if (!is_alpha(ch) && !is_digit(ch) && ch != '+' &&
			    ch != '-')
				return -1;
			c->p++;
		}
		if (c->p == c->end || c->p - start < 3)
			return -1;
		c->p++;
		return 0;
	}
	start = c->p;
	while (is_alpha(peek(c)))
		c->p++;
	return c->p - start >= 3 ? 0 : -1;
}

/*
 * [+-]hh[:mm[:ss]] as seconds.  maxh is 24 for zone offsets (POSIX) and 167
 * for rule times (RFC 8536 allows them to reach into the next week).
 */
static int
parse_hms(struct cursor *c, int maxh, int32_t *secs)
{
	int neg = 0, h, m = 0, s = 0;

	if (peek(c) == '+' || peek(c) == '-')
		neg = *c->p++ == '-';
	if (parse_num(c, 3, maxh, &h) != 0)
		return -1;
	if (peek(c) == ':') {
		c->p++;
		if (parse_num(c, 2, 59, &m) != 0)
			return -1;
		if (peek(c) == ':') {
			c->p++;
			if (parse_num(c, 2, 59, &s) != 0)
				return -1;
		}
	}
	*secs = h * 3600 + m * 60 + s;
	if (neg)
		*secs = -*secs;
	return 0;
}

static int
parse_rule(struct cursor *c, struct tz_rule *r)
{
	if (peek(c) == 'J') {
		c->p++;
		r->kind = TZ_RULE_JULIAN;
		if (parse_num(c, 3, 365, &r->n) != 0 || r->n < 1)
			return -1;
	} else if (peek(c) == 'M') {
		c->p++;
		r->kind = TZ_RULE_MONTH;
		if (parse_num(c, 2, 12, &r->m) != 0 || r->m < 1 ||
		    peek(c) != '.')
			return -1;
		c->p++;
		if (parse_num(c, 1, 5, &r->w) != 0 || r->w < 1 ||
		    peek(c) != '.')
			return -1;
		c->p++;
		if (parse_num(c, 1, 6, &r->d) != 0)
			return -1;
	} else {
		r->kind = TZ_RULE_ZERO;
		if (parse_num(c, 3, 365, &r->n) != 0)
			return -1;
	}
	r->time = 7200;		/* POSIX default: 02:00 local */
	if (peek(c) == '/') {
		c->p++;
		if (parse_hms(c, 167, &r->time) != 0)
			return -1;
	}
	return 0;
}

/* Parses the whole footer text; an empty footer means "no rule". */
static int
parse_posix(const char *s, size_t len, struct tz_posix *px, int *has)
{
	struct cursor c = { s, s + len };
	int32_t off;

	*has = 0;
	if (len == 0)
		return 0;
	memset(px, 0, sizeof(*px));
	/* POSIX offsets count west of Greenwich: UTC = local + offset. */
	if (parse_name(&c) != 0 || parse_hms(&c, 24, &off) != 0)
		return -1;
	px->std_utoff = -off;
	if (c.p < c.end) {
		if (parse_name(&c) != 0)
			return -1;
		px->has_dst = 1;
		px->dst_utoff = px->std_utoff + 3600;
		if (peek(&c) != ',' && c.p < c.end) {
			if (parse_hms(&c, 24, &off) != 0)
				return -1;
			px->dst_utoff = -off;
		}
		if (peek(&c) == ',') {
			c.p++;
			if (parse_rule(&c, &px->start) != 0 || peek(&c) != ',')
				return -1;
			c.p++;
			if (parse_rule(&c, &px->end) != 0)
				return -1;
		} else {
			/* No rule given: the US rules, as tzcode assumes. */
			px->start = (struct tz_rule){ TZ_RULE_MONTH, 0, 3, 2, 0, 7200 };
			px->end = (struct tz_rule){ TZ_RULE_MONTH, 0, 11, 1, 0, 7200 };
		}
	}
	if (c.p != c.end)
		return -1;
	*has = 1;
	return 0;
}

/* Floor modulo for weekdays of days before 1970. */
static int
mod7(int64_t days)
{
	int r = (int)(days % 7);

	return r < 0 ? r + 7 : r;
}

/* The day (since the epoch) that contains second t: floor(t / 86400). */
static int64_t
day_of(int64_t t)
{
	return t / 86400 - (t % 86400 < 0);
}

/* Days since the epoch of the local date on which rule r fires in year y. */
static int64_t
rule_day(const struct tz_rule *r, int64_t y)
{
	int64_t jan1 = rfc3339_days_from_civil(y, 1, 1), first;
	int day, mdays;

	switch (r->kind) {
	case TZ_RULE_JULIAN:
		/* Jn never counts February 29: from March on, skip it. */
		return jan1 + r->n - 1 + (rfc3339_is_leap(y) && r->n >= 60);
	case TZ_RULE_ZERO:
		return jan1 + r->n;
	case TZ_RULE_MONTH:
		break;
	}
	first = rfc3339_days_from_civil(y, r->m, 1);
	/* 1970-01-01 was a Thursday (weekday 4). */
	day = 1 + mod7(r->d - mod7(first + 4));
	day += 7 * (r->w - 1);
	mdays = rfc3339_month_days(y, r->m);
	while (day > mdays)
		day -= 7;
	return first + day - 1;
}

/* The UTC offset the footer rule gives at t. */
static int32_t
posix_utoff(const struct tz_posix *px, int64_t t)
{
	int64_t y, best = 0, yy;
	int found = 0, isdst = 0, m, d;

	if (!px->has_dst)
		return px->std_utoff;
	rfc3339_civil_from_days(day_of(t + px->std_utoff), &y, &m, &d);
	/*
	 * The latest change at or before t, looking at the neighbouring years
	 * too: a rule may change near New Year (or, with RFC 8536 times, in
	 * the next year), and a later year's change wins a tie so that
	 * "all year DST" strings such as "EST5EDT,0/0,J365/25" work.
	 */
	for (yy = y - 1; yy <= y + 1; yy++) {
		int64_t on = rule_day(&px->start, yy) * 86400 +
		    px->start.time - px->std_utoff;
		int64_t off = rule_day(&px->end, yy) * 86400 +
		    px->end.time - px->dst_utoff;

		if (on <= t && (!found || on >= best)) {
			best = on;
			isdst = 1;
			found = 1;
		}
		if (off <= t && (!found || off >= best)) {
			best = off;
			isdst = 0;
			found = 1;
		}
	}
	return isdst ? px->dst_utoff : px->std_utoff;
}

/* ---- construction ---- */

static tz *
tz_alloc(size_t ntrans, size_t ntypes)
{
	tz *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	z->ntrans = ntrans;
	z->ntypes = ntypes;
	if (ntrans > 0) {
		z->trans = malloc(ntrans * sizeof(*z->trans));
		z->trans_type = malloc(ntrans);
		if (z->trans == NULL || z->trans_type == NULL)
			goto fail;
	}
	z->types = calloc(ntypes, sizeof(*z->types));
	if (z->types == NULL)
		goto fail;
	return z;
fail:
	tz_free(z);
	return NULL;
}

tz *
tz_utc(void)
{
	/* One time type of offset 0 and no transitions: UTC forever. */
	return tz_alloc(0, 1);
}

void
tz_free(tz *z)
{
	if (z == NULL)
		return;
	free(z->trans);
	free(z->trans_type);
	free(z->types);
	free(z);
}

/*
 * Decodes the data block that starts at off (timesize 4 or 8 bytes per
 * time) into a new zone, checking every count against the bytes present.
 */
static tz *
read_block(const unsigned char *buf, size_t len, size_t off,
    const struct tz_header *h, unsigned timesize)
{
	const unsigned char *p, *idx, *ttinfo;
	tz *z;
	size_t i;

	if (h->typecnt == 0 || h->charcnt == 0 ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    h->typecnt > 256)
		return NULL;
	if (off > len || block_size(h, timesize) > len - off)
		return NULL;
	p = buf + off;
	idx = p + (size_t)h->timecnt * timesize;
	ttinfo = idx + h->timecnt;
	z = tz_alloc(h->timecnt, h->typecnt);
	if (z == NULL)
		return NULL;
	for (i = 0; i < h->timecnt; i++) {
		const unsigned char *q = p + i * timesize;

		z->trans[i] = timesize == 8 ? be64s(q) : be32s(q);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			goto fail;
		if (idx[i] >= h->typecnt)
			goto fail;
		z->trans_type[i] = idx[i];
	}
	for (i = 0; i < h->typecnt; i++) {
		const unsigned char *q = ttinfo + i * 6;
		int32_t utoff = be32s(q);

		if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX ||
		    q[4] > 1 || q[5] >= h->charcnt)
			goto fail;
		z->types[i].utoff = utoff;
		z->types[i].isdst = q[4];
	}
	return z;
fail:
	tz_free(z);
	return NULL;
}

tz *
tz_from_tzif(const unsigned char *buf, size_t len)
{
	struct tz_header h1, h2;
	const unsigned char *foot, *nl;
	size_t off;
	tz *z;

	if (buf == NULL || read_header(buf, len, 0, &h1) != 0)
		return NULL;
	if (h1.version == 0)
		return read_block(buf, len, TZ_HEADER_LEN, &h1, 4);

	/* Version 2+: skip the 32-bit block, use the 64-bit one. */
	if (block_size(&h1, 4) > len - TZ_HEADER_LEN)
		return NULL;
	off = TZ_HEADER_LEN + (size_t)block_size(&h1, 4);
	if (read_header(buf, len, off, &h2) != 0)
		return NULL;
	off += TZ_HEADER_LEN;
	z = read_block(buf, len, off, &h2, 8);
	if (z == NULL)
		return NULL;
	off += (size_t)block_size(&h2, 8);
	/* The footer is "\n" TZ-string "\n"; read_block checked off <= len. */
	if (off >= len || buf[off] != '\n')
		goto fail;
	foot = buf + off + 1;
	nl = memchr(foot, '\n', len - off - 1);
	if (nl == NULL)
		goto fail;
	if (parse_posix((const char *)foot, (size_t)(nl - foot), &z->posix,
	    &z->has_posix) != 0)
		goto fail;
	return z;
fail:
	tz_free(z);
	return NULL;
}

/* ---- conversion ---- */

static int32_t
utoff_at(const tz *z, int64_t t)
{
	size_t lo, hi;

	if (z == NULL)
		return 0;
	if (z->ntrans == 0)
		return z->has_posix ? posix_utoff(&z->posix, t) :
		    z->types[0].utoff;
	if (t < z->trans[0])
		return z->types[0].utoff;
	if (t >= z->trans[z->ntrans - 1] && z->has_posix)
		return posix_utoff(&z->posix, t);
	/* The last transition at or before t: trans[lo] <= t < trans[hi]. */
	lo = 0;
	hi = z->ntrans;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->types[z->trans_type[lo]].utoff;
}

void
tz_localtime(const tz *z, int64_t t, struct tz_local *out)
{
	int64_t local, days, secs, y;
	int32_t utoff;

	if (t < TZ_T_MIN)
		t = TZ_T_MIN;
	if (t > TZ_T_MAX)
		t = TZ_T_MAX;
	utoff = utoff_at(z, t);
	local = t + utoff;
	days = day_of(local);
	secs = local - days * 86400;
	rfc3339_civil_from_days(days, &y, &out->month, &out->mday);
	out->year = (int)y;
	out->wday = mod7(days + 4);
	out->hour = (int)(secs / 3600);
	out->minute = (int)(secs / 60 % 60);
	out->second = (int)(secs % 60);
	out->utc_offset_s = utoff;
}
