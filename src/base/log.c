/*
 * log.c - leveled logging to stderr, lines formatted straight into one
 * process-wide buffer; written at once or, while buffering, once per
 * event-loop turn (log.h).
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024        /* longer lines are cut (and end with '\n') */
#define BUFFER_BYTES (64 * 1024)   /* at least LINE_MAX_BYTES */

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* As they appear in a line: padded to 5 columns. */
static const char *const level_columns[] = { "error", "warn ", "info ", "debug" };

static struct {
	pthread_mutex_t mu;
	bool buffering;
	bool exit_hook;
	time_t stamp_sec;          /* the second stamp[] was formatted for */
	size_t stamp_len;
	char stamp[32];            /* "2026-11-23T10:00:00" */
	volatile size_t len;       /* bytes in buf (read by the crash handler) */
	char buf[BUFFER_BYTES];
} lg = { .mu = PTHREAD_MUTEX_INITIALIZER, .stamp_sec = -1 };

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level >= LOG_ERROR && level <= LOG_DEBUG ? level_names[level] : "?";
}

/* write(2) until done; async-signal-safe (the crash handler uses it). */
static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(STDERR_FILENO, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return; /* nowhere left to report a failing stderr */
		p += k;
		n -= (size_t)k;
	}
}

static void flush_locked(void)
{
	write_all(lg.buf, lg.len);
	lg.len = 0;
}

/* "2026-11-23T10:00:00.123Z info  " into out; its length. strftime runs
 * once a second, not once a line. */
static size_t format_prefix(char *out, enum log_level level)
{
	struct timeval tv;
	struct tm tm;
	unsigned ms;
	size_t n;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != lg.stamp_sec && gmtime_r(&tv.tv_sec, &tm)) {
		lg.stamp_len = strftime(lg.stamp, sizeof(lg.stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		lg.stamp_sec = tv.tv_sec;
	}
	memcpy(out, lg.stamp, lg.stamp_len);
	n = lg.stamp_len;
	ms = (unsigned)(tv.tv_usec / 1000);
	out[n++] = '.';
	out[n++] = (char)('0' + ms / 100);
	out[n++] = (char)('0' + ms / 10 % 10);
	out[n++] = (char)('0' + ms % 10);
	out[n++] = 'Z';
	out[n++] = ' ';
	memcpy(out + n, level_columns[level], 5);
	n += 5;
	out[n++] = ' ';
	return n;
}

/* A line of n bytes (its '\n' included) was formatted at the end of the
 * buffer: it is in; out at once unless buffering, or for warn and error. */
static void line_done(enum log_level level, size_t n)
{
	lg.len += n;
	if (!lg.buffering || level <= LOG_WARN)
		flush_locked();
}

/* Where the next line goes, with room for LINE_MAX_BYTES. */
static char *line_start(void)
{
	if (BUFFER_BYTES - lg.len < LINE_MAX_BYTES)
		flush_locked();
	return lg.buf + lg.len;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char *line;
	size_t n;
	int k;
	va_list ap;

	if (level > current_level)
		return;
	pthread_mutex_lock(&lg.mu);
	line = line_start();
	n = format_prefix(line, level);
	va_start(ap, fmt);
	k = vsnprintf(line + n, LINE_MAX_BYTES - n, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n = n + (size_t)k >= LINE_MAX_BYTES - 1 ? LINE_MAX_BYTES - 1 : n + (size_t)k;
	line[n++] = '\n';
	line_done(level, n);
	pthread_mutex_unlock(&lg.mu);
}

void log_text(enum log_level level, const char *text, size_t len)
{
	char *line;
	size_t n;

	if (level > current_level)
		return;
	pthread_mutex_lock(&lg.mu);
	line = line_start();
	n = format_prefix(line, level);
	if (len > LINE_MAX_BYTES - 1 - n)
		len = LINE_MAX_BYTES - 1 - n;
	memcpy(line + n, text, len);
	n += len;
	line[n++] = '\n';
	line_done(level, n);
	pthread_mutex_unlock(&lg.mu);
}

void log_flush(void)
{
	pthread_mutex_lock(&lg.mu);
	if (lg.len)
		flush_locked();
	pthread_mutex_unlock(&lg.mu);
}

void log_buffering(bool on)
{
	pthread_mutex_lock(&lg.mu);
	if (on && !lg.exit_hook) {
		lg.exit_hook = true;
		atexit(log_flush);
	}
	lg.buffering = on;
	if (!on && lg.len)
		flush_locked();
	pthread_mutex_unlock(&lg.mu);
}

/* The process is dying: what is buffered goes out (no lock: the thread
 * that crashed may hold it), then the signal's default action. */
static void crash_flush(int sig)
{
	size_t n = lg.len;

	write_all(lg.buf, n < sizeof(lg.buf) ? n : sizeof(lg.buf));
	lg.len = 0;
	raise(sig); /* SA_RESETHAND: the default action now */
}

void log_flush_on_crash(void)
{
	static const int fatal[] = { SIGABRT,
#if !defined(__SANITIZE_ADDRESS__)
				     /* AddressSanitizer reports these itself */
				     SIGSEGV, SIGBUS, SIGILL, SIGFPE
#endif
	};
	static bool installed;
	struct sigaction sa;

	if (installed)
		return;
	installed = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_flush;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}
