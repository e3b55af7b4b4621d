/* log.c - stderr logging (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int stamp;

void
log_init(enum log_level min)
{
	min_level = min;
	stamp = isatty(STDERR_FILENO);
}

void
log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	char buf[1024];
	va_list ap;
	int n = 0;

	if (lvl < min_level)
		return;
	if (stamp) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %s: ", names[lvl], func);
	if (n < (int)sizeof(buf)) {
		va_start(ap, fmt);
		vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* One write per line, so lines of concurrent writers never mix. */
	fprintf(stderr, "%s\n", buf);
}
