/* log.c - stderr logging (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int stamp;	/* a terminal: we write the time */
static int journal;	/* systemd's journal: we write the priority */

/*
 * systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected
 * to stdout/stderr.  It is inherited by children whose stderr may point
 * elsewhere, so it only counts when it names our stderr.
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_level min)
{
	min_level = min;
	journal = stderr_is_journal();
	stamp = !journal && isatty(STDERR_FILENO);
}

int
log_enabled(enum log_level lvl)
{
	return lvl >= min_level;
}

void
log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	/* syslog(3) priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3 */
	static const char *const prio[] = { "<7>", "<6>", "<4>", "<3>" };
	char buf[1024];
	va_list ap;
	int n = 0;

	if (lvl < min_level)
		return;
	if (journal) {
		n = snprintf(buf, sizeof(buf), "%s%s: ", prio[lvl], component);
	} else {
		if (stamp) {
			struct timespec ts;
			struct tm tm;

			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			n = (int)strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ ", &tm);
		}
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %s: ",
		    names[lvl], component);
	}
	if (n < (int)sizeof(buf)) {
		va_start(ap, fmt);
		vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* One write per line, so lines of concurrent writers never mix. */
	fprintf(stderr, "%s\n", buf);
}
