/*
 * reload.h - the configuration file at start and on SIGHUP.
 *
 * What a reload changes at once: tokens, limits, the allocation strategy
 * and the tariff (both journaled, as if an operator had set them), the
 * closed tickets kept for look-ups, payment methods, the snapshot pace,
 * audit's trimming and backlog, the city view's pace, the waitlist's
 * limits and the reservations' settings (for what is booked from then on).  What it cannot
 * change in a running process (settings_restart_keys: where parkd listens,
 * its data directory and durability, the facility, where audit and the
 * city view store) is logged by key as "needs a restart", not ignored.
 */
#ifndef PARKD_RELOAD_H
#define PARKD_RELOAD_H

#include <stddef.h>

#include "settings.h"

struct server;

#define CONFIG_MAX_BYTES (64u << 20)

/*
 * Reads a whole file of at most max bytes, NUL-terminated (blocking: for
 * start-up and for SIGHUP, whose file is small and local).  NULL with a
 * message in err.
 */
char *reload_read_file(const char *path, size_t max, size_t *len, char *err,
    size_t errlen);

struct reload_src {
	const char *path;		/* read again on every SIGHUP */
	/*
	 * Read instead of path when it exists (NULL: none): under systemd
	 * the file at path is a credential copied at start, never refreshed,
	 * and ExecReload puts the edited file here.
	 */
	const char *reload_path;
	const char *start_text;		/* the text the process started with */
	size_t start_len;
	/* Command-line flags: applied to every reading of the file. */
	int (*apply_flags)(struct settings *cfg, const void *opts, char *err,
	    size_t errlen);
	const void *opts;
	/* Top-level keys those flags replace: their changes need no restart. */
	const char *const *flag_keys;
	/* Fits limits to the process (open-file limit). */
	void (*fit)(struct settings *cfg);
};

/*
 * Re-reads src->path and applies it to s.  0, or -1 when the file cannot
 * be read or is invalid: the running configuration stays (logged).
 */
int reload_run(struct server *s, const struct reload_src *src);

/*
 * Start-up, after recovery: the tariff of the file is journaled as the
 * first version on a new data directory, and as a new version when it
 * differs from the one in force.
 */
void reload_start_tariff(struct server *s, struct settings *cfg);

#endif
