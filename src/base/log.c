/* log.c - leveled logging to stderr, one write(2) per line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

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

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;
	va_list ap;

	if (level > current_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", (long)(tv.tv_usec / 1000),
		     level_names[level]);
	n += k > 0 ? (size_t)k : 0;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n = n + (size_t)k >= sizeof(line) - 1 ? sizeof(line) - 2 : n + (size_t)k;
	line[n++] = '\n';
	/* One write per line so concurrent writers never interleave mid-line. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}
