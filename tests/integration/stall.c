/*
 * One run of the slow-subscriber scenario, shared by test_slow_subscriber
 * (what must hold) and bench_slow_subscriber (what it costs): a new ketend
 * on an empty data directory, n messages built and signed beforehand,
 * from four senders; four subscriber threads that receive and acknowledge,
 * and a fifth recipient getting a fifth of the messages, whose subscriber
 * is a process of its own that may be stopped (SIGSTOP) with a waiting
 * request outstanding. Measures; asserts nothing.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "stall.h"

#define N_FAST        4
#define N_SEND        4
#define WINDOW        64
#define CHUNK         512
#define SLOW          "slow"
#define MIB           (1024 * 1024)
#define RSS_SLACK_MIB 32

static struct harness H;
static const char *FAST[N_FAST] = {"fast-0", "fast-1", "fast-2", "fast-3"};
static const char *SEND[N_SEND] = {"lt-0", "lt-1", "lt-2", "lt-3"};

static void
stall_die(const char *what)
{
	fprintf(stderr, "slow subscriber scenario: %s\n", what);
	exit(1);
}

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The broker's anonymous resident memory (heap, stacks, ZeroMQ
 * buffers), in bytes; 0 if unreadable. */
static uint64_t
anon_rss(pid_t pid)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* ---- the slow recipient's subscriber: a process of its own ---- */

static int
subscriber(const char *config, const char *key)
{
	struct keten_client *c;
	struct keten_error err;

	if (keten_client_new(&c, config, key, &err) != KETEN_OK)
		return 2;
	for (;;) {
		struct keten_inbox *in = NULL;
		uint64_t cur;
		if (keten_receive(&in, c, 256, 1000, &err) != KETEN_OK)
			continue;
		if (in->n > 0 && keten_ack(&cur, c, in->messages[in->n - 1].seq,
		                           &err) != KETEN_OK)
			fprintf(stderr, "slow: ack: %s\n", err.message);
		keten_inbox_free(&in);
	}
}

/* ---- the four that keep reading ---- */

static atomic_bool stop_fast;
static atomic_ulong delivered;
static atomic_uint_fast64_t last_delivery_ns;

static void *
fast_main(void *arg)
{
	struct keten_client *c = harness_client(&H, arg);
	struct keten_error err;

	while (!atomic_load(&stop_fast)) {
		struct keten_inbox *in = NULL;
		uint64_t cur;
		if (keten_receive(&in, c, 256, 200, &err) != KETEN_OK) {
			fprintf(stderr, "%s: %s\n", (char *)arg, err.message);
			continue;
		}
		if (in->n > 0) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			atomic_fetch_add(&delivered, in->n);
			atomic_store(&last_delivery_ns,
			             (uint64_t)t.tv_sec * 1000000000u +
			                 (uint64_t)t.tv_nsec);
			if (keten_ack(&cur, c, in->messages[in->n - 1].seq,
			              &err) != KETEN_OK)
				fprintf(stderr, "%s: ack: %s\n", (char *)arg,
				        err.message);
		}
		keten_inbox_free(&in);
	}
	keten_client_destroy(&c);
	return NULL;
}

/* Sends n messages (every fifth to the slow recipient), built and signed
 * before the clock starts, while the four receive; returns when the four
 * have all theirs. */
static void
run(struct stall_result *res, size_t n)
{
	struct keten_referral_content ct = harness_content("slow");
	struct keten_prepared **p = calloc(n, sizeof(*p));
	pthread_t th[N_FAST];
	uint64_t to_fast = 0, rss;
	double t0;
	int idle = 0;

	if (p == NULL)
		stall_die("out of memory");
	for (size_t k = 0; k < n; k++) {
		struct keten_referral ref = {.urgency = KETEN_URGENCY_ROUTINE,
		                             .content = &ct};
		struct keten_error err;
		ref.recipient = k % 5 == 4 ? SLOW : FAST[k % 5];
		to_fast += k % 5 != 4;
		if (keten_prepare_referral(
		        &p[k], harness_agency(&H, SEND[k / CHUNK % N_SEND]),
		        &ref, &err) != KETEN_OK) {
			fprintf(stderr, "prepare: %s\n", err.message);
			exit(1);
		}
	}
	atomic_store(&stop_fast, false);
	atomic_store(&delivered, 0);
	res->peak_rss = anon_rss(H.pid);
	for (int i = 0; i < N_FAST; i++)
		if (pthread_create(&th[i], NULL, fast_main,
		                   (void *)(uintptr_t)FAST[i]) != 0)
			stall_die("cannot start a subscriber thread");
	t0 = now_s();
	for (size_t base = 0; base < n; base += CHUNK) {
		struct keten_client *c =
		    harness_agency(&H, SEND[base / CHUNK % N_SEND]);
		size_t m = n - base < CHUNK ? n - base : CHUNK, sent = 0,
		       done = 0;
		struct keten_error err;

		while (done < m) {
			struct keten_receipt r;
			uint64_t ticket;
			while (sent < m && sent - done < WINDOW)
				if (keten_submit_start(&ticket, c,
				                       p[base + sent++],
				                       &err) != KETEN_OK) {
					fprintf(stderr, "submit: %s\n",
					        err.message);
					exit(1);
				}
			if (keten_submit_finish(&r, &ticket, c, &err) !=
			    KETEN_OK) {
				fprintf(stderr, "receipt: %s\n", err.message);
				exit(1);
			}
			done++;
		}
		if ((rss = anon_rss(H.pid)) > res->peak_rss)
			res->peak_rss = rss;
	}
	/* Until the four have everything (or 60 s of no progress). */
	while (atomic_load(&delivered) < to_fast && idle < 600) {
		unsigned long before = atomic_load(&delivered);
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		idle = atomic_load(&delivered) == before ? idle + 1 : 0;
		if ((rss = anon_rss(H.pid)) > res->peak_rss)
			res->peak_rss = rss;
	}
	res->delivered = atomic_load(&delivered);
	res->rate = (double)to_fast /
	            ((double)atomic_load(&last_delivery_ns) / 1e9 - t0);
	atomic_store(&stop_fast, true);
	for (int i = 0; i < N_FAST; i++)
		pthread_join(th[i], NULL);
	res->to_fast = to_fast;
	for (size_t k = 0; k < n; k++)
		keten_prepared_free(&p[k]);
	free(p);
}

static pid_t
spawn_slow(const char *self)
{
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		execl(self, self, "--subscriber", H.config,
		      harness_key(&H, SLOW), (char *)NULL);
		_exit(2);
	}
	if (pid < 0)
		stall_die("cannot fork the slow subscriber");
	return pid;
}

static const char *const REGION[] = {
    "fast-0:veilig_thuis", "fast-1:veilig_thuis", "fast-2:veilig_thuis",
    "fast-3:veilig_thuis", "slow:veilig_thuis",   "lt-0:local_team",
    "lt-1:local_team",     "lt-2:local_team",     "lt-3:local_team"};

/* The messages the stopped subscriber's inbox holds after its cursor. */
static uint64_t
waiting_for_slow(void)
{
	struct keten_client *c = harness_agency(&H, SLOW);
	struct keten_inbox *in = NULL;
	struct keten_error err;
	uint64_t waiting = 0, cur;

	for (;;) {
		if (keten_fetch(&in, c, 1024, &err) != KETEN_OK)
			stall_die(err.message);
		if (in == NULL || in->n == 0)
			break;
		waiting += in->n;
		if (keten_ack(&cur, c, in->messages[in->n - 1].seq, &err) !=
		    KETEN_OK)
			stall_die(err.message);
		keten_inbox_free(&in);
	}
	keten_inbox_free(&in);
	return waiting;
}

void
stall_phase(struct stall_result *res, const char *self, size_t n, bool stop)
{
	pid_t slow;

	harness_region(&H, REGION, sizeof(REGION) / sizeof(REGION[0]), NULL);
	harness_start(&H);
	slow = spawn_slow(self);
	if (stop) {
		/* Stopped with a waiting request outstanding. */
		nanosleep(&(struct timespec){0, 300000000}, NULL);
		kill(slow, SIGSTOP);
	}
	run(res, n);
	kill(slow, SIGKILL);
	waitpid(slow, NULL, 0);
	res->slow_waiting = stop ? waiting_for_slow() : 0;
	harness_drop_clients(&H);
	res->stop_status = harness_stop(&H);
	harness_cleanup(&H);
}

int
stall_subscriber_main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--subscriber") == 0)
		return subscriber(argv[2], argv[3]);
	return -1;
}
