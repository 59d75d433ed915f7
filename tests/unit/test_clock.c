/*
 * clock: durations parse only in their five forms (keten's one grammar, the
 * config's and the CLI's), print back in the shortest one, and add or
 * subtract working days across weekends in UTC, checked against gmtime_r
 * stepping one day at a time.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "clock.h"

#define SEC_US  INT64_C(1000000)
#define HOUR_US (INT64_C(3600) * SEC_US)
#define DAY_US  (INT64_C(86400) * SEC_US)

/* UTC, 10:00 unless named otherwise (2024-02-29 is a leap day). */
#define THU_0229          INT64_C(1709200800000000)
#define FRI_0301          INT64_C(1709287200000000)
#define SAT_0302          INT64_C(1709373600000000)
#define SUN_0303          INT64_C(1709460000000000)
#define MON_0304          INT64_C(1709546400000000)
#define TUE_0305          INT64_C(1709632800000000)
#define FRI_0308          INT64_C(1709892000000000)
#define MON_0311          INT64_C(1710151200000000)
#define WED_0228_0930     INT64_C(1709112600000000)
#define SAT_19691227_1200 INT64_C(-388800000000)
#define MON_19691229_1200 INT64_C(-216000000000)

static struct duration
wd(unsigned n)
{
	return (struct duration){.working_days = n};
}

static struct duration
fixed(int64_t us)
{
	return (struct duration){.us = us};
}

/* Parses text and expects exactly d. */
static void
expect_parse(const char *text, struct duration d)
{
	struct duration out = {-1, 99};

	CHECK_INT(clock_parse_duration(&out, text), 0);
	if (out.us != d.us || out.working_days != d.working_days)
		fprintf(stderr, "'%s' parsed as us=%lld wd=%u\n", text,
		        (long long)out.us, out.working_days);
	CHECK_INT(out.us, d.us);
	CHECK_INT(out.working_days, d.working_days);
}

/* Formats d and expects text; parsing text gives d back. */
static void
expect_format(struct duration d, const char *text)
{
	char buf[CLOCK_DURATION_STR_MAX];

	clock_format_duration(buf, sizeof(buf), &d);
	if (strcmp(buf, text) != 0)
		fprintf(stderr, "formatted as '%s', want '%s'\n", buf, text);
	CHECK(strcmp(buf, text) == 0);
}

static void
test_parse(void)
{
	expect_parse("45s", fixed(45 * SEC_US));
	expect_parse("30m", fixed(30 * 60 * SEC_US));
	expect_parse("12h", fixed(12 * HOUR_US));
	expect_parse("3d", fixed(3 * DAY_US));
	expect_parse("5wd", wd(5));
	expect_parse("1s", fixed(SEC_US));
	expect_parse("1wd", wd(1));
	expect_parse("90m", fixed(90 * 60 * SEC_US));
	/* The largest of each unit: 3650 days. */
	expect_parse("3650d", fixed(3650 * DAY_US));
	expect_parse("87600h", fixed(3650 * DAY_US));
	expect_parse("5256000m", fixed(3650 * DAY_US));
	expect_parse("315360000s", fixed(3650 * DAY_US));
	expect_parse("3650wd", wd(3650));
	/* Leading zeros are only digits. */
	expect_parse("05d", fixed(5 * DAY_US));
}

static void
test_refused(void)
{
	static const char *const bad[] = {
	    "",
	    "5",
	    "5x",
	    "-1d",
	    "+1d",
	    "0s",
	    "0wd",
	    "00d",
	    "0d",
	    " 5d",
	    "5d ",
	    "5 d",
	    "5D",
	    "5WD",
	    "5w",
	    "5wdd",
	    "5dw",
	    "5ds",
	    "1.5h",
	    "1,5h",
	    "d",
	    "wd",
	    "s",
	    "3651d",
	    "3651wd",
	    "87601h",
	    "5256001m",
	    "315360001s",
	    "99999999999999999999999s",
	    "18446744073709551617wd",
	    "4294967297wd",
	    "0x10s",
	    "1e3s",
	    "5d\n",
	    /* The CLI's old spellings: weeks and sums are not durations. */
	    "2w",
	    "1w",
	    "1h30m",
	    "1d12h",
	    "5wd2h",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct duration out = {7, 7};

		if (clock_parse_duration(&out, bad[i]) != -1)
			fprintf(stderr, "'%s' was accepted\n", bad[i]);
		CHECK_INT(clock_parse_duration(&out, bad[i]), -1);
		/* A refusal leaves the output as it was. */
		CHECK_INT(out.us, 7);
		CHECK_INT(out.working_days, 7);
	}
}

static void
test_format(void)
{
	char buf[CLOCK_DURATION_STR_MAX], small[4];
	struct duration d;

	expect_format(wd(5), "5wd");
	expect_format(wd(10), "10wd");
	expect_format(fixed(45 * SEC_US), "45s");
	expect_format(fixed(90 * SEC_US), "90s");
	expect_format(fixed(60 * SEC_US), "1m");
	expect_format(fixed(30 * 60 * SEC_US), "30m");
	expect_format(fixed(HOUR_US), "1h");
	expect_format(fixed(36 * HOUR_US), "36h");
	expect_format(fixed(24 * HOUR_US), "1d");
	expect_format(fixed(7 * DAY_US), "7d");
	expect_format(fixed(3650 * DAY_US), "3650d");
	expect_format(fixed(DAY_US + SEC_US), "86401s");
	expect_format(fixed(0), "0s");
	/* Forms the parser never makes still print exactly. */
	expect_format(fixed(1500000), "1500000us");
	expect_format((struct duration){12 * HOUR_US, 5}, "5wd+12h");
	expect_format((struct duration){INT64_MIN, UINT32_MAX},
	              "4294967295wd+-9223372036854775808us");

	/* Round trips: every form prints back as itself. */
	{
		static const char *const forms[] = {
		    "1s",  "59s",  "61s",    "1m",         "59m",    "61m",
		    "1h",  "23h",  "25h",    "1d",         "3650d",  "1wd",
		    "5wd", "10wd", "3650wd", "315359999s", "87599h",
		};

		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			CHECK_INT(clock_parse_duration(&d, forms[i]), 0);
			clock_format_duration(buf, sizeof(buf), &d);
			if (strcmp(buf, forms[i]) != 0)
				fprintf(stderr, "'%s' came back as '%s'\n",
				        forms[i], buf);
			CHECK(strcmp(buf, forms[i]) == 0);
		}
	}
	/* And every length in seconds up to two days survives the trip. */
	for (int64_t s = 1; s <= 2 * 86400; s++) {
		struct duration back;

		d = fixed(s * SEC_US);
		clock_format_duration(buf, sizeof(buf), &d);
		if (clock_parse_duration(&back, buf) != 0 || back.us != d.us ||
		    back.working_days != 0) {
			CHECK(!"round trip");
			fprintf(stderr, "%llds -> '%s'\n", (long long)s, buf);
			break;
		}
	}

	/* A short buffer is truncated and terminated, like snprintf. */
	d = wd(3650);
	clock_format_duration(small, sizeof(small), &d);
	CHECK(strcmp(small, "365") == 0);
}

/* The oracle: step whole UTC days with gmtime_r, forward (dir 1) or back
 * (dir -1), counting Mon-Fri. */
static int64_t
step_days(int64_t t_us, unsigned n, int dir)
{
	while (n > 0) {
		time_t secs;
		struct tm tm;

		t_us += dir * DAY_US;
		secs = (time_t)((t_us - (((t_us % SEC_US) + SEC_US) % SEC_US)) /
		                SEC_US);
		gmtime_r(&secs, &tm);
		if (tm.tm_wday >= 1 && tm.tm_wday <= 5)
			n--;
	}
	return t_us;
}

static void
test_add(void)
{
	struct duration d;

	/* Across the weekend, from each day of it. */
	d = wd(1);
	CHECK_INT(clock_add(THU_0229, &d), FRI_0301);
	CHECK_INT(clock_add(FRI_0301, &d), MON_0304);
	CHECK_INT(clock_add(SAT_0302, &d), MON_0304);
	CHECK_INT(clock_add(SUN_0303, &d), MON_0304);
	CHECK_INT(clock_add(MON_0304, &d), TUE_0305);
	d = wd(2);
	CHECK_INT(clock_add(THU_0229, &d), MON_0304);
	CHECK_INT(clock_add(FRI_0301, &d), TUE_0305);
	CHECK_INT(clock_add(SAT_0302, &d), TUE_0305);
	/* Leap day counted as the Thursday it is. */
	d = wd(2);
	CHECK_INT(clock_add(WED_0228_0930, &d),
	          FRI_0301 - 10 * HOUR_US + 9 * HOUR_US + 30 * 60 * SEC_US);
	/* A week of working days. */
	d = wd(5);
	CHECK_INT(clock_add(MON_0304, &d), MON_0311);
	CHECK_INT(clock_add(FRI_0301, &d), FRI_0308);
	CHECK_INT(clock_add(SAT_0302, &d), FRI_0308);
	CHECK_INT(clock_add(SUN_0303, &d), FRI_0308);
	d = wd(10);
	CHECK_INT(clock_add(FRI_0301, &d), FRI_0308 + 7 * DAY_US);
	/* The time of day is kept to the microsecond, Friday's last one
	 * included: it is still Friday in UTC. */
	d = wd(1);
	CHECK_INT(clock_add(FRI_0301 + 14 * HOUR_US - 1, &d),
	          MON_0304 + 14 * HOUR_US - 1);
	/* Before 1970 (negative times): Saturday 27 December 1969. */
	CHECK_INT(clock_add(SAT_19691227_1200, &d), MON_19691229_1200);
	/* No working days: unchanged, even on a Sunday. */
	d = wd(0);
	CHECK_INT(clock_add(SUN_0303, &d), SUN_0303);

	/* Fixed lengths ignore the weekend. */
	d = fixed(DAY_US);
	CHECK_INT(clock_add(FRI_0301, &d), SAT_0302);
	d = fixed(45 * SEC_US);
	CHECK_INT(clock_add(FRI_0301, &d), FRI_0301 + 45 * SEC_US);
	d = fixed(12 * HOUR_US);
	CHECK_INT(clock_add(SAT_0302, &d), SAT_0302 + 12 * HOUR_US);
	/* Both parts: working days first, then the fixed length. */
	d = (struct duration){12 * HOUR_US, 1};
	CHECK_INT(clock_add(FRI_0301, &d), MON_0304 + 12 * HOUR_US);
	/* Saturates instead of wrapping. */
	d = fixed(DAY_US);
	CHECK_INT(clock_add(INT64_MAX - 5, &d), INT64_MAX);
	d = wd(3650);
	CHECK_INT(clock_add(INT64_MAX - DAY_US, &d), INT64_MAX);
	d = wd(UINT32_MAX);
	CHECK_INT(clock_add(0, &d), INT64_MAX);

	/* Every start in four weeks, each hour, against the oracle. */
	for (int64_t t = SAT_19691227_1200 - 14 * DAY_US;
	     t < SAT_19691227_1200 + 14 * DAY_US; t += HOUR_US + 17)
		for (unsigned n = 0; n <= 12; n++) {
			d = wd(n);
			if (clock_add(t, &d) != step_days(t, n, 1)) {
				CHECK_INT(clock_add(t, &d), step_days(t, n, 1));
				fprintf(stderr, "t=%lld n=%u\n", (long long)t,
				        n);
				return;
			}
		}
	for (int64_t t = MON_0304 - 14 * DAY_US; t < MON_0304 + 14 * DAY_US;
	     t += HOUR_US + 17)
		for (unsigned n = 0; n <= 12; n++) {
			d = wd(n);
			if (clock_add(t, &d) != step_days(t, n, 1)) {
				CHECK_INT(clock_add(t, &d), step_days(t, n, 1));
				fprintf(stderr, "t=%lld n=%u\n", (long long)t,
				        n);
				return;
			}
		}
	/* The longest: ten years of working days from each weekday. */
	for (int k = 0; k < 7; k++) {
		d = wd(3650);
		CHECK_INT(clock_add(MON_0304 + k * DAY_US, &d),
		          step_days(MON_0304 + k * DAY_US, 3650, 1));
	}
}

/* clock_sub against the oracle from every hour in [from, to); and from a
 * working day, back from where clock_add lands is where it started. */
static int
sub_range(int64_t from, int64_t to)
{
	struct duration d;

	for (int64_t t = from; t < to; t += HOUR_US + 17)
		for (unsigned n = 0; n <= 12; n++) {
			d = wd(n);
			if (clock_sub(t, &d) != step_days(t, n, -1)) {
				CHECK_INT(clock_sub(t, &d),
				          step_days(t, n, -1));
				fprintf(stderr, "t=%lld n=%u\n", (long long)t,
				        n);
				return -1;
			}
			if (step_days(t - DAY_US, 1, 1) == t &&
			    clock_sub(clock_add(t, &d), &d) != t) {
				CHECK_INT(clock_sub(clock_add(t, &d), &d), t);
				fprintf(stderr, "t=%lld n=%u\n", (long long)t,
				        n);
				return -1;
			}
		}
	return 0;
}

static void
test_sub(void)
{
	struct duration d;

	/* The mirror of test_add: back across the weekend. */
	d = wd(1);
	CHECK_INT(clock_sub(MON_0304, &d), FRI_0301);
	CHECK_INT(clock_sub(SUN_0303, &d), FRI_0301);
	CHECK_INT(clock_sub(SAT_0302, &d), FRI_0301);
	CHECK_INT(clock_sub(FRI_0301, &d), THU_0229);
	CHECK_INT(clock_sub(TUE_0305, &d), MON_0304);
	d = wd(5);
	CHECK_INT(clock_sub(MON_0311, &d), MON_0304);
	CHECK_INT(clock_sub(FRI_0308, &d), FRI_0301);
	CHECK_INT(clock_sub(MON_19691229_1200, &d),
	          MON_19691229_1200 - 7 * DAY_US);
	/* Fixed lengths, and both parts: working days first. */
	d = fixed(DAY_US);
	CHECK_INT(clock_sub(MON_0304, &d), SUN_0303);
	d = (struct duration){12 * HOUR_US, 1};
	CHECK_INT(clock_sub(MON_0304, &d), FRI_0301 - 12 * HOUR_US);
	/* Saturates instead of wrapping. */
	d = fixed(DAY_US);
	CHECK_INT(clock_sub(INT64_MIN + 5, &d), INT64_MIN);
	d = wd(UINT32_MAX);
	CHECK_INT(clock_sub(0, &d), INT64_MIN);

	/* Every start in four weeks, each hour, against the oracle. */
	if (sub_range(SAT_19691227_1200 - 14 * DAY_US,
	              SAT_19691227_1200 + 14 * DAY_US) != 0 ||
	    sub_range(MON_0304 - 14 * DAY_US, MON_0304 + 14 * DAY_US) != 0)
		return;
	for (int k = 0; k < 7; k++) {
		d = wd(3650);
		CHECK_INT(clock_sub(MON_0304 + k * DAY_US, &d),
		          step_days(MON_0304 + k * DAY_US, 3650, -1));
	}
}

int
main(void)
{
	test_parse();
	test_refused();
	test_format();
	test_add();
	test_sub();
	return check_done("test_clock");
}
