/*
 * frame.h - the line framer: splits a byte stream into protocol lines.
 *
 * Pure: bytes in, line callbacks out; no I/O.  One framer per connection.
 *
 * Rules (protocol.md section 1):
 *   - a line ends with LF; one CR right before the LF is dropped;
 *   - lines that are empty or only spaces/tabs are skipped silently;
 *   - a line longer than max_line bytes (not counting the LF, nor the CR of
 *     a CRLF) is reported once, with too_long set, as soon as it is known to
 *     be too long; its bytes are then discarded up to the next LF, after
 *     which framing resumes normally;
 *   - the framer never holds more than max_line + 1 bytes (the + 1 is a CR
 *     that may turn out to be the CR of a CRLF); its buffer grows on demand
 *     up to that bound, so idle connections cost little;
 *   - a partial line at the end of a feed stays buffered for the next feed;
 *   - lines may contain NUL bytes: they are passed with their length, and
 *     the JSON layer refuses them.
 */
#ifndef PARKD_FRAME_H
#define PARKD_FRAME_H

#include <stddef.h>

typedef struct framer framer;

/* framer_feed's return value when it could not grow its buffer. */
#define FRAMER_ENOMEM (-1)

/*
 * A new framer for lines of at most max_line bytes (0 makes every
 * non-empty line too long).  Returns NULL on allocation failure.  The
 * caller owns the result and frees it with framer_free.
 */
framer *framer_new(size_t max_line);

/* Frees f and its buffer.  Accepts NULL. */
void framer_free(framer *f);

/*
 * Called once per complete line.  line points at len bytes, without the LF
 * (and without the CR of a CRLF), NOT NUL-terminated; it points into the
 * framer or into the buffer given to framer_feed and is valid only until
 * the callback returns.  For a line that is too long, line is NULL, len is
 * 0 and too_long is 1.  Return 0 to go on; any other value (use a positive
 * one: FRAMER_ENOMEM is negative) stops framer_feed at once.
 */
typedef int (*framer_line_cb)(void *ud, const char *line, size_t len,
    int too_long);

/*
 * Feeds len bytes (buf is only read, and not kept).  Calls cb for each
 * complete line, in order.  Returns 0 when all bytes were consumed, the
 * callback's non-zero value when it stopped the feed (the remaining bytes
 * of buf are then dropped: the caller is closing), or FRAMER_ENOMEM when
 * the buffer could not grow (the line being assembled is lost and the rest
 * of buf dropped; the framer stays usable, but the caller should close the
 * connection).
 */
int framer_feed(framer *f, const char *buf, size_t len, framer_line_cb cb,
    void *ud);

/*
 * framer_feed that tells how much of buf it took: when the callback stops
 * the feed after a complete line, *used is the number of bytes up to and
 * including that line's LF, and the rest of buf (not seen by the framer)
 * can be fed later, so a caller can pause between lines without losing
 * input.  In every other case *used is len.
 */
int framer_feed_some(framer *f, const char *buf, size_t len, framer_line_cb cb,
    void *ud, size_t *used);

/* Bytes of a partial line currently held (0 while discarding). */
size_t framer_buffered(const framer *f);

/* What a complete line is (frame_line). */
enum frame_line_kind {
	FRAME_LINE,		/* a request */
	FRAME_BLANK,		/* only spaces and tabs, or nothing: ignored */
	FRAME_TOO_LONG		/* over max_line: answered line_too_long */
};

/*
 * Judges one complete line whose LF is already cut: a final CR is framing
 * (*len drops it, and it does not count towards max_line).  The framer
 * asks here for each line, and so does a WebSocket message, which is one
 * line: the two transports read requests alike.
 */
enum frame_line_kind frame_line(const char *line, size_t *len, size_t max_line);

#endif
