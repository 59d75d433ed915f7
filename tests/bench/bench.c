/* Shared benchmark helpers (bench.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "bench.h"

double
bench_now_s(void)
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

void
bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double
bench_median(double *v, size_t n)
{
	bench_sort(v, n);
	return v[n / 2];
}

double
bench_pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

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

double
bench_verify_ceiling(unsigned threads, unsigned seconds)
{
	struct vjob *v = calloc(threads, sizeof(*v));
	pthread_t *th = calloc(threads, sizeof(*th));
	uint8_t sk[64];
	unsigned long total = 0;
	double t0, t1;

	if (v == NULL || th == NULL || sodium_init() < 0)
		abort();
	for (unsigned i = 0; i < threads; i++) {
		crypto_sign_keypair(v[i].pk, sk);
		randombytes_buf(v[i].msg, sizeof(v[i].msg));
		crypto_sign_detached(v[i].sig, NULL, v[i].msg, sizeof(v[i].msg),
		                     sk);
	}
	sodium_memzero(sk, sizeof(sk));
	atomic_store(&stop_verify, false);
	t0 = bench_now_s();
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, verify_loop, &v[i]) != 0)
			abort();
	nanosleep(&(struct timespec){(time_t)seconds, 0}, NULL);
	atomic_store(&stop_verify, true);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += v[i].n;
	}
	t1 = bench_now_s();
	free(v);
	free(th);
	return (double)total / (t1 - t0);
}

struct bench_mem
bench_memory(pid_t pid)
{
	struct bench_mem m = {0, 0, 0, 0};
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return m;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %" SCNu64, &m.rss);
		sscanf(line, "VmHWM: %" SCNu64, &m.hwm);
		sscanf(line, "RssAnon: %" SCNu64, &m.anon);
		sscanf(line, "RssFile: %" SCNu64, &m.file);
	}
	fclose(f);
	return m;
}
