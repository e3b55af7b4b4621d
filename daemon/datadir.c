/* datadir.c - names, listing and file helpers of the data directory (see datadir.h). */
#include "datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void
datadir_path(char *buf, size_t len, const char *dir, const char *kind,
    uint64_t lsn, const char *ext)
{
	snprintf(buf, len, "%s/%s-%016" PRIx64 "%s", dir, kind, lsn, ext);
}

int
datadir_fsync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
push_u64(uint64_t **arr, size_t *n, uint64_t v)
{
	uint64_t *na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (na == NULL)
		return -1;
	na[(*n)++] = v;
	*arr = na;
	return 0;
}

void
datadir_list_free(struct datadir_list *l)
{
	free(l->snaps);
	free(l->segs);
	memset(l, 0, sizeof(*l));
}

/*
 * Files name their LSN in exactly 16 hex digits; anything else in the
 * directory (audit.pos, probe.tmp, a stray file) is not ours to list.
 */
static int
named(const char *name, const char *prefix, const char *ext, uint64_t *lsn)
{
	size_t plen = strlen(prefix);
	const char *hex = name + plen + 1;

	if (strlen(name) != plen + 1 + 16 + strlen(ext) ||
	    strncmp(name, prefix, plen) != 0 || name[plen] != '-' ||
	    strspn(hex, "0123456789abcdefABCDEF") != 16 || strcmp(hex + 16, ext) != 0)
		return 0;
	*lsn = strtoull(hex, NULL, 16);
	return 1;
}

/* Sorts one name into l (or removes a leftover temporary): 0 or -1 (memory). */
static int
scan_one(const char *dir, const char *name, struct datadir_list *l, int clean_tmp)
{
	char p[DATADIR_PATH_MAX];
	uint64_t v;

	if (named(name, "snapshot", ".snap", &v))
		return push_u64(&l->snaps, &l->nsnap, v);
	if (named(name, "journal", ".log", &v))
		return push_u64(&l->segs, &l->nseg, v);
	if (clean_tmp && named(name, "snapshot", ".tmp", &v)) {
		/* A snapshot that never got renamed was never committed. */
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		unlink(p);
	}
	return 0;
}

int
datadir_scan(const char *dir, struct datadir_list *l, int clean_tmp, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	memset(l, 0, sizeof(*l));
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (scan_one(dir, e->d_name, l, clean_tmp) != 0) {
			closedir(d);
			datadir_list_free(l);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	closedir(d);
	if (l->nsnap)
		qsort(l->snaps, l->nsnap, sizeof(uint64_t), cmp_u64);
	if (l->nseg)
		qsort(l->segs, l->nseg, sizeof(uint64_t), cmp_u64);
	return 0;
}

int
datadir_read_file(const char *path, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

int
datadir_write_tmp(const char *tmp, const void *p, size_t len, const char **what)
{
	int fd, e;

	*what = "open";
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (datadir_write_at(fd, p, len, 0) != 0)
		*what = "write";
	else if (fdatasync(fd) != 0)
		*what = "fdatasync";
	else
		*what = NULL;
	e = errno;
	if (close(fd) != 0 && *what == NULL) {
		e = errno;
		*what = "close";
	}
	if (*what != NULL) {
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int
datadir_commit_tmp(const char *dir, const char *path, const char *tmp,
    int *renamed, const char **what)
{
	*renamed = 0;
	if (rename(tmp, path) != 0) {
		int e = errno;

		*what = "rename";
		unlink(tmp);
		errno = e;
		return -1;
	}
	*renamed = 1;
	if (datadir_fsync(dir) != 0) {
		*what = "fsync of the directory";
		return -1;
	}
	*what = NULL;
	return 0;
}

int
datadir_replace(const char *dir, const char *path, const char *tmp,
    const void *p, size_t len, int *renamed, const char **what)
{
	*renamed = 0;
	if (datadir_write_tmp(tmp, p, len, what) != 0)
		return -1;
	return datadir_commit_tmp(dir, path, tmp, renamed, what);
}

int
datadir_write_at(int fd, const void *p, size_t len, uint64_t off)
{
	const unsigned char *b = p;

	while (len > 0) {
		ssize_t w = pwrite(fd, b, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		b += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/*
 * Why flock(2): a POSIX (fcntl) lock belongs to the process and is dropped
 * as soon as the process closes any descriptor of the file, an easy way to
 * lose it unnoticed.  An flock lock belongs to the open file description
 * and lasts while any descriptor of that description is open.  The
 * snapshot child (snapshot.c) is forked with a copy of the descriptor and
 * closes it first thing (close_range): that releases nothing, since the
 * daemon's own descriptor stays open, and the child never calls flock, so
 * it cannot unlock the description it shares.  From then on the child
 * holds nothing of the lock: when the daemon dies the lock goes with it
 * even while the child still runs (and its death signal ends it anyway).
 * Only in the instant between fork and close_range does the child share
 * the description, and then it lives no longer than its copy.  An OFD
 * lock (F_OFD_SETLK) would behave the same; flock is the simpler call.
 */

/* The pid the holder wrote into LOCK, or 0 when it has not written it yet. */
static long
lock_holder(int fd)
{
	char buf[32];
	ssize_t n;
	long pid;
	char *end;

	/* The holder truncates and writes right after locking: wait a moment. */
	for (int tries = 0; tries < 10; tries++) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, &end, 10);
			if (end != buf && (*end == '\n' || *end == '\0') && pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return 0;
}

/* Records our pid in the locked file (advisory: no fsync). */
static int
write_pid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) != 0)
		return -1;
	return datadir_write_at(fd, buf, (size_t)n, 0);
}

int
datadir_lock(const char *dir, char *err, size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	int fd;
	long pid;

	snprintf(path, sizeof(path), "%s/LOCK", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
		else if ((pid = lock_holder(fd)) > 0)
			snprintf(err, errlen, "data_dir %s is in use by another parkd "
			    "(pid %ld, see %s); one daemon per data directory", dir, pid, path);
		else
			snprintf(err, errlen, "data_dir %s is in use by another process "
			    "(%s names no pid yet); one daemon per data directory", dir, path);
		close(fd);
		return -1;
	}
	if (write_pid(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
