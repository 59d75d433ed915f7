/*
 * Time: the wall and monotonic clocks (the only place that reads them), and
 * deadline lengths with their arithmetic, which never read a clock.
 */
#ifndef KETEN_CLOCK_H
#define KETEN_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

int64_t clock_now_us(void);  /* microseconds since the Unix epoch */
int64_t clock_mono_us(void); /* monotonic, for measuring durations */

/* A deadline length: either a fixed time or a number of working days. */
struct duration {
	int64_t us;            /* fixed length in microseconds, or 0 */
	unsigned working_days; /* Monday-Friday days, or 0 */
};

#define CLOCK_DURATION_MAX_DAYS 3650 /* the longest duration parsed */
#define CLOCK_DURATION_STR_MAX  40   /* room for clock_format_duration */

/* The grammar in words, for the errors that refuse a duration (the config's
 * and libketen's): the one grammar, documented in docs/keten.md,
 * "Durations". CLOCK_DURATION_MAX_DAYS is spelled out; a static assert in
 * clock.c keeps the two equal. */
#define CLOCK_DURATION_UNITS "45s, 30m, 12h, 3d or 5wd (working days)"
#define CLOCK_DURATION_RULE                                                    \
	"a whole number above 0 and a unit: " CLOCK_DURATION_UNITS             \
	", at most 3650 days"

/*
 * The one duration grammar of keten (the region config's deadlines, and
 * through libketen the CLI's spans): a positive whole number and a unit,
 * "45s", "30m", "12h", "3d" (fixed lengths) or "5wd" (working days). No
 * sign, space, fraction, sum or other unit; at most CLOCK_DURATION_MAX_DAYS
 * days (or as many working days). Returns 0, or -1 with *out untouched ("",
 * "5", "5x", "-1d", "0s", "+1d", "1h30m", "2w", "4000d", overflow).
 */
int clock_parse_duration(struct duration *out, const char *text) WUR;

/*
 * t_us plus d; reads no clock. Working days step one calendar day at a time
 * from t's day and count the day stepped onto if it is Monday to Friday in
 * UTC; the time of day is kept. So Friday 10:00 + 1wd and Saturday 10:00 +
 * 1wd are both Monday 10:00, and Monday 10:00 + 5wd is the next Monday
 * 10:00. Public holidays are not known. If d has both parts, the working days
 * are added first. The result saturates at INT64_MAX / INT64_MIN.
 */
int64_t clock_add(int64_t t_us, const struct duration *d);

/*
 * t_us minus d, the mirror of clock_add: working days step back one
 * calendar day at a time and count the day stepped onto if it is Monday to
 * Friday in UTC. So Monday 10:00 - 1wd and Sunday 10:00 - 1wd are both
 * Friday 10:00, and clock_sub(clock_add(t, d), d) == t when t is on a
 * working day. Working days are subtracted first; saturates like clock_add.
 */
int64_t clock_sub(int64_t t_us, const struct duration *d);

/*
 * Writes d as clock_parse_duration reads it, in the largest unit that is
 * exact: "5wd", "3d", "36h", "90s" ("0s" for no length). A length that is
 * not whole seconds, which the parser never makes, is written in "us"; one
 * with both parts as "5wd+12h". Truncates like snprintf; n >=
 * CLOCK_DURATION_STR_MAX always suffices.
 */
void clock_format_duration(char *out, size_t n, const struct duration *d);

#endif
