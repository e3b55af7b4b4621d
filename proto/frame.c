/* frame.c - the line framer (see frame.h). */
#include "frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; most lines are short, so start small and double. */
#define FRAMER_MIN_CAP 256

struct framer {
	size_t max_line;	/* longest line accepted */
	size_t limit;		/* max_line + 1: most bytes ever held */
	char *buf;		/* the partial line so far */
	size_t len;		/* bytes used in buf */
	size_t cap;		/* bytes allocated for buf (<= limit) */
	int discarding;		/* skipping a too-long line up to its LF */
};

framer *
framer_new(size_t max_line)
{
	framer *f;

	if (max_line > SIZE_MAX - 2)
		return NULL;
	f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->max_line = max_line;
	f->limit = max_line + 1;
	return f;
}

void
framer_free(framer *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	free(f);
}

size_t
framer_buffered(const framer *f)
{
	return f->len;
}

/* Whether the len bytes at s are all spaces or tabs (true for len 0). */
static int
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/*
 * Whether n bytes without an LF are already known to be a too-long line:
 * more than limit bytes, or exactly limit bytes whose last is not a CR
 * (a final CR might still be the CR of a CRLF, which does not count).
 */
static int
known_too_long(const framer *f, size_t n, char last)
{
	return n > f->limit || (n == f->limit && last != '\r');
}

/* Makes room for need bytes in f->buf; need <= f->limit.  0 or -1. */
static int
reserve(framer *f, size_t need)
{
	size_t cap;
	char *nb;

	if (need <= f->cap)
		return 0;
	cap = f->cap ? f->cap : FRAMER_MIN_CAP;
	while (cap < need)
		cap = cap > f->limit / 2 ? f->limit : cap * 2;
	if (cap > f->limit)
		cap = f->limit;
	nb = realloc(f->buf, cap);
	if (nb == NULL)
		return -1;
	f->buf = nb;
	f->cap = cap;
	return 0;
}

enum frame_line_kind
frame_line(const char *line, size_t *len, size_t max_line)
{
	if (*len > 0 && line[*len - 1] == '\r')
		(*len)--;
	if (*len > max_line)
		return FRAME_TOO_LONG;
	return is_blank(line, *len) ? FRAME_BLANK : FRAME_LINE;
}

/* Hands one complete line (CR not yet stripped) to cb. */
static int
deliver(framer *f, const char *line, size_t n, framer_line_cb cb, void *ud)
{
	switch (frame_line(line, &n, f->max_line)) {
	case FRAME_TOO_LONG:
		return cb(ud, NULL, 0, 1);
	case FRAME_BLANK:
		return 0;
	default:
		return cb(ud, line, n, 0);
	}
}

int
framer_feed(framer *f, const char *buf, size_t len, framer_line_cb cb,
    void *ud)
{
	size_t used;

	return framer_feed_some(f, buf, len, cb, ud, &used);
}

int
framer_feed_some(framer *f, const char *buf, size_t len, framer_line_cb cb,
    void *ud, size_t *used)
{
	const char *start = buf;

	*used = len;
	while (len > 0) {
		const char *lf = memchr(buf, '\n', len);
		size_t seg = lf ? (size_t)(lf - buf) : len;
		int rc;

		if (f->discarding) {
			if (lf == NULL)
				return 0;
			f->discarding = 0;
		} else if (lf != NULL) {
			if (f->len == 0) {
				/* Common case: the whole line is in buf. */
				rc = deliver(f, buf, seg, cb, ud);
			} else if (f->len + seg > f->limit) {
				/*
				 * Too long even if it ends in a CR; the buffer
				 * could not hold it, so do not copy it.
				 */
				f->len = 0;
				rc = cb(ud, NULL, 0, 1);
			} else {
				if (reserve(f, f->len + seg) != 0) {
					/* The line is lost; its LF is here. */
					f->len = 0;
					return FRAMER_ENOMEM;
				}
				memcpy(f->buf + f->len, buf, seg);
				rc = deliver(f, f->buf, f->len + seg, cb, ud);
				f->len = 0;
			}
			if (rc != 0) {
				f->len = 0;
				*used = (size_t)(lf + 1 - start);
				return rc;
			}
		} else {
			/* No LF: keep the partial line, or find it too long. */
			if (known_too_long(f, f->len + seg, buf[seg - 1])) {
				f->len = 0;
				f->discarding = 1;
				return cb(ud, NULL, 0, 1);
			}
			if (reserve(f, f->len + seg) != 0) {
				/* The line is lost: skip the rest of it. */
				f->len = 0;
				f->discarding = 1;
				return FRAMER_ENOMEM;
			}
			memcpy(f->buf + f->len, buf, seg);
			f->len += seg;
			return 0;
		}
		/* Skip the segment and its LF. */
		buf += seg + 1;
		len -= seg + 1;
	}
	return 0;
}
