/* The log sink: one line per event; must never format content or keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "keten";
static enum log_level log_level = LOG_INFO;

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
}

static void log_vline(const char *lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_vline(const char *lvl, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s level=%s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_prog, lvl);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One fputs per line keeps lines from threads whole. */
	fprintf(stderr, "%s\n", line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vline(names[level], fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", fmt, ap);
	va_end(ap);
	abort();
}
