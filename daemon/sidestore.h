/*
 * sidestore.h - the files of a journal side stream (journal.h): their
 * names, reading them back, and replacing them with an image.
 *
 * Blocking file I/O, like datadir.h: loading runs at start-up and on the
 * loop while a failed journal is rebuilt; the rewrite runs on the thread
 * pool inside a batch's job, and at shutdown.  Errors are -1 with a
 * message (or errno and the step), never a record's contents.
 */
#ifndef PARKD_SIDESTORE_H
#define PARKD_SIDESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "datadir.h"
#include "journal.h"

struct sidestore_paths {
	char dir[DATADIR_PATH_MAX];	/* data_dir/NAME */
	char log[DATADIR_PATH_MAX];	/* .../NAME.log */
	char image[DATADIR_PATH_MAX];	/* .../NAME.db */
	char tmp[DATADIR_PATH_MAX];	/* .../NAME.db.tmp */
};

void sidestore_paths(struct sidestore_paths *p, const char *data_dir,
    const char *name);

/*
 * Reads the stream back into h (reset, then every record, then loaded
 * with g) against last, the main journal's last LSN: creates the
 * directory (0700) when missing, removes a temporary image left by a
 * crash, and cuts the log as lib/sidelog.h decides, logging what was cut
 * and why (never a record).  *log_len gets the log's length kept.
 * Returns 0, or -1 with the reason in err, having cut nothing.
 */
int sidestore_load(const struct sidestore_paths *p,
    const struct journal_side_hooks *h, const garage *g, uint64_t last,
    uint64_t *log_len, char *err, size_t errlen);

/* Opens the log for positioned writes (created 0600 when missing). */
int sidestore_open_log(const struct sidestore_paths *p, char *err,
    size_t errlen);

/*
 * Makes image[0..len) the stream's image and empties the log open at
 * log_fd, in two steps: sidestore_prepare writes the temporary file and
 * fdatasyncs it (the long part: tens of megabytes for a large registry);
 * sidestore_commit renames it over the image, fsyncs the directory, then
 * ftruncates and fdatasyncs the log.  Between them the log may grow only
 * by records the image covers.  Every step syncs whatever the durability
 * mode, for a rename must never leave an empty image and an erasure must
 * reach the disk.  0, or -1 with errno set and *what naming the step;
 * *renamed is 1 once the image is in place (the log then holds only
 * records it covers).
 */
int sidestore_prepare(const struct sidestore_paths *p, const void *image,
    size_t len, const char **what);
int sidestore_commit(const struct sidestore_paths *p, int log_fd,
    int *renamed, const char **what);

#endif
