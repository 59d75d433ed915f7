/*
 * The broker's benchmark, in one run (issue 5's list):
 *  1. the machine's own Ed25519 verify rate (2 KiB) on one core and on all
 *     of them: the reference ceiling, since the broker verifies one
 *     signature per message;
 *  2. the broker with CURVE on and durable commits: pre-signed referrals
 *     of about 2 KiB at 1, 16, 64 and 256 in flight through libketen's
 *     pipelined API, every receipt verified; messages/s and p50/p99/p999
 *     receipt latency, each rate also as a share of the ceiling;
 *  3. the broker's peak resident memory (VmHWM) and anonymous memory;
 *  4. keten_audit_verify over the resulting log: records/s and its share
 *     of the ceiling.
 * A fresh broker and data directory per run; medians over the runs. A
 * benchmark, not a test: it never fails on time.
 *
 * usage: bench_submit [--runs R] [--single N] [--pipelined N] [--only K]
 * --only K (repeatable) runs only the in-flight level K, for profiling.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "harness.h"

#define N_LEVELS 4
static const size_t LEVELS[N_LEVELS] = {1, 16, 64, 256};
static bool level_on[N_LEVELS] = {true, true, true, true};

struct result {
	double rate, p50_ms, p99_ms, p999_ms;
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
	double t0 = bench_now_s(), t1;
	struct result r;

	while (done < n) {
		while (sent < n && sent - done < inflight) {
			start[sent] = bench_now_s();
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
		lat[done++] = (bench_now_s() - start[i]) * 1000.0;
	}
	t1 = bench_now_s();
	bench_sort(lat, n);
	r.rate = (double)n / (t1 - t0);
	r.p50_ms = bench_pct(lat, n, 0.50);
	r.p99_ms = bench_pct(lat, n, 0.99);
	r.p999_ms = bench_pct(lat, n, 0.999);
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

static void
free_all(struct keten_prepared **m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		keten_prepared_free(&m[i]);
	free(m);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"single", required_argument, NULL, 's'},
	    {"pipelined", required_argument, NULL, 'p'},
	    {"only", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	size_t runs = 3, n1 = 2000, nk = 20000, bytes = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool only = false;
	double rate[N_LEVELS][99], p50[N_LEVELS][99], p99[N_LEVELS][99],
	    p999[N_LEVELS][99], hwm[99], anon[99], audit[99];
	double ceil_one, ceil_all;
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
			nk = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			if (!only) {
				memset(level_on, 0, sizeof(level_on));
				only = true;
			}
			for (size_t l = 0; l < N_LEVELS; l++)
				if (LEVELS[l] == strtoul(optarg, NULL, 10))
					level_on[l] = true;
			break;
		default:
			fprintf(stderr, "usage: bench_submit [--runs R] "
			                "[--single N] [--pipelined N] "
			                "[--only K]...\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 99 || n1 < 10 || nk < 10 || cpus < 1)
		return 2;

	printf("keten broker benchmark: %zu run(s); %zu messages at 1 in "
	       "flight, %zu at each of 16, 64, 256\n",
	       runs, n1, nk);
	printf("broker: ketend, CURVE, durable LMDB commits (fsync); client: "
	       "libketen on the same %ld cores, receipts verified\n",
	       cpus);
	ceil_one = bench_verify_ceiling(1, 2);
	ceil_all = bench_verify_ceiling((unsigned)cpus, 2);
	printf("ceiling: Ed25519 verify of 2 KiB: %.0f/s on one core, %.0f/s "
	       "on %ld\n",
	       ceil_one, ceil_all, cpus);
	fflush(stdout);
	for (size_t run_i = 0; run_i < runs; run_i++) {
		struct keten_prepared **m[N_LEVELS];
		struct harness h;
		struct keten_client *c;
		struct keten_audit a;
		uint64_t roster;
		struct keten_error err;
		struct bench_mem mem;
		size_t total = 0;
		double t0;

		harness_region(&h, harness_flevoland, harness_flevoland_n,
		               NULL);
		harness_start(&h);
		c = harness_client(&h, "lt-almere");
		for (size_t l = 0; l < N_LEVELS; l++)
			m[l] =
			    level_on[l]
			        ? prepare(c, LEVELS[l] == 1 ? n1 : nk, &bytes)
			        : NULL;
		if (run_i == 0)
			printf("message: %zu bytes on the wire (envelope + "
			       "sealed content)\n",
			       bytes);
		printf("run %zu:", run_i + 1);
		for (size_t l = 0; l < N_LEVELS; l++) {
			size_t n = LEVELS[l] == 1 ? n1 : nk;
			struct result r;
			if (!level_on[l])
				continue;
			r = run(c, m[l], n, LEVELS[l]);
			printf(" | %zu: %.0f/s p50 %.2f p99 %.2f p999 %.2f ms",
			       LEVELS[l], r.rate, r.p50_ms, r.p99_ms,
			       r.p999_ms);
			rate[l][run_i] = r.rate;
			p50[l][run_i] = r.p50_ms;
			p99[l][run_i] = r.p99_ms;
			p999[l][run_i] = r.p999_ms;
			free_all(m[l], n);
			total += n;
		}
		printf("\n");
		mem = bench_memory(h.pid);
		hwm[run_i] = (double)mem.hwm / 1024;
		anon[run_i] = (double)mem.anon / 1024;
		keten_client_destroy(&c);
		if (harness_stop(&h) != 0)
			fprintf(stderr, "bench: ketend did not stop cleanly\n");
		/* The log opens with the region's roster record(s). */
		roster = harness_first_seq(&h) - 1;
		t0 = bench_now_s();
		if (keten_audit_verify(&a, h.config, h.data, &err) !=
		        KETEN_OK ||
		    a.records != total + roster)
			die("audit", &err);
		audit[run_i] = (double)total / (bench_now_s() - t0);
		printf("       ketend peak RSS %.1f MiB (anonymous now %.1f "
		       "MiB); keten_audit_verify %zu records: %.0f/s\n",
		       hwm[run_i], anon[run_i], total, audit[run_i]);
		fflush(stdout);
		harness_cleanup(&h);
	}
	printf("\nmedians of %zu run(s):\n", runs);
	for (size_t l = 0; l < N_LEVELS; l++) {
		double r = bench_median(rate[l], runs);
		if (!level_on[l])
			continue;
		printf("  %3zu in flight: %7.0f messages/s (%3.0f%% of the "
		       "verify ceiling), receipt p50 %.2f ms, p99 %.2f ms, "
		       "p999 %.2f ms\n",
		       LEVELS[l], r, 100.0 * r / ceil_all,
		       bench_median(p50[l], runs), bench_median(p99[l], runs),
		       bench_median(p999[l], runs));
	}
	{
		double r = bench_median(audit, runs);
		printf("  keten_audit_verify: %.0f records/s (%.0f%% of the "
		       "verify ceiling)\n",
		       r, 100.0 * r / ceil_all);
	}
	printf("  ketend peak RSS %.1f MiB, anonymous %.1f MiB\n",
	       bench_median(hwm, runs), bench_median(anon, runs));
	return 0;
}
