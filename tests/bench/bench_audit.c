/*
 * Audit benchmark: `keten_audit_verify` over a log of N referrals of about
 * 2 KiB recorded by a real ketend, R times, each run right after measuring
 * the machine's own Ed25519 verify rate on every core (the ceiling for an
 * audit, whose cost is nearly all signature checks): on a shared virtual
 * machine the ceiling drifts by a third within a minute, so each run is
 * held to the ceiling measured next to it. Prints each run's records/s and
 * ratio, and the medians. A benchmark, not a test: it never fails on time.
 *
 * usage: bench_audit [--records N] [--runs R]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "harness.h"

static struct harness H;

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'},
	    {"runs", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	size_t n = 100000, runs = 5;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double ceil_one, *rate, *ceil, *ratio;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (ch == 'r')
			runs = strtoul(optarg, NULL, 10);
		else {
			fprintf(
			    stderr,
			    "usage: bench_audit [--records N] [--runs R]\n");
			return 2;
		}
	}
	if (sodium_init() < 0 || n == 0 || runs == 0 || cpus < 1)
		return 1;
	ceil_one = bench_verify_ceiling(1, 2);
	printf("keten audit benchmark: %zu records, %zu run(s), %ld cores\n", n,
	       runs, cpus);
	printf("ceiling: Ed25519 verify of 2 KiB: %.0f/s on one core; on %ld, "
	       "measured before each run\n",
	       ceil_one, cpus);
	fflush(stdout);

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	harness_fill(&H, n, "audit bench");
	n += harness_first_seq(&H) - 1; /* the roster record(s) first */
	harness_drop_clients(&H);
	if (harness_stop(&H) != 0)
		fprintf(stderr, "bench: ketend did not stop cleanly\n");

	rate = calloc(runs, sizeof(*rate));
	ceil = calloc(runs, sizeof(*ceil));
	ratio = calloc(runs, sizeof(*ratio));
	if (rate == NULL || ceil == NULL || ratio == NULL)
		return 1;
	for (size_t r = 0; r < runs; r++) {
		struct keten_audit a;
		struct keten_error err;
		double t0, t;

		ceil[r] = bench_verify_ceiling((unsigned)cpus, 2);
		t0 = bench_now_s();
		if (keten_audit_verify(&a, H.config, H.data, &err) !=
		        KETEN_OK ||
		    a.records != n) {
			fprintf(stderr, "bench: audit: %s\n", err.message);
			return 1;
		}
		t = bench_now_s() - t0;
		rate[r] = (double)n / t;
		ratio[r] = rate[r] / ceil[r];
		printf(
		    "run %zu: ceiling %.0f/s; keten_audit_verify %zu records "
		    "in %.2f s: %.0f records/s (%.0f%% of the ceiling)\n",
		    r + 1, ceil[r], n, t, rate[r], 100.0 * ratio[r]);
		fflush(stdout);
	}
	printf("medians: %.0f records/s, ceiling %.0f/s, %.0f%% of the "
	       "%ld-core verify ceiling\n",
	       bench_median(rate, runs), bench_median(ceil, runs),
	       100.0 * bench_median(ratio, runs), cpus);
	free(rate);
	free(ceil);
	free(ratio);
	harness_cleanup(&H);
	return 0;
}
