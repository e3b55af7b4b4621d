/* recovery.c - newest valid snapshot, journal replay, torn-tail truncation (see recovery.h). */
#define LOG_COMPONENT "journal"

#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datadir.h"
#include "log.h"
#include "record.h"
#include "snapshot.h"
#include "wal.h"

static int
truncate_file(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = ftruncate(fd, (off_t)len);
	if (rc == 0)
		rc = fdatasync(fd);
	close(fd);
	return rc;
}

/*
 * Applies the records of one segment after r->last, in order, and leaves
 * in *st what ended the walk (*off at that record).  0, or -1 (err says
 * why) when records are missing or one does not apply.
 */
static int
apply_segment(const char *path, const unsigned char *buf, size_t len,
    size_t *off, garage *g, struct recovery *r, enum wal_status *st,
    char *err, size_t errlen)
{
	struct wal_rec rec;

	while ((*st = wal_next(buf, len, off, &rec)) == WAL_OK) {
		char aerr[256];
		struct jerr ae = { aerr, sizeof(aerr), 0 };

		if (rec.lsn <= r->last)
			continue;
		if (rec.lsn != r->last + 1) {
			snprintf(err, errlen, "%s: LSN %" PRIu64 " follows %" PRIu64
			    ": records are missing; refusing to start (nothing was deleted)",
			    path, rec.lsn, r->last);
			return -1;
		}
		if (record_apply(g, rec.payload, rec.len, &ae) != PK_OK) {
			snprintf(err, errlen, "%s: LSN %" PRIu64 ": %s; refusing to "
			    "start (nothing was deleted)", path, rec.lsn, aerr);
			return -1;
		}
		r->last = rec.lsn;
		r->applied++;
	}
	return 0;
}

/*
 * Judges what ended a segment at off: its end, a torn tail of the last
 * segment (cut off when truncate), or damage that is no torn tail.  A
 * power cut tears only the batch being synced, but in any order of its
 * pages: damage followed by records of that same batch is a torn tail,
 * damage followed by a record that begins a later batch is not (that
 * batch was written only after the damaged one was synced and answered).
 * An incomplete record is judged the same way, since a damaged length can
 * make one look incomplete.
 */
static int
judge_tail(const char *path, const unsigned char *buf, size_t len, size_t off,
    enum wal_status st, int last_seg, int truncate, uint64_t last,
    char *err, size_t errlen)
{
	if (st == WAL_END)
		return 0;
	if (wal_batch_after(buf, len, off, last + 1, last)) {
		snprintf(err, errlen, "%s: damaged record at byte %zu is followed by "
		    "valid later batches; refusing to start (nothing was deleted)",
		    path, off);
		return -1;
	}
	if (!last_seg) {
		snprintf(err, errlen, "%s: damaged record at byte %zu before "
		    "later segments; refusing to guess", path, off);
		return -1;
	}
	if (truncate) {
		log_warn("dropping the end of a segment file=%s record=%s offset=%zu bytes=%zu",
		    path, st == WAL_TORN ? "torn" : "damaged", off, len - off);
		if (truncate_file(path, off) != 0) {
			snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
replay_segment(const char *dir, uint64_t seg, int last_seg, garage *g,
    struct recovery *r, int truncate, char *err, size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	unsigned char *buf;
	size_t len, off = 0;
	enum wal_status st;
	int rc;

	datadir_path(path, sizeof(path), dir, "journal", seg, ".log");
	if (datadir_read_file(path, &buf, &len) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = apply_segment(path, buf, len, &off, g, r, &st, err, errlen);
	if (rc == 0)
		rc = judge_tail(path, buf, len, off, st, last_seg, truncate,
		    r->last, err, errlen);
	free(buf);
	if (rc == 0) {
		r->seg_start = seg;
		r->seg_len = off;
	}
	return rc;
}

static int
replay(const char *dir, const struct datadir_list *l, garage *g,
    struct recovery *r, int truncate, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->nseg; i++) {
		/* Whole segments before the snapshot need no reading. */
		if (i + 1 < l->nseg && l->segs[i + 1] <= r->last + 1)
			continue;
		if (replay_segment(dir, l->segs[i], i + 1 == l->nseg, g, r,
		    truncate, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/*
 * Loads the newest snapshot that verifies into *g (left NULL when none
 * does).  0, or -1 when out of memory.
 */
static int
load_newest(const char *dir, const struct datadir_list *l,
    garage *(*make)(void *ud), void *make_ud, garage **g, struct recovery *r,
    char *err, size_t errlen)
{
	*g = NULL;
	for (size_t i = l->nsnap; i-- > 0;) {
		uint64_t n;
		char serr[512];

		if ((*g = make(make_ud)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (snapshot_load(dir, l->snaps[i], *g, &n, serr, sizeof(serr)) == 0) {
			r->last = r->snap = l->snaps[i];
			log_info("loaded a snapshot lsn=%" PRIu64 " records=%" PRIu64,
			    l->snaps[i], n);
			return 0;
		}
		log_warn("snapshot unusable, trying an older one error=\"%s\"", serr);
		garage_free(*g);
		*g = NULL;
	}
	return 0;
}

garage *
recovery_run(const char *dir, garage *(*make)(void *ud), void *make_ud,
    int truncate, struct recovery *r, char *err, size_t errlen)
{
	struct datadir_list l;
	garage *g = NULL;

	memset(r, 0, sizeof(*r));
	if (datadir_scan(dir, &l, truncate, err, errlen) != 0)
		return NULL;
	if (load_newest(dir, &l, make, make_ud, &g, r, err, errlen) != 0)
		goto fail;
	if (g == NULL && l.nsnap > 0 && (l.nseg == 0 || l.segs[0] > 1)) {
		snprintf(err, errlen, "%s: no snapshot loads and the journal does not "
		    "reach back to the beginning; refusing to start (nothing was deleted)", dir);
		goto fail;
	}
	if (g == NULL && (g = make(make_ud)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (l.nseg > 0 && l.segs[0] > r->last + 1) {
		snprintf(err, errlen, "%s: the journal starts at LSN %" PRIu64
		    " but the state is at %" PRIu64 "; refusing to start", dir,
		    l.segs[0], r->last);
		goto fail;
	}
	if (replay(dir, &l, g, r, truncate, err, errlen) != 0)
		goto fail;
	datadir_list_free(&l);
	return g;
fail:
	datadir_list_free(&l);
	garage_free(g);
	return NULL;
}
