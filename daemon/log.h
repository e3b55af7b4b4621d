/*
 * log.h - one line per event worth knowing, on stderr.
 *
 * A line names the part of parkd it comes from (audit, journal, conn, ...)
 * and states facts as key=value after a short sentence, so that people can
 * read it and scripts can parse it:
 *
 *	warn audit: Redis is gone, reconnecting error="Connection refused" backlog=12
 *
 * Under systemd (stderr is the journal stream JOURNAL_STREAM names) each
 * line starts with its syslog priority instead of the level word ("<4>"),
 * so that `journalctl -p warning` selects it; the journal stamps the time.
 * On a terminal we stamp it ourselves.
 *
 * Each .c file names its component by defining LOG_COMPONENT before it
 * includes this header; a file that does not is logged as "parkd".
 */
#ifndef PARKD_LOG_H
#define PARKD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

/* Reads the environment once: the minimum level, the journal, a terminal. */
void log_init(enum log_level min);
void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether lines at lvl are written (skip costly formatting otherwise). */
int log_enabled(enum log_level lvl);

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "parkd"
#endif

#define log_debug(...) log_msg(LOG_DEBUG, LOG_COMPONENT, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, LOG_COMPONENT, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, LOG_COMPONENT, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, LOG_COMPONENT, __VA_ARGS__)

#endif
