/*
 * log.h - one line per event worth knowing, on stderr.
 *
 * Format: "LEVEL function: message", with "conn=N" in the message where a
 * connection is concerned.  systemd's journal adds the time stamp; when
 * stderr is a terminal we add one ourselves.
 */
#ifndef PARKD_LOG_H
#define PARKD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

void log_init(enum log_level min);
void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __func__, __VA_ARGS__)

#endif
