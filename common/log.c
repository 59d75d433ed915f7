/* The log sink: strict logfmt, one line per event, journald priorities
 * under systemd; must never format content or keys. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

static const char *log_prog = "keten";
static enum log_level log_level = LOG_INFO;
static bool log_journal;

/* Whether stderr is the stream systemd connected to the journal: its
 * device and inode are $JOURNAL_STREAM's (systemd.exec(5)). A
 * redirected stderr of a child keeps the variable but not the inode. */
static bool
log_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
	log_journal = log_is_journal();
}

const char *
log_q(const char *s)
{
	static _Thread_local char ring[LOG_Q_RING][LOG_Q_MAX + 8];
	static _Thread_local unsigned next;
	char *out = ring[next++ % LOG_Q_RING], *o = out;
	/* Room for the closing quote and NUL after any one escape. */
	const char *end = out + LOG_Q_MAX;
	bool bare = s != NULL && *s != '\0';

	if (s == NULL)
		s = "";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f)
			bare = false;
	if (bare && strlen(s) <= LOG_Q_MAX)
		return s;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o < end;
	     p++) {
		if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p;
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else if (*p < ' ' || *p == 0x7f) {
			o += snprintf(o, 5, "\\x%02x", *p);
		} else {
			*o++ = (char)*p;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

static void log_vline(const char *lvl, int prio, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * A line vsnprintf cut at the end of buf (cap bytes): cut again where a
 * value is whole, never inside a quoted value or its escape, and marked
 * " cut=true", so that what is logged still parses as logfmt.
 */
static void
log_cut(char *buf, size_t cap)
{
	size_t end = cap - sizeof(" cut=true"), last_whole = 0;
	bool quoted = false;

	/* The last space outside quotes before end: the fields before it
	 * are whole; the one after it is dropped. */
	for (size_t i = 0; i < end && buf[i] != '\0'; i++) {
		if (quoted && buf[i] == '\\')
			i++; /* an escaped byte */
		else if (buf[i] == '"')
			quoted = !quoted;
		else if (buf[i] == ' ' && !quoted)
			last_whole = i;
	}
	snprintf(buf + last_whole, cap - last_whole, " cut=true");
}

static void
log_vline(const char *lvl, int prio, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int n = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", prio);
	n +=
	    snprintf(line + n, sizeof(line) - (size_t)n,
	             "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s "
	             "prog=%s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, lvl, log_prog);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	if (vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap) >=
	    (int)(sizeof(line) - (size_t)n))
		log_cut(line, sizeof(line));
	/* A raw control byte would end or forge a line: never written. */
	len = strlen(line);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = '?';
	/* One write per line keeps lines from threads whole. */
	fprintf(stderr, "%s\n", line);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	/* sd-daemon.h: SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
	static const int prio[] = {3, 4, 6, 7};
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vline(names[level], prio[level], fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", 2, fmt, ap); /* SD_CRIT */
	va_end(ap);
	abort();
}
