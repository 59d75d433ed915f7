/*
 * Time sources, and deadline arithmetic in UTC days counted from the epoch.
 * Only clock_now_us and clock_mono_us read a clock; nothing here reads the
 * time zone or calls gmtime/timegm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define SECOND_US INT64_C(1000000)
#define DAY_US    (INT64_C(86400) * SECOND_US)

int64_t
clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

_Static_assert(CLOCK_DURATION_MAX_DAYS == 3650,
               "CLOCK_DURATION_RULE spells out the limit");

static const struct {
	const char *word;
	int64_t seconds; /* 0: working days */
} units[] = {
    {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"wd", 0},
};

int
clock_parse_duration(struct duration *out, const char *text)
{
	const char *p = text;
	int64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	/* The bound keeps v*unit far from overflow; it is checked below. */
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > CLOCK_DURATION_MAX_DAYS * 86400)
			return -1;
	if (v == 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].word) != 0)
			continue;
		if (units[i].seconds == 0) {
			if (v > CLOCK_DURATION_MAX_DAYS)
				return -1;
			*out = (struct duration){.working_days = (unsigned)v};
			return 0;
		}
		if (v >
		    CLOCK_DURATION_MAX_DAYS * INT64_C(86400) / units[i].seconds)
			return -1;
		*out =
		    (struct duration){.us = v * units[i].seconds * SECOND_US};
		return 0;
	}
	return -1;
}

static int64_t
add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* Monday 0 .. Sunday 6; day 0, 1970-01-01, was a Thursday. */
static int64_t
weekday(int64_t day)
{
	return ((day % 7) + 7 + 3) % 7;
}

/* The calendar days from a day of weekday w to n working days later (see
 * clock.h). */
static int64_t
working_days_span(int64_t w, unsigned n)
{
	int64_t back = 0, rem = n % 5;

	if (n == 0)
		return 0;
	/* Saturday and Sunday count like the Friday before: the days stepped
	 * onto are the same. */
	if (w > 4) {
		back = w - 4;
		w = 4;
	}
	return (int64_t)(n / 5) * 7 + rem + (w + rem > 4 ? 2 : 0) - back;
}

/* t's day, floored for times before 1970. */
static int64_t
day_of(int64_t t_us)
{
	int64_t day = t_us / DAY_US;

	return t_us % DAY_US < 0 ? day - 1 : day;
}

int64_t
clock_add(int64_t t_us, const struct duration *d)
{
	int64_t span, wd_us;

	span = working_days_span(weekday(day_of(t_us)), d->working_days);
	if (__builtin_mul_overflow(span, DAY_US, &wd_us))
		return INT64_MAX;
	return add_sat(add_sat(t_us, wd_us), d->us);
}

int64_t
clock_sub(int64_t t_us, const struct duration *d)
{
	int64_t span, wd_us;

	/* Stepping back from weekday w meets the same days as stepping
	 * forward from 4 - w: the mirror maps Monday-Friday onto itself. */
	span = working_days_span((4 - weekday(day_of(t_us)) + 7) % 7,
	                         d->working_days);
	if (__builtin_mul_overflow(span, DAY_US, &wd_us))
		return INT64_MIN;
	return add_sat(add_sat(t_us, -wd_us),
	               d->us == INT64_MIN ? INT64_MAX : -d->us);
}

void
clock_format_duration(char *out, size_t n, const struct duration *d)
{
	int64_t s = d->us / SECOND_US;
	char wd[16] = "";

	if (d->working_days != 0) {
		snprintf(wd, sizeof(wd), "%uwd%s", d->working_days,
		         d->us != 0 ? "+" : "");
		if (d->us == 0) {
			snprintf(out, n, "%s", wd);
			return;
		}
	}
	if (d->us % SECOND_US != 0)
		snprintf(out, n, "%s%" PRId64 "us", wd, d->us);
	else if (s != 0 && s % 86400 == 0)
		snprintf(out, n, "%s%" PRId64 "d", wd, s / 86400);
	else if (s != 0 && s % 3600 == 0)
		snprintf(out, n, "%s%" PRId64 "h", wd, s / 3600);
	else if (s != 0 && s % 60 == 0)
		snprintf(out, n, "%s%" PRId64 "m", wd, s / 60);
	else
		snprintf(out, n, "%s%" PRId64 "s", wd, s);
}
