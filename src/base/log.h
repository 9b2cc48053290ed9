/*
 * log.h - leveled logging to stderr.
 *
 * One line per event: "2026-11-23T10:00:00.123Z info  message". The level is
 * process-wide (it is how the operator configured the process, not broker
 * state), set at start and on SIGHUP.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_enabled(lvl) ((lvl) <= log_get_level())
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) \
	do { if (log_enabled(LOG_INFO)) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) \
	do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
