/*
 * Times as the CLI reads and writes them: ISO 8601 UTC moments, spans from
 * now, and spans for a person ("3d4h", "2h ago"). Reads only this
 * machine's clock; never judges a deadline (the broker and libketen do).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int64_t
cli_time_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
cli_time_parse(int64_t *us, struct keten_error *err, const char *arg,
               int64_t now_us)
{
	struct tm tm, back;
	time_t t;
	int n = -1;

	err->message[0] = '\0';
	/* the span's duration is libketen's: keten has one grammar */
	if (arg[0] == '+' || arg[0] == '-')
		return keten_duration_add(us, now_us, arg[0] == '+' ? 1 : -1,
		                          arg + 1, err) == KETEN_OK
		           ? 0
		           : -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(arg, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n < 0 || arg[n] != '\0' || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	back = tm;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* timegm normalises 2026-02-30 to March: refuse what it changed */
	if (tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon ||
	    tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return -1;
	*us = (int64_t)t * 1000000;
	return 0;
}

void
cli_time_refused(const char *verb, const char *opt, const char *forms,
                 const char *arg, const struct keten_error *err)
{
	if (err->message[0] != '\0')
		fprintf(stderr, "keten %s: --%s %s: %s\n", verb, opt, arg,
		        err->message);
	else
		fprintf(stderr, "keten %s: --%s takes %s, not '%s'\n", verb,
		        opt, forms, arg);
}

void
cli_time_span(char out[32], int64_t us)
{
	static const struct {
		int64_t s;
		char c;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	const char *sign = us < 0 ? "-" : "";
	int64_t s = (us < 0 ? -us : us) / 1000000, hi, lo;
	size_t i;

	if (s == 0 && us != 0) {
		snprintf(out, 32, "%s<1s", sign);
		return;
	}
	for (i = 0; i < 3 && s < units[i].s; i++)
		;
	hi = s / units[i].s;
	lo = i < 3 ? s % units[i].s / units[i + 1].s : 0;
	if (lo)
		snprintf(out, 32, "%s%" PRId64 "%c%" PRId64 "%c", sign, hi,
		         units[i].c, lo, units[i + 1].c);
	else
		snprintf(out, 32, "%s%" PRId64 "%c", sign, hi, units[i].c);
}

/* "2h ago", or "in 2h" when the moment lies after the reference. */
void
cli_time_ago(char out[40], int64_t then_us, int64_t at_us)
{
	char d[32];

	cli_time_span(d, then_us > at_us ? then_us - at_us : at_us - then_us);
	snprintf(out, 40, then_us > at_us ? "in %s" : "%s ago", d);
}

/* Ages are never negative: a record time after this machine's clock (one
 * of the two clocks is behind) is no age at all. */
void
cli_time_age(char out[32], int64_t then_us, int64_t at_us)
{
	cli_time_span(out, then_us > at_us ? 0 : at_us - then_us);
}

void
cli_time_since(char out[40], int64_t then_us, int64_t at_us)
{
	char d[32];

	if (then_us > at_us) {
		snprintf(out, 40, "in the future (clock behind?)");
		return;
	}
	cli_time_span(d, at_us - then_us);
	snprintf(out, 40, "%s ago", d);
}

void
cli_time_json(const char *key, int64_t us)
{
	char t[32];

	if (us == 0) {
		printf(",\"%s\":null", key);
		return;
	}
	cli_time(t, us);
	printf(",\"%s\":\"%s\"", key, t);
}

void
cli_time(char out[32], int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
cli_time_parse_at(int64_t *at_us, const char *verb, const char *arg)
{
	struct keten_error err;

	if (cli_time_parse(at_us, &err, arg, cli_time_now()) == 0)
		return 0;
	cli_time_refused(verb, "at",
	                 "an ISO 8601 UTC time (2026-11-30T17:00:00Z) or "
	                 "+DURATION (+2d, +3h, +90s, +2wd)",
	                 arg, &err);
	return -1;
}
