/*
 * Submit benchmark: pre-signed referrals of about 2 KiB on the wire,
 * against a real ketend (CURVE on, durable LMDB commits), at 1 and at 64
 * in flight, through libketen's pipelined API with every receipt verified.
 * Prints messages/s and p50/p99 receipt latency per run and their medians.
 * A benchmark, not a test: it never fails on time.
 *
 * usage: bench_submit [--runs R] [--single N] [--pipelined N] [--inflight K]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

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

static double
pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

struct result {
	double rate, p50_ms, p99_ms;
};

static void
die(const char *what, const struct keten_error *err)
{
	fprintf(stderr, "bench: %s: %s\n", what, err ? err->message : "");
	exit(1);
}

/* Submits msgs[0..n) keeping `inflight` outstanding. */
static struct result
run(struct keten_client *c, struct keten_prepared **msgs, size_t n,
    size_t inflight)
{
	double *start = calloc(n, sizeof(double)),
	       *lat = calloc(n, sizeof(double));
	uint64_t *tickets = calloc(n, sizeof(uint64_t)), ticket;
	struct keten_receipt rc;
	struct keten_error err;
	size_t sent = 0, done = 0;
	double t0 = now_s(), t1;
	struct result r;

	while (done < n) {
		while (sent < n && sent - done < inflight) {
			start[sent] = now_s();
			if (keten_submit_start(&tickets[sent], c, msgs[sent],
			                       &err) != KETEN_OK)
				die("submit", &err);
			sent++;
		}
		if (keten_submit_finish(&rc, &ticket, c, &err) != KETEN_OK)
			die("receipt", &err);
		/* Tickets are consecutive request ids: find its index. */
		size_t i = (size_t)(ticket - tickets[0]);
		if (i >= n || tickets[i] != ticket)
			die("unknown ticket", NULL);
		lat[done++] = (now_s() - start[i]) * 1000.0;
	}
	t1 = now_s();
	qsort(lat, n, sizeof(double), cmp_double);
	r.rate = (double)n / (t1 - t0);
	r.p50_ms = pct(lat, n, 0.50);
	r.p99_ms = pct(lat, n, 0.99);
	free(start);
	free(lat);
	free(tickets);
	return r;
}

static struct keten_prepared **
prepare(struct keten_client *c, size_t n, size_t *wire_bytes)
{
	static const char *concerns[] = {"huiselijk geweld", "schoolverzuim"};
	struct keten_prepared **msgs = calloc(n, sizeof(*msgs));
	struct keten_referral_content ct;
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_URGENT,
	                             .content = &ct};
	struct keten_error err;
	char notes[1650];

	memset(notes, 'n', sizeof(notes) - 1);
	notes[sizeof(notes) - 1] = '\0';
	memset(&ct, 0, sizeof(ct));
	ct.child.name = "Noor de Vries";
	ct.child.date_of_birth = "2016-04-12";
	ct.child.bsn = "111222333";
	ct.concerns = concerns;
	ct.n_concerns = 2;
	ct.safety_assessment = "acute onveiligheid niet uitgesloten";
	ct.request = "veiligheidsbeoordeling en onderzoek";
	ct.notes = notes;
	for (size_t i = 0; i < n; i++)
		if (keten_prepare_referral(&msgs[i], c, &ref, &err) != KETEN_OK)
			die("prepare", &err);
	*wire_bytes = keten_prepared_size(msgs[0]);
	return msgs;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return v[n / 2];
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"single", required_argument, NULL, 's'},
	    {"pipelined", required_argument, NULL, 'p'},
	    {"inflight", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	size_t runs = 3, n1 = 2000, n64 = 20000, k = 64, bytes;
	struct harness h;
	struct keten_client *c;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			runs = strtoul(optarg, NULL, 10);
			break;
		case 's':
			n1 = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			n64 = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			k = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_submit [--runs R] "
			                "[--single N] [--pipelined N] "
			                "[--inflight K]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 99 || n1 < 10 || n64 < 10 || k < 1 || k > 4096)
		return 2;

	double r1[99], p50_1[99], p99_1[99], rk[99], p50_k[99], p99_k[99];
	printf("keten submit benchmark: %zu run(s); %zu msgs at 1 in flight, "
	       "%zu at %zu in flight\n",
	       runs, n1, n64, k);
	printf("broker: ketend, CURVE, durable LMDB commits (fsync), 2 verify "
	       "workers; client: libketen, receipts verified\n");
	for (size_t run_i = 0; run_i < runs; run_i++) {
		struct keten_prepared **m1, **mk;
		struct result a, b;

		harness_region(&h, harness_flevoland, harness_flevoland_n,
		               NULL);
		harness_start(&h);
		c = harness_client(&h, "lt-almere");
		m1 = prepare(c, n1, &bytes);
		mk = prepare(c, n64, &bytes);
		if (run_i == 0)
			printf("message: %zu bytes on the wire (envelope + "
			       "sealed content)\n",
			       bytes);
		a = run(c, m1, n1, 1);
		b = run(c, mk, n64, k);
		printf("run %zu: 1 in flight: %8.0f msg/s  p50 %.3f ms  p99 "
		       "%.3f ms | %zu in flight: %8.0f msg/s  p50 %.3f ms  p99 "
		       "%.3f ms\n",
		       run_i + 1, a.rate, a.p50_ms, a.p99_ms, k, b.rate,
		       b.p50_ms, b.p99_ms);
		fflush(stdout);
		r1[run_i] = a.rate;
		p50_1[run_i] = a.p50_ms;
		p99_1[run_i] = a.p99_ms;
		rk[run_i] = b.rate;
		p50_k[run_i] = b.p50_ms;
		p99_k[run_i] = b.p99_ms;
		for (size_t i = 0; i < n1; i++)
			keten_prepared_free(&m1[i]);
		for (size_t i = 0; i < n64; i++)
			keten_prepared_free(&mk[i]);
		free(m1);
		free(mk);
		keten_client_destroy(&c);
		if (harness_stop(&h) != 0)
			fprintf(stderr, "bench: ketend did not stop cleanly\n");
		harness_cleanup(&h);
	}
	printf("median: 1 in flight: %.0f msg/s, p50 %.3f ms, p99 %.3f ms\n",
	       median(r1, runs), median(p50_1, runs), median(p99_1, runs));
	printf("median: %zu in flight: %.0f msg/s, p50 %.3f ms, p99 %.3f ms\n",
	       k, median(rk, runs), median(p50_k, runs), median(p99_k, runs));
	return 0;
}
