/* sidestore.c - a journal side stream's files (see sidestore.h). */
#define LOG_COMPONENT "journal"
#include "sidestore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sidelog.h"

void
sidestore_paths(struct sidestore_paths *p, const char *data_dir,
    const char *name)
{
	snprintf(p->dir, sizeof(p->dir), "%s/%s", data_dir, name);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", p->dir, name);
	snprintf(p->image, sizeof(p->image), "%s/%s.db", p->dir, name);
	snprintf(p->tmp, sizeof(p->tmp), "%s/%s.db.tmp", p->dir, name);
}

/* Reads path whole; a missing file reads as empty.  0 or -1 (errno). */
static int
read_or_empty(const char *path, unsigned char **buf, size_t *len)
{
	if (datadir_read_file(path, buf, len) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	*buf = NULL;
	*len = 0;
	return 0;
}

/* The bytes held records: wipe them before they go back to malloc. */
static void
wipe_free(unsigned char *buf, size_t len)
{
	if (buf != NULL)
		explicit_bzero(buf, len);
	free(buf);
}

static int
make_dir(const struct sidestore_paths *p, char *err, size_t errlen)
{
	char parent[DATADIR_PATH_MAX];
	char *slash;

	if (mkdir(p->dir, 0700) != 0) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: %s", p->dir, strerror(errno));
		return -1;
	}
	snprintf(parent, sizeof(parent), "%s", p->dir);
	slash = strrchr(parent, '/');
	if (slash != NULL)
		*slash = '\0';
	if (datadir_fsync(slash != NULL ? parent : ".") != 0) {
		snprintf(err, errlen, "%s: fsync: %s", parent, strerror(errno));
		return -1;
	}
	return 0;
}

static int
cut_log(const char *path, size_t keep)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = ftruncate(fd, (off_t)keep);
	if (rc == 0)
		rc = fdatasync(fd);
	close(fd);
	return rc;
}

struct load_ctx {
	const struct journal_side_hooks *h;
};

static int
apply_one(void *ud, uint64_t lsn, int from_image, const char *payload,
    size_t len, char *err, size_t errlen)
{
	const struct load_ctx *x = ud;

	return x->h->apply(x->h->ud, lsn, from_image, payload, len, err, errlen);
}

int
sidestore_load(const struct sidestore_paths *p,
    const struct journal_side_hooks *h, const garage *g, uint64_t last,
    uint64_t *log_len, char *err, size_t errlen)
{
	unsigned char *img = NULL, *log = NULL;
	size_t ilen = 0, llen = 0;
	struct sidelog_result res;
	struct load_ctx x = { h };
	char why[400];
	int rc = -1;

	*log_len = 0;
	if (make_dir(p, err, errlen) != 0)
		return -1;
	/* A temporary image was never renamed: never part of the store. */
	if (unlink(p->tmp) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", p->tmp, strerror(errno));
		return -1;
	}
	if (read_or_empty(p->image, &img, &ilen) != 0) {
		snprintf(err, errlen, "%s: %s", p->image, strerror(errno));
		goto out;
	}
	if (read_or_empty(p->log, &log, &llen) != 0) {
		snprintf(err, errlen, "%s: %s", p->log, strerror(errno));
		goto out;
	}
	h->reset(h->ud);
	if (sidelog_read(img, ilen, log, llen, last, apply_one, &x, &res,
	    why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s; refusing to start (nothing was "
		    "deleted)", p->dir, why);
		goto out;
	}
	if (h->loaded(h->ud, g, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s; refusing to start (nothing was "
		    "deleted)", p->dir, why);
		goto out;
	}
	if (res.log_keep < llen) {
		if (res.covered)
			log_info("emptying a side log its image covers file=%s "
			    "image_lsn=%" PRIu64, p->log, res.image_lsn);
		else
			log_warn("dropping the end of a side log file=%s bytes=%zu "
			    "after_journal=%zu journal_lsn=%" PRIu64 " torn=%s",
			    p->log, llen - res.log_keep, res.after_last, last,
			    res.torn ? "yes" : "no");
		if (cut_log(p->log, res.log_keep) != 0) {
			snprintf(err, errlen, "%s: truncate: %s", p->log,
			    strerror(errno));
			goto out;
		}
	}
	*log_len = res.log_keep;
	log_info("side stream read dir=%s image_lsn=%" PRIu64 " image_records=%zu "
	    "log_records=%zu", p->dir, res.image_lsn, res.image_records,
	    res.log_records);
	rc = 0;
out:
	wipe_free(img, ilen);
	wipe_free(log, llen);
	return rc;
}

int
sidestore_open_log(const struct sidestore_paths *p, char *err, size_t errlen)
{
	int existed = access(p->log, F_OK) == 0;
	int fd = open(p->log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || (!existed && datadir_fsync(p->dir) != 0)) {
		snprintf(err, errlen, "%s: %s", p->log, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
sidestore_prepare(const struct sidestore_paths *p, const void *image,
    size_t len, const char **what)
{
	return datadir_write_tmp(p->tmp, image, len, what);
}

int
sidestore_commit(const struct sidestore_paths *p, int log_fd, int *renamed,
    const char **what)
{
	if (datadir_commit_tmp(p->dir, p->image, p->tmp, renamed, what) != 0)
		return -1;
	/* Only now may the log go: the image holds all it said. */
	if (ftruncate(log_fd, 0) != 0 || fdatasync(log_fd) != 0) {
		*what = "log truncate";
		return -1;
	}
	return 0;
}
