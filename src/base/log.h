/*
 * log.h - leveled logging to stderr.
 *
 * One line per event: "2026-11-23T10:00:00.123Z info  message". The level is
 * process-wide (it is how the operator configured the process, not broker
 * state), set at start and on SIGHUP.
 *
 * Buffering (like nginx's `access_log ... buffer=`): while log_buffering is
 * on, info and debug lines (the HTTP access log among them) collect in a
 * fixed process-wide buffer and go out in one write(2) when log_flush is
 * called (the server does, once per event-loop turn) or when the buffer is
 * full. A warn or error line flushes the buffer and itself at once, so lines
 * always reach stderr in the order they were logged and problems are never
 * held back. What is buffered is also written at exit (atexit), and by
 * log_flush_on_crash's signal handlers before the process dies of SIGABRT,
 * SIGSEGV, SIGBUS, SIGILL or SIGFPE. Thread-safe: a mutex guards the
 * buffer (worker threads log too).
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs a message formatted by the caller (len bytes, no newline): for a
 * line written on every request, without printf's cost. */
void log_text(enum log_level level, const char *text, size_t len);

/* Turns buffering on or off (off flushes first). Off by default: a line is
 * written as it is logged. */
void log_buffering(bool on);
/* Writes what is buffered (nothing to do when nothing is). */
void log_flush(void);
/* Installs the crash handlers described above (once; the signals a
 * sanitizer reports itself are left to it). */
void log_flush_on_crash(void);

#define log_enabled(lvl) ((lvl) <= log_get_level())
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) \
	do { if (log_enabled(LOG_INFO)) log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) \
	do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
