/*
 * What abusive peers cost a well-behaved agency (issue 17): its receipt
 * latency, one referral at a time, alone (the baseline) and beside each
 * abuse of test_abuse_memory in turn, in the same run, with the broker's
 * resident memory in each phase; a second baseline at the end shows the
 * machine's drift. The never-reading fetchers are measured twice: from
 * their first request (while their fetches are still worked on, until
 * their replies reach the bound) and once under way. Default limits. A
 * benchmark: it never fails on a figure (test_abuse_memory asserts the
 * bounds).
 *
 * usage: bench_abuse [--receipts N]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "abuse.h"
#include "bench.h"

enum phase {
	BASE,
	MULTIPART,
	STALLED,
	STALLED_FIRST,
	IDLE,
	BASE_AGAIN,
	N_PHASES
};
static const char *NAMES[N_PHASES] = {
    "alone",
    "beside 400 x 1 MiB requests, repeated",
    "beside 3 connections fetching, never reading",
    "beside the same, from their first request",
    "beside 1,100 idle TCP connections",
    "alone, again"};

struct figures {
	double median, p99, max;
	long rss_before, peak, rss_after;
};

/* n receipts, one at a time, from c: their latencies in ms. */
static void
measure(struct figures *f, struct keten_client *c, size_t n, pid_t broker)
{
	struct keten_referral_content ct = harness_content("bench");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;
	double *ms = calloc(n, sizeof(*ms));

	if (ms == NULL)
		abort();
	f->rss_before = abuse_status_kib(broker, "VmRSS");
	abuse_reset_peak(broker);
	for (size_t i = 0; i < n; i++) {
		double t0 = bench_now_s();
		if (keten_send_referral(&rc, NULL, c, &ref, &err) != KETEN_OK)
			fprintf(stderr, "bench_abuse: %s\n", err.message);
		ms[i] = (bench_now_s() - t0) * 1000;
	}
	f->peak = abuse_status_kib(broker, "VmHWM");
	bench_sort(ms, n);
	f->median = bench_median(ms, n);
	f->p99 = bench_pct(ms, n, 0.99);
	f->max = ms[n - 1];
	free(ms);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"receipts", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct harness h;
	struct figures f[N_PHASES];
	struct keten_client *c;
	struct abuse a;
	size_t n = 1000;
	int ch;

	while ((ch = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		if (ch != 'n') {
			fprintf(stderr, "usage: %s [--receipts N]\n", argv[0]);
			return ch == 'h' ? 0 : 2;
		}
		n = strtoul(optarg, NULL, 10);
	}
	if (n < 100) {
		fprintf(stderr, "%s: --receipts must be at least 100\n",
		        argv[0]);
		return 2;
	}
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	harness_fill(&h, 3072, "inbox"); /* for the fetchers to fetch */
	c = harness_client(&h, "lt-lelystad");
	for (int p = 0; p < N_PHASES; p++) {
		if (p == MULTIPART)
			abuse_multipart_start(&a, &h, "lt-almere", true);
		else if (p == STALLED || p == STALLED_FIRST)
			abuse_stalled_start(&a, &h, "vt-flevoland", 0);
		else if (p == IDLE)
			abuse_idle_start(&a, &h);
		if (p != BASE && p != BASE_AGAIN && p != STALLED_FIRST)
			abuse_sleep_ms(1000); /* the abuse under way */
		measure(&f[p], c, n, h.pid);
		if (p != BASE && p != BASE_AGAIN)
			abuse_stop(&a);
		/* Up to 20 s for the memory to settle after it. */
		for (int i = 0; i < 200; i++) {
			f[p].rss_after = abuse_status_kib(h.pid, "VmRSS");
			if (f[p].rss_after <= f[BASE].rss_before + 16 * 1024)
				break;
			abuse_sleep_ms(100);
		}
	}
	keten_client_destroy(&c);
	printf("%zu receipts per phase, one at a time (ms); broker RSS (MiB) "
	       "before, peak, and after the abuse stopped\n",
	       n);
	printf("%-46s %7s %7s %7s %9s %6s %6s %6s\n", "phase", "median", "p99",
	       "max", "p99/base", "rss", "peak", "after");
	for (int p = 0; p < N_PHASES; p++)
		printf("%-46s %7.2f %7.2f %7.1f %9.2f %6.1f %6.1f %6.1f\n",
		       NAMES[p], f[p].median, f[p].p99, f[p].max,
		       f[p].p99 / f[BASE].p99, f[p].rss_before / 1024.0,
		       f[p].peak / 1024.0, f[p].rss_after / 1024.0);
	printf("peers dropped: %d, reply_dropped lines: %d\n",
	       harness_log_count(&h, "event=peer_dropped"),
	       harness_log_count(&h, "event=reply_dropped"));
	harness_stop(&h);
	harness_cleanup(&h);
	return 0;
}
