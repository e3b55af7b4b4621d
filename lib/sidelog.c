/* sidelog.c - a side stream's image and log read back (see sidelog.h). */
#include "sidelog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wal.h"

static int
read_image(const unsigned char *img, size_t ilen, uint64_t last,
    sidelog_apply_fn fn, void *ud, struct sidelog_result *res, char *err,
    size_t errlen)
{
	enum wal_status st;
	struct wal_rec rec;
	size_t off = 0;

	while ((st = wal_next(img, ilen, &off, &rec)) == WAL_OK) {
		if (res->image_records == 0) {
			res->image_lsn = rec.lsn;
			if (rec.lsn > last) {
				snprintf(err, errlen, "image: at LSN %" PRIu64 ", after "
				    "the journal's last LSN %" PRIu64, rec.lsn, last);
				return -1;
			}
		} else if (rec.lsn != res->image_lsn) {
			snprintf(err, errlen, "image: a record of LSN %" PRIu64
			    " in the image of LSN %" PRIu64, rec.lsn, res->image_lsn);
			return -1;
		}
		if (fn(ud, rec.lsn, 1, rec.payload, rec.len, err, errlen) != 0)
			return -1;
		res->image_records++;
	}
	if (st != WAL_END) {
		/* It was synced before it was renamed: no crash tears it. */
		snprintf(err, errlen, "image: %s record at byte %zu",
		    st == WAL_TORN ? "incomplete" : "damaged", off);
		return -1;
	}
	return 0;
}

/* Counts the records from off on (all of them cut). */
static size_t
count_rest(const unsigned char *log, size_t llen, size_t off)
{
	struct wal_rec rec;
	size_t n = 0;

	while (wal_next(log, llen, &off, &rec) == WAL_OK)
		n++;
	return n;
}

int
sidelog_read(const unsigned char *img, size_t ilen,
    const unsigned char *log, size_t llen, uint64_t last,
    sidelog_apply_fn fn, void *ud, struct sidelog_result *res,
    char *err, size_t errlen)
{
	enum wal_status st;
	struct wal_rec rec;
	uint64_t prev = 0;
	size_t off = 0, start = 0, covered = 0;

	memset(res, 0, sizeof(*res));
	if (ilen > 0 && read_image(img, ilen, last, fn, ud, res, err, errlen) != 0)
		return -1;
	for (;;) {
		start = off;
		st = wal_next(log, llen, &off, &rec);
		if (st != WAL_OK)
			break;
		if (rec.lsn < prev) {
			snprintf(err, errlen, "log: LSN %" PRIu64 " at byte %zu "
			    "follows LSN %" PRIu64, rec.lsn, start, prev);
			return -1;
		}
		prev = rec.lsn;
		if (res->image_records > 0 && rec.lsn <= res->image_lsn) {
			covered++;
			continue;
		}
		if (covered > 0) {
			snprintf(err, errlen, "log: LSN %" PRIu64 " at byte %zu "
			    "follows records the image of LSN %" PRIu64 " covers",
			    rec.lsn, start, res->image_lsn);
			return -1;
		}
		if (rec.lsn > last) {
			/* Written, but its main record never was: not acknowledged. */
			res->after_last = 1 + count_rest(log, llen, off);
			res->log_keep = start;
			return 0;
		}
		if (fn(ud, rec.lsn, 0, rec.payload, rec.len, err, errlen) != 0)
			return -1;
		res->log_records++;
		res->log_lsn = rec.lsn;
		res->log_keep = off;
	}
	if (st != WAL_END && wal_batch_after(log, llen, start, prev, last)) {
		snprintf(err, errlen, "log: damaged record at byte %zu is followed "
		    "by valid later batches", start);
		return -1;
	}
	res->torn = st != WAL_END;
	if (covered > 0) {
		res->covered = 1;
		res->log_keep = 0;
	}
	return 0;
}
