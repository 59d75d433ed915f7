/*
 * The broker's clock stepped back under libfaketime (Debian's faketime):
 * 400 days at a restart, 400 days while running, and before 1970. No record
 * may be dated before its predecessor or before 1970. Must never fake the
 * test's own clock: only ketend runs under the preload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../check.h"
#include "harness.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

static struct harness h;
static char rc_file[400], plain[400], allow[400];

/* Writes a script at path that runs ketend under libfaketime, its offset
 * read from rc_file at every clock call, with extra options. */
static void
wrapper(const char *path, const char *extra)
{
	const char *ketend = getenv("KETEND") ? getenv("KETEND") : KETEND_PATH;
	FILE *f = fopen(path, "w");

	if (f == NULL)
		exit(99);
	/* The monotonic clock stays real: libzmq's timers run on it. Under
	 * AddressSanitizer, libfaketime comes before its runtime in the
	 * library list, which it refuses unless told not to check. */
	fprintf(f,
	        "#!/bin/sh\nexec env LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s "
	        "FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 "
	        "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}"
	        "verify_asan_link_order=0\" '%s' \"$@\" %s\n",
	        FAKETIME_LIB, rc_file, ketend, extra);
	fclose(f);
	if (chmod(path, 0700) != 0)
		exit(99);
}

/* The broker's clock from now on: an offset faketime reads ("+0",
 * "-400d"). */
static void
set_clock(const char *offset)
{
	FILE *f = fopen(rc_file, "w");

	if (f == NULL)
		exit(99);
	fprintf(f, "%s\n", offset);
	fclose(f);
}

static void
use(const char *ketend)
{
	if (setenv("KETEND", ketend, 1) != 0)
		exit(99);
}

/* Sends n referrals as lt-almere; each receipt's time must not be before
 * *last (then moved to it) nor before 1970. */
static void
send_some(int n, int64_t *last)
{
	struct keten_referral_content ct = harness_content("clock");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_receipt rc;
	struct keten_error err;

	for (int i = 0; i < n; i++) {
		CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
		          KETEN_OK);
		CHECK(rc.received_at_us >= *last);
		CHECK(rc.received_at_us >= 0);
		*last = rc.received_at_us;
	}
	keten_client_destroy(&c);
}

struct walk {
	int64_t last;
	uint64_t n, earlier, negative;
};

static int
each_record(void *arg, const struct keten_record *r)
{
	struct walk *w = arg;

	w->earlier += r->received_at_us < w->last;
	w->negative += r->received_at_us < 0;
	w->last = r->received_at_us;
	w->n++;
	return 0;
}

/* The whole log as an auditor replays it: every record's time at or
 * after its predecessor's, none before 1970. */
static void
log_never_goes_back(uint64_t records)
{
	struct keten_client *au = harness_client(&h, "audit-inspectie");
	struct walk w = {.last = 0};
	struct keten_audit out;
	struct keten_error err;

	CHECK_INT(keten_audit_replay(&out, au, 0, NULL, each_record, &w, &err),
	          KETEN_OK);
	keten_client_destroy(&au);
	CHECK_INT(w.n, records);
	CHECK_INT(w.earlier, 0);
	CHECK_INT(w.negative, 0);
	printf("records %llu, earlier than their predecessor %llu, before "
	       "1970 %llu\n",
	       (unsigned long long)w.n, (unsigned long long)w.earlier,
	       (unsigned long long)w.negative);
}

int
main(void)
{
	char out[4096];
	int64_t last = 0;
	uint64_t first;

	if (sodium_init() < 0)
		return 99;
	if (access(FAKETIME_LIB, R_OK) != 0) {
		fprintf(stderr,
		        "test_clock_back: %s is missing: install the "
		        "faketime package (deploy/deps.sh)\n",
		        FAKETIME_LIB);
		return 1;
	}
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(rc_file, sizeof(rc_file), "%s/faketime.rc", h.dir);
	snprintf(plain, sizeof(plain), "%s/ketend-faketime", h.dir);
	snprintf(allow, sizeof(allow), "%s/ketend-faketime-allow", h.dir);
	wrapper(plain, "");
	wrapper(allow, "--allow-clock-behind");

	/* A few records on the right time. */
	set_clock("+0");
	use(plain);
	harness_start(&h);
	first = harness_first_seq(&h);
	send_some(3, &last);
	CHECK_INT(harness_stop(&h), 0);

	/* 400 days back at a restart: refused, with the reason. */
	set_clock("-400d");
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, "event=start_failed behind_s=345"));
	CHECK(harness_log_has(&h, "behind the log's time (its newest "
	                          "checkpoint), more than "
	                          "limits.clock_behind_tolerance_s (300 s)"));
	CHECK(harness_log_has(&h, "start with --allow-clock-behind"));

	/* The operator overrides: records keep the log's time. */
	use(allow);
	harness_start(&h);
	CHECK(harness_log_has(&h, "event=clock_behind behind_s=345"));
	CHECK(harness_log_has(&h, "override=allow-clock-behind"));
	send_some(3, &last);
	CHECK_INT(harness_log_count(&h, "event=clock_behind behind_us="), 1);

	/* The clock set right while running, then stepped back again: one
	 * line for each episode, never an earlier record. */
	set_clock("+0");
	send_some(1, &last);
	CHECK_INT(harness_log_count(&h, "event=clock_caught_up"), 1);
	set_clock("-400d");
	send_some(3, &last);
	CHECK_INT(harness_log_count(&h, "event=clock_behind behind_us="), 2);
	CHECK(harness_log_has(&h, "event=clock_behind behind_us=345"));
	log_never_goes_back(first + 9);
	CHECK_INT(harness_stop(&h), 0);

	/* Before 1970: refused as a wrong clock, override or not. */
	set_clock("-60y");
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, "the clock reads before 1970"));

	/* The log as written verifies offline. */
	CHECK_INT(harness_audit_verify(&h, out, sizeof(out)), 0);

	unsetenv("KETEND");
	harness_cleanup(&h);
	return check_done("test_clock_back");
}
