/*
 * sidelog.h - reading a side stream of the journal back: its image and
 * its log, judged against the main journal's last LSN.
 *
 * A side stream (daemon/journal.h) is a store of its own beside the main
 * journal, made of two files of wal.h records:
 *
 *   image  the whole state at one LSN: written to a temporary file,
 *          synced and renamed into place after the main journal was
 *          synced up to that LSN, so it is never torn and never ahead of
 *          the journal.  Every record carries the image's LSN.
 *   log    records appended since the image, each carrying the LSN of
 *          the main record it rode with (non-decreasing), written and
 *          synced in the same pool job just before the main batch.
 *
 * What a crash can leave, and what reading does with it:
 *   - a torn or damaged end of the log: cut off (as the main journal's);
 *   - log records after the main journal's last LSN (their own batch
 *     reached the disk, the main one did not): cut off, for their
 *     changes were never acknowledged and the main state does not have
 *     them;
 *   - a log whose records the image covers (a rewrite renamed the image
 *     but did not empty the log): emptied.
 * Anything else is damage and reading refuses, as recovery does for the
 * main journal: an image that does not verify or lies after the
 * journal, damage followed by a valid record that begins a later batch
 * (wal.h), an LSN going back, a log
 * mixing covered and later records, a record its reader refuses.
 *
 * Pure: buffers in, a verdict out.  The caller cuts the file.
 */
#ifndef PARKD_SIDELOG_H
#define PARKD_SIDELOG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Applies one record (from_image: 1 for the image's, 0 for the log's).
 * Returns 0, or -1 with a message in err.
 */
typedef int (*sidelog_apply_fn)(void *ud, uint64_t lsn, int from_image,
    const char *payload, size_t len, char *err, size_t errlen);

struct sidelog_result {
	uint64_t image_lsn;	/* 0: no image */
	size_t image_records;	/* applied from the image */
	size_t log_records;	/* applied from the log */
	uint64_t log_lsn;	/* LSN of the last log record applied, 0: none */
	size_t log_keep;	/* the log's bytes to keep; cut it to this */
	size_t after_last;	/* records cut for lying after the journal */
	int torn;		/* the log ended in a torn or damaged record */
	int covered;		/* the log held only records the image covers */
};

/*
 * Reads the image img[0..ilen) (ilen 0: none) and then the log
 * log[0..llen) against last, the main journal's last LSN, calling fn for
 * each record to apply, in order.  Fills res.  Returns 0, or -1 with the
 * reason in err (then nothing should be cut).
 */
int sidelog_read(const unsigned char *img, size_t ilen,
    const unsigned char *log, size_t llen, uint64_t last,
    sidelog_apply_fn fn, void *ud, struct sidelog_result *res,
    char *err, size_t errlen);

#endif
