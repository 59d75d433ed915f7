/*
 * Audit benchmark: the machine's own Ed25519 verify rate on every core
 * (the ceiling for an audit, whose cost is nearly all signature checks),
 * then `keten_audit_verify` over a log of N referrals of about 2 KiB
 * recorded by a real ketend, R times. Prints each run's records/s, the
 * median, and its ratio to the ceiling. A benchmark, not a test: it never
 * fails on time.
 *
 * usage: bench_audit [--records N] [--runs R]
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"

static struct harness H;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- the ceiling: crypto_sign_verify_detached of 2 KiB, all cores ---- */

static atomic_bool stop_verify;

struct vjob {
	uint8_t pk[32], sig[64], msg[2048];
	unsigned long n;
};

static void *
verify_loop(void *arg)
{
	struct vjob *v = arg;

	while (!atomic_load(&stop_verify)) {
		if (crypto_sign_verify_detached(v->sig, v->msg, sizeof(v->msg),
		                                v->pk) != 0)
			abort();
		v->n++;
	}
	return NULL;
}

static double
ceiling(unsigned threads, double seconds)
{
	struct vjob *v = calloc(threads, sizeof(*v));
	pthread_t *th = calloc(threads, sizeof(*th));
	uint8_t sk[64];
	unsigned long total = 0;
	double t0, t1;

	if (v == NULL || th == NULL)
		abort();
	for (unsigned i = 0; i < threads; i++) {
		crypto_sign_keypair(v[i].pk, sk);
		randombytes_buf(v[i].msg, sizeof(v[i].msg));
		crypto_sign_detached(v[i].sig, NULL, v[i].msg, sizeof(v[i].msg),
		                     sk);
	}
	sodium_memzero(sk, sizeof(sk));
	atomic_store(&stop_verify, false);
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, verify_loop, &v[i]) != 0)
			abort();
	nanosleep(&(struct timespec){(time_t)seconds, 0}, NULL);
	atomic_store(&stop_verify, true);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += v[i].n;
	}
	t1 = now_s();
	free(v);
	free(th);
	return (double)total / (t1 - t0);
}

/* ---- the log ---- */

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
	double ceil_all, ceil_one, *rate;
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
	ceil_one = ceiling(1, 2);
	ceil_all = ceiling((unsigned)cpus, 2);
	printf("keten audit benchmark: %zu records, %zu run(s), %ld cores\n", n,
	       runs, cpus);
	printf("ceiling: Ed25519 verify of 2 KiB: %.0f/s on one core, %.0f/s "
	       "on %ld\n",
	       ceil_one, ceil_all, cpus);
	fflush(stdout);

	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&H);
	harness_fill(&H, n, "audit bench");
	harness_drop_clients(&H);
	if (harness_stop(&H) != 0)
		fprintf(stderr, "bench: ketend did not stop cleanly\n");

	rate = calloc(runs, sizeof(*rate));
	for (size_t r = 0; r < runs; r++) {
		struct keten_audit a;
		struct keten_error err;
		double t0 = now_s(), t;
		if (keten_audit_verify(&a, H.config, H.data, &err) !=
		        KETEN_OK ||
		    a.records != n) {
			fprintf(stderr, "bench: audit: %s\n", err.message);
			return 1;
		}
		t = now_s() - t0;
		rate[r] = (double)n / t;
		printf("run %zu: keten_audit_verify %zu records in %.2f s: "
		       "%.0f records/s (%.0f%% of the ceiling)\n",
		       r + 1, n, t, rate[r], 100.0 * rate[r] / ceil_all);
	}
	qsort(rate, runs, sizeof(*rate), cmp_double);
	printf("median: %.0f records/s, %.0f%% of the %ld-core verify "
	       "ceiling\n",
	       rate[runs / 2], 100.0 * rate[runs / 2] / ceil_all, cpus);
	free(rate);
	harness_cleanup(&H);
	return 0;
}
