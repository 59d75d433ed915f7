/*
 * The log line: strict logfmt (ts, level, prog, then the event's fields),
 * log_q's quoting and escaping, and the journald priority prefix only
 * when stderr is $JOURNAL_STREAM.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "log.h"

static char path[] = "/tmp/test_log.XXXXXX";

/* Points JOURNAL_STREAM at the log file (match) or elsewhere, re-inits
 * the log, writes body as one line at level, and returns the file's last line.
 */
static const char *
one_line(const char *journal, enum log_level level, const char *body)
{
	static char buf[4096];
	char *nl, *last;
	ssize_t n;
	int fd, save;

	if (journal != NULL)
		setenv("JOURNAL_STREAM", journal, 1);
	else
		unsetenv("JOURNAL_STREAM");
	/* stderr is the file while the log looks at it and writes. */
	fflush(stderr);
	save = dup(2);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(save >= 0 && fd >= 0 && dup2(fd, 2) == 2);
	log_init("test_log", LOG_DEBUG);
	log_msg(level, "%s", body);
	fflush(stderr);
	CHECK(dup2(save, 2) == 2);
	close(save);
	close(fd);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* The last line, without its newline; the file is truncated after. */
	if ((nl = strrchr(buf, '\n')) != NULL)
		*nl = '\0';
	last = strrchr(buf, '\n');
	CHECK(truncate(path, 0) == 0);
	return last ? last + 1 : buf;
}

/* Whether s ends outside a quoted value (escapes skipped). */
static bool
quotes_closed(const char *s)
{
	bool quoted = false;

	for (; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
	}
	return !quoted;
}

static void
check_q(const char *in, const char *want)
{
	CHECK_STR_HAS(log_q(in), want);
	CHECK_INT(strlen(log_q(in)), strlen(want));
}

int
main(void)
{
	char match[64], big[2000];
	const char *line, *q[LOG_Q_RING];
	struct stat st;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	printf("quoting\n");
	check_q("lt-almere", "lt-almere");
	check_q("tcp://127.0.0.1:9000", "tcp://127.0.0.1:9000");
	check_q("", "\"\"");
	check_q(NULL, "\"\"");
	check_q("no space left", "\"no space left\"");
	check_q("key=value", "\"key=value\"");
	check_q("say \"hi\"", "\"say \\\"hi\\\"\"");
	check_q("a\\b", "\"a\\\\b\"");
	check_q("two\nlines\ttab\rcr", "\"two\\nlines\\ttab\\rcr\"");
	check_q("bell\x07", "\"bell\\x07\"");
	check_q("caf\xc3\xa9", "caf\xc3\xa9");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[5] = ' ';
	line = log_q(big);
	CHECK(line[0] == '"' && line[strlen(line) - 1] == '"');
	CHECK(strlen(line) <= LOG_Q_MAX + 2);
	/* A whole line's worth stay valid together. */
	for (int i = 0; i < LOG_Q_RING; i++) {
		snprintf(big, sizeof(big), "v %d", i);
		q[i] = log_q(big);
	}
	for (int i = 0; i < LOG_Q_RING; i++) {
		snprintf(big, sizeof(big), "\"v %d\"", i);
		CHECK_STR_HAS(q[i], big);
	}

	printf("the line\n");
	CHECK(fstat(fd, &st) == 0);
	snprintf(big, sizeof(big), "event=refused reason=%s",
	         log_q("no \"such\" agency"));
	line = one_line(NULL, LOG_INFO, big);
	CHECK(strncmp(line, "ts=", 3) == 0);
	CHECK(strlen(line) > 27 && line[7] == '-' && line[13] == 'T' &&
	      line[26] == 'Z' && line[27] == ' ');
	CHECK_STR_HAS(line, "Z level=info prog=test_log event=refused "
	                    "reason=\"no \\\"such\\\" agency\"");
	/* A raw control byte never reaches the file. */
	line = one_line(NULL, LOG_WARN, "event=x note=a\nb\x01");
	CHECK_STR_HAS(line, " level=warn prog=test_log event=x note=a?b?");

	/* A line longer than the log's buffer (2,048 bytes): cut where a
	 * value is whole, never inside a quote, and marked. */
	{
		static char body[4000], value[401];
		size_t len = 0;

		memset(value, 'y', 400);
		value[0] = '"';
		value[100] = ' ';
		len += (size_t)snprintf(body, sizeof(body), "event=long");
		for (int i = 0; i < 6; i++)
			len += (size_t)snprintf(body + len, sizeof(body) - len,
			                        " f%d=%s", i, log_q(value));
		CHECK(len > 2048);
		line = one_line(NULL, LOG_INFO, body);
		CHECK(strlen(line) < 2048);
		CHECK(quotes_closed(line));
		CHECK(strlen(line) > 9 &&
		      strcmp(line + strlen(line) - 9, " cut=true") == 0);
		CHECK_STR_HAS(line, " event=long f0=\"\\\"yyy");
	}

	printf("journald priorities\n");
	snprintf(match, sizeof(match), "%llu:%llu",
	         (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	line = one_line(match, LOG_ERR, "event=e");
	CHECK(strncmp(line, "<3>ts=", 6) == 0);
	CHECK_STR_HAS(line, " level=error prog=test_log event=e");
	CHECK(strncmp(one_line(match, LOG_WARN, "event=w"), "<4>ts=", 6) == 0);
	CHECK(strncmp(one_line(match, LOG_INFO, "event=i"), "<6>ts=", 6) == 0);
	CHECK(strncmp(one_line(match, LOG_DEBUG, "event=d"), "<7>ts=", 6) == 0);
	/* Another stream (a child's redirected stderr keeps the variable),
	 * or garbage: no prefix. */
	snprintf(match, sizeof(match), "%llu:%llu",
	         (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + 1);
	CHECK(strncmp(one_line(match, LOG_ERR, "event=e"), "ts=", 3) == 0);
	CHECK(strncmp(one_line("junk", LOG_ERR, "event=e"), "ts=", 3) == 0);
	snprintf(match, sizeof(match), "%llu:%llux",
	         (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	CHECK(strncmp(one_line(match, LOG_ERR, "event=e"), "ts=", 3) == 0);
	close(fd);
	unlink(path);
	return check_done("test_log");
}
