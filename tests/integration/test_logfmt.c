/*
 * Every line a real ketend writes in a short run (start, a referral, a
 * refused request, a status line, a reload, stop) is strict logfmt:
 * ts, level, prog, event, then key=value pairs, values bare or quoted.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "harness.h"

/* A bare value: no space, quote, '=' or control byte, not empty. A quoted
 * one: "..." with \" \\ \n \t \r \xHH only. The position after it, or
 * NULL. */
static const char *
value(const char *p)
{
	const char *start = p;

	if (*p != '"') {
		while (*p != '\0' && *p != ' ') {
			if (*p == '"' || *p == '=' || (unsigned char)*p < ' ' ||
			    *p == 0x7f)
				return NULL;
			p++;
		}
		return p == start ? NULL : p;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < ' ' || *p == 0x7f)
			return NULL;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'x') {
			if (!isxdigit((unsigned char)p[1]) ||
			    !isxdigit((unsigned char)p[2]))
				return NULL;
			p += 2;
		} else if (strchr("\"\\ntr", *p) == NULL || *p == '\0') {
			return NULL;
		}
	}
	return p + 1;
}

/* Whether line is strict logfmt beginning ts= level= prog= event=. */
static int
logfmt(const char *line)
{
	static const char *first[] = {"ts", "level", "prog", "event"};
	const char *p = line;
	size_t n = 0;

	while (*p != '\0') {
		const char *k = p;

		if (!islower((unsigned char)*p))
			return 0;
		while (islower((unsigned char)*p) ||
		       isdigit((unsigned char)*p) || *p == '_')
			p++;
		if (*p != '=')
			return 0;
		if (n < 4 && ((size_t)(p - k) != strlen(first[n]) ||
		              strncmp(k, first[n], (size_t)(p - k)) != 0))
			return 0;
		if ((p = value(p + 1)) == NULL)
			return 0;
		n++;
		if (*p == ' ' && p[1] != '\0')
			p++;
		else if (*p != '\0')
			return 0;
	}
	return n >= 4;
}

int
main(void)
{
	struct harness h;
	struct keten_referral_content ct = harness_content("logfmt-marker");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *c;
	struct keten_receipt rc;
	struct keten_error err;
	char line[4096];
	int lines = 0;
	FILE *f;

	/* The parser itself, on what it must refuse. */
	CHECK(logfmt("ts=1 level=info prog=ketend event=x a=\"b \\\"c\\\"\""));
	CHECK(!logfmt("ts=1 level=info prog=ketend event=x a=b c"));
	CHECK(!logfmt("ts=1 level=info prog=ketend event=x a=\"b"));
	CHECK(!logfmt("ts=1 level=info prog=ketend event=x a=b=c"));
	CHECK(!logfmt("ts=1 level=info prog=ketend event=x a="));
	CHECK(!logfmt("2026 ketend level=info event=x"));
	CHECK(!logfmt("ts=1 level=info prog=ketend event=x Key=1"));

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	ref.recipient = "lt-lelystad"; /* no route from team to team */
	CHECK(keten_send_referral(&rc, NULL, c, &ref, &err) != KETEN_OK);
	keten_client_destroy(&c);
	CHECK(harness_wait_log(&h, "event=refused", 1));
	CHECK_INT(harness_signal(&h, SIGUSR1), 0);
	CHECK(harness_wait_log(&h, "event=status", 1));
	CHECK_INT(harness_signal(&h, SIGHUP), 0);
	CHECK(harness_wait_log(&h, "event=reload result=ok", 1));
	CHECK_INT(harness_stop(&h), 0);

	CHECK((f = fopen(h.log, "r")) != NULL);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		CHECK(n > 0 && line[n - 1] == '\n');
		line[n - 1] = '\0';
		lines++;
		if (!logfmt(line))
			fprintf(stderr, "not logfmt: %s\n", line);
		CHECK(logfmt(line));
		/* Never content or a BSN. */
		CHECK(strstr(line, "logfmt-marker") == NULL);
		CHECK(strstr(line, ct.child.bsn) == NULL);
	}
	if (f != NULL)
		fclose(f);
	CHECK(lines >= 8);
	CHECK(harness_log_has(&h, "event=refused agency=lt-almere code="));
	CHECK(harness_log_has(&h, "event=stopped"));
	harness_cleanup(&h);
	return check_done("test_logfmt");
}
