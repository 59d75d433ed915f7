/*
 * What a stopped subscriber costs the others in throughput: the
 * slow-subscriber scenario (tests/integration/stall.c) in pairs, a
 * baseline run whose fifth subscriber reads and a run where it is stopped,
 * each pair in the same minutes, and the median over the pairs of the
 * stopped run's delivery rate as a share of its baseline's. A benchmark,
 * not a test: it never fails on a figure (test_slow_subscriber asserts
 * what must hold).
 *
 * usage: bench_slow_subscriber [--records N] [--rounds R]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "stall.h"

#define ROUNDS_MAX 32

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"records", required_argument, NULL, 'n'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	size_t n = 50000, rounds = 3;
	double ratio[ROUNDS_MAX], base_rate[ROUNDS_MAX], stop_rate[ROUNDS_MAX];
	int c, rc;

	if ((rc = stall_subscriber_main(argc, argv)) >= 0)
		return rc;
	while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: %s [--records N] [--rounds R "
			        "(1..32)]\n",
			        argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (n < 5 || rounds < 1 || rounds > ROUNDS_MAX) {
		fprintf(stderr,
		        "%s: --records must be at least 5 and "
		        "--rounds 1..32\n",
		        argv[0]);
		return 2;
	}
	printf("%zu rounds of %zu messages: a baseline, then a stopped fifth "
	       "subscriber\n",
	       rounds, n);
	for (size_t i = 0; i < rounds; i++) {
		struct stall_result base, stalled;
		stall_phase(&base, argv[0], n, false);
		stall_phase(&stalled, argv[0], n, true);
		base_rate[i] = base.rate;
		stop_rate[i] = stalled.rate;
		ratio[i] = stalled.rate / base.rate;
		printf("round %zu: baseline %.0f msg/s, stopped %.0f msg/s "
		       "(%.0f%%), peak anonymous RSS %.1f / %.1f MiB\n",
		       i + 1, base.rate, stalled.rate, 100.0 * ratio[i],
		       (double)base.peak_rss / (1024 * 1024),
		       (double)stalled.peak_rss / (1024 * 1024));
		fflush(stdout);
	}
	printf("median: baseline %.0f msg/s, stopped %.0f msg/s, stopped/"
	       "baseline %.0f%%\n",
	       bench_median(base_rate, rounds), bench_median(stop_rate, rounds),
	       100.0 * bench_median(ratio, rounds));
	return 0;
}
