/*
 * Subscriptions lose nothing (docs/PROTOCOL.md, "Subscribing"), against a
 * real ketend:
 *  1. a subscriber process SIGKILLed mid-stream and started again receives
 *     every message after its last acknowledgement exactly once, and with
 *     its first run every message;
 *  2. the broker SIGKILLed and restarted under a running subscriber: the
 *     subscriber receives every message exactly once;
 *  3. 100,000 messages (KETEN_TEST_RECORDS overrides) across 20 agencies,
 *     each followed by a subscriber thread that acknowledges now and then
 *     and reconnects at random points: per recipient, the union of what
 *     was delivered equals the log, nothing reached another agency, and
 *     no redelivery came from at or before an acknowledged position; and
 *     the log, as an auditor replays and verifies it, names the same
 *     recipient for each record.
 * Seeded (KETEN_TEST_SEED repeats a run). The subscriber process of 1 and
 * 2 is this program, run as: test_subscribe --subscriber CONFIG KEY.
 */
#include <errno.h>
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

#include "../check.h"
#include "harness.h"

#define N_AG   20
#define WINDOW 64
#define CHUNK  512

static struct harness H;
static const char *AG[N_AG];
static unsigned seed;

/* ---- the subscriber process ---- */

/* Prints "SEQ" per message delivered, then acknowledges the batch and
 * prints "ack SEQ". Runs until killed; rides out broker restarts. */
static int
subscriber(const char *config, const char *key)
{
	struct keten_client *c;
	struct keten_error err;

	if (keten_client_new(&c, config, key, &err) != KETEN_OK) {
		fprintf(stderr, "subscriber: %s\n", err.message);
		return 2;
	}
	keten_client_set_timeout(c, 1000);
	for (;;) {
		struct keten_inbox *in = NULL;
		uint64_t cur;
		int rc = keten_receive(&in, c, 50, 500, &err);

		if (rc != KETEN_OK) {
			if (rc == KETEN_E_TIMEOUT || rc == KETEN_E_CONNECT ||
			    rc == KETEN_E_UNAVAILABLE)
				continue;
			fprintf(stderr, "subscriber: %s\n", err.message);
			return 1;
		}
		for (size_t i = 0; i < in->n; i++)
			printf("%" PRIu64 "%s\n", in->messages[i].seq,
			       in->messages[i].status == KETEN_OK ? ""
			                                          : " bad");
		fflush(stdout);
		if (in->n > 0) {
			uint64_t last = in->messages[in->n - 1].seq;
			/* An ack lost to a broker restart: the next covers
			 * it. */
			if (keten_ack(&cur, c, last, &err) == KETEN_OK) {
				printf("ack %" PRIu64 "\n", last);
				fflush(stdout);
			}
		}
		keten_inbox_free(&in);
	}
}

static pid_t
spawn_subscriber(const char *self, const char *id, const char *out)
{
	pid_t pid;

	fflush(stdout); /* or the child prints it again */
	if ((pid = fork()) == 0) {
		FILE *f = freopen(out, "a", stdout);
		if (f == NULL)
			_exit(2);
		execl(self, self, "--subscriber", H.config, harness_key(&H, id),
		      (char *)NULL);
		_exit(2);
	}
	CHECK(pid > 0);
	return pid;
}

/* What a subscriber's output says: count[seq] deliveries, the last ack. */
struct run {
	unsigned *count;
	uint64_t last_ack, lines, bad;
};

static void
read_run(struct run *r, const char *path, uint64_t max_seq)
{
	FILE *f = fopen(path, "r");
	char line[128];

	memset(r, 0, sizeof(*r));
	r->count = calloc(max_seq + 1, sizeof(*r->count));
	if (f == NULL || r->count == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t v;
		if (sscanf(line, "ack %" SCNu64, &v) == 1) {
			r->last_ack = v;
		} else if (sscanf(line, "%" SCNu64, &v) == 1 && v <= max_seq) {
			r->count[v]++;
			r->lines++;
			if (strstr(line, "bad"))
				r->bad++;
		}
	}
	fclose(f);
}

/* Waits until the subscriber's output holds seq (or 30 s pass). */
static int
wait_for(const char *path, uint64_t seq)
{
	for (int i = 0; i < 3000; i++) {
		struct run r;
		int got;
		read_run(&r, path, seq);
		got = r.count != NULL && r.count[seq] > 0;
		free(r.count);
		if (got)
			return 1;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	return 0;
}

/* ---- sending ---- */

/* Submits n referrals to `to` from the other agencies; the seqs go to
 * seqs[] (in order). Exits on failure. */
static void
send_to(const char *to, size_t n, uint64_t *seqs)
{
	struct keten_referral_content ct = harness_content("subscribe");
	struct keten_referral ref = {
	    .recipient = to, .urgency = KETEN_URGENCY_ROUTINE, .content = &ct};
	struct keten_error err;

	for (size_t i = 0; i < n; i++) {
		const char *from = AG[(i % (N_AG - 1)) + 1];
		struct keten_prepared *p;
		struct keten_receipt r;
		if (strcmp(from, to) == 0)
			from = AG[0];
		if (keten_prepare_referral(&p, harness_agency(&H, from), &ref,
		                           &err) != KETEN_OK ||
		    keten_submit(&r, harness_agency(&H, from), p, &err) !=
		        KETEN_OK) {
			fprintf(stderr, "send: %s\n", err.message);
			exit(1);
		}
		seqs[i] = r.seq;
		keten_prepared_free(&p);
	}
}

static uint64_t
durable_cursor(const char *id)
{
	struct keten_inbox *in = NULL;
	struct keten_error err;
	uint64_t cur = 0;

	if (keten_fetch(&in, harness_agency(&H, id), 1, &err) == KETEN_OK)
		cur = in->cursor;
	else
		fprintf(stderr, "fetch: %s\n", err.message);
	keten_inbox_free(&in);
	return cur;
}

/* 1: the subscriber is SIGKILLed mid-stream and started again. */
static void
subscriber_killed(const char *self)
{
	const char *to = AG[1];
	char out1[400], out2[400];
	uint64_t seqs[600], cursor, last;
	struct run a, b;
	pid_t pid;

	snprintf(out1, sizeof(out1), "%s/sub1.out", H.dir);
	snprintf(out2, sizeof(out2), "%s/sub2.out", H.dir);
	pid = spawn_subscriber(self, to, out1);
	send_to(to, 150, seqs);
	CHECK(wait_for(out1, seqs[100]));
	send_to(to, 20, seqs + 150); /* it is receiving these as they come */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	send_to(to, 430, seqs + 170);
	last = seqs[599];
	cursor = durable_cursor(to);
	pid = spawn_subscriber(self, to, out2);
	CHECK(wait_for(out2, last));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	read_run(&a, out1, last);
	read_run(&b, out2, last);
	CHECK(a.last_ack >= seqs[0]);
	CHECK(a.last_ack <= cursor);
	for (size_t i = 0; i < 600; i++) {
		uint64_t s = seqs[i];
		/* after the cursor: the second run got it exactly once */
		if (s > cursor)
			CHECK_INT(b.count[s], 1);
		else
			CHECK_INT(b.count[s], 0);
		/* the first run got each at most once; together, all */
		CHECK(a.count[s] <= 1);
		CHECK(a.count[s] + b.count[s] >= 1);
	}
	/* and nothing else: only this agency's messages */
	{
		uint64_t own = 0;
		for (size_t i = 0; i < 600; i++)
			own += a.count[seqs[i]] + b.count[seqs[i]];
		CHECK_INT(own, a.lines + b.lines);
	}
	CHECK_INT(a.bad + b.bad, 0);
	printf("subscriber killed: first run %" PRIu64 " messages (acked up "
	       "to %" PRIu64 ", cursor %" PRIu64 "), second run %" PRIu64 "\n",
	       a.lines, a.last_ack, cursor, b.lines);
	free(a.count);
	free(b.count);
}

/* 2: the broker is SIGKILLed and restarted under a subscriber. */
static void
broker_killed(const char *self)
{
	const char *to = AG[2];
	char out[400];
	uint64_t seqs[400], last;
	struct run r;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/sub3.out", H.dir);
	pid = spawn_subscriber(self, to, out);
	send_to(to, 200, seqs);
	CHECK(wait_for(out, seqs[50]));
	harness_drop_clients(&H);
	harness_kill(&H);
	harness_start(&H);
	send_to(to, 200, seqs + 200);
	last = seqs[399];
	CHECK(wait_for(out, last));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	read_run(&r, out, last);
	for (size_t i = 0; i < 400; i++)
		CHECK_INT(r.count[seqs[i]], 1);
	CHECK_INT(r.lines, 400);
	CHECK_INT(r.bad, 0);
	printf("broker killed: subscriber got %" PRIu64 " of 400, each once\n",
	       r.lines);
	free(r.count);
}

/* ---- 3: many messages, many subscribers, random reconnects ---- */

static atomic_bool sending_done;
static uint64_t *expect_of; /* seq -> recipient index + 1 */
static size_t n_expected[N_AG];
static uint64_t max_seq;

struct sub {
	int idx;
	unsigned rng;
	uint8_t *got; /* per seq: deliveries to this agency (capped 255) */
	size_t distinct, deliveries, reconnects, acks, wrong, bad, below_ack;
	uint64_t acked;
};

static unsigned
rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static void *
sub_main(void *arg)
{
	struct sub *s = arg;
	struct keten_client *c = harness_client(&H, AG[s->idx]);
	struct keten_error err;
	bool fresh = true;

	keten_client_set_timeout(c, 5000);
	for (;;) {
		struct keten_inbox *in = NULL;
		size_t max = 1 + rnd(&s->rng) % 200;
		int rc = keten_receive(&in, c, max, 100, &err);

		if (rc != KETEN_OK) {
			fprintf(stderr, "%s: receive: %s\n", AG[s->idx],
			        err.message);
			s->bad++;
			continue;
		}
		for (size_t i = 0; i < in->n; i++) {
			const struct keten_message *m = &in->messages[i];
			if (m->seq > max_seq) {
				s->wrong++;
				continue;
			}
			if (fresh && m->seq <= s->acked)
				s->below_ack++;
			if (m->status != KETEN_OK ||
			    strcmp(m->recipient, AG[s->idx]) != 0)
				s->bad++;
			if (s->got[m->seq] == 0)
				s->distinct++;
			if (s->got[m->seq] < 255)
				s->got[m->seq]++;
			s->deliveries++;
		}
		fresh = false;
		if (in->n > 0 && rnd(&s->rng) % 3 == 0) {
			uint64_t cur;
			uint64_t last = in->messages[in->n - 1].seq;
			if (keten_ack(&cur, c, last, &err) == KETEN_OK) {
				s->acked = cur;
				s->acks++;
			} else {
				s->bad++;
			}
		}
		keten_inbox_free(&in);
		if (atomic_load(&sending_done) &&
		    s->distinct >= n_expected[s->idx])
			break;
		if (rnd(&s->rng) % 40 == 0) { /* a crash: start over */
			keten_client_destroy(&c);
			c = harness_client(&H, AG[s->idx]);
			keten_client_set_timeout(c, 5000);
			s->reconnects++;
			fresh = true;
		}
	}
	keten_client_destroy(&c);
	return NULL;
}

struct log_check {
	uint64_t base, seen, bad;
};

static int
recipient_is(void *arg, const struct keten_record *r)
{
	struct log_check *lc = arg;
	int owner = r->seq <= max_seq ? (int)expect_of[r->seq] - 1 : -1;

	lc->seen++;
	if (owner < 0 || strcmp(r->recipient, AG[owner]) != 0)
		lc->bad++;
	return 0;
}

static void
many(size_t n)
{
	struct keten_referral_content ct = harness_content("many");
	struct sub subs[N_AG];
	pthread_t th[N_AG];
	struct keten_prepared **p = calloc(CHUNK, sizeof(*p));
	uint8_t *to_of = calloc(CHUNK, 1);
	uint64_t base_seq = harness_head(&H, AG[0]), total_deliveries = 0;
	size_t reconnects = 0, acks = 0;
	struct timespec t0, t1;

	max_seq = base_seq + n;
	expect_of = calloc(max_seq + 1, sizeof(*expect_of));
	CHECK(p != NULL && to_of != NULL && expect_of != NULL);
	memset(subs, 0, sizeof(subs));
	for (int i = 0; i < N_AG; i++) {
		subs[i].idx = i;
		subs[i].rng = seed * 31u + (unsigned)i;
		subs[i].got = calloc(max_seq + 1, 1);
		/* what a subscriber had before this phase is not counted */
		subs[i].acked = 0;
	}
	/* The subscribers start from their durable cursors: move each past
	 * what phases 1 and 2 left for them. */
	for (int i = 0; i < N_AG; i++) {
		uint64_t cur;
		struct keten_error err;
		struct keten_client *c = harness_agency(&H, AG[i]);
		for (;;) {
			struct keten_inbox *in = NULL;
			if (keten_fetch(&in, c, 1024, &err) != KETEN_OK)
				break;
			if (in->n == 0) {
				keten_inbox_free(&in);
				break;
			}
			if (keten_ack(&cur, c, in->messages[in->n - 1].seq,
			              &err) != KETEN_OK) {
				keten_inbox_free(&in);
				break;
			}
			keten_inbox_free(&in);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N_AG; i++)
		CHECK_INT(pthread_create(&th[i], NULL, sub_main, &subs[i]), 0);

	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK, sent = 0,
		       done = 0;
		int from = (int)(base / CHUNK % N_AG);
		struct keten_client *c = harness_agency(&H, AG[from]);
		struct keten_error err;

		for (size_t i = 0; i < m; i++) {
			struct keten_referral ref = {
			    .urgency = KETEN_URGENCY_ROUTINE, .content = &ct};
			int to = (int)(rnd(&seed) % (N_AG - 1));
			if (to >= from)
				to++;
			to_of[i] = (uint8_t)to;
			ref.recipient = AG[to];
			if (keten_prepare_referral(&p[i], c, &ref, &err) !=
			    KETEN_OK) {
				fprintf(stderr, "prepare: %s\n", err.message);
				exit(1);
			}
		}
		while (done < m) {
			struct keten_receipt r;
			uint64_t ticket;
			while (sent < m && sent - done < WINDOW) {
				if (keten_submit_start(&ticket, c, p[sent],
				                       &err) != KETEN_OK) {
					fprintf(stderr, "submit: %s\n",
					        err.message);
					exit(1);
				}
				sent++;
			}
			if (keten_submit_finish(&r, &ticket, c, &err) !=
			    KETEN_OK) {
				fprintf(stderr, "receipt: %s\n", err.message);
				exit(1);
			}
			/* tickets are the order of start, from 0 per
			 * client: find which prepared it was */
			for (size_t i = 0; i < m; i++) {
				uint8_t cid[KETEN_CASE_ID_LEN],
				    mid[KETEN_MSG_ID_LEN];
				if (p[i] == NULL)
					continue;
				keten_prepared_ids(cid, mid, p[i]);
				if (memcmp(mid, r.message_id,
				           KETEN_MSG_ID_LEN) == 0) {
					CHECK(r.seq > base_seq &&
					      r.seq <= max_seq);
					if (r.seq <= max_seq)
						expect_of[r.seq] =
						    (uint64_t)to_of[i] + 1;
					n_expected[to_of[i]]++;
					break;
				}
			}
			done++;
		}
		for (size_t i = 0; i < m; i++)
			keten_prepared_free(&p[i]);
	}
	atomic_store(&sending_done, true);
	for (int i = 0; i < N_AG; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	/* The log itself, as an auditor replays and verifies it, names the
	 * same recipient for every record as the receipts did. */
	{
		struct log_check lc = {.base = base_seq, .bad = 0};
		struct keten_audit a;
		struct keten_error err;
		CHECK_INT(keten_audit_replay(&a, harness_agency(&H, "audit"),
		                             base_seq + 1, NULL, recipient_is,
		                             &lc, &err),
		          KETEN_OK);
		CHECK_INT(a.head_seq, max_seq);
		CHECK_INT(lc.seen, n);
		CHECK_INT(lc.bad, 0);
	}
	/* The union per recipient equals the log; nothing went astray. */
	for (uint64_t seq = base_seq + 1; seq <= max_seq; seq++) {
		int owner = (int)expect_of[seq] - 1;
		CHECK(owner >= 0);
		for (int i = 0; i < N_AG; i++) {
			if (i == owner && subs[i].got[seq] == 0) {
				CHECK(!"a message was never delivered");
				fprintf(stderr, "  seq %" PRIu64 " to %s\n",
				        seq, AG[i]);
			}
			if (i != owner && subs[i].got[seq] != 0) {
				CHECK(!"a message reached another agency");
				fprintf(stderr, "  seq %" PRIu64 " to %s\n",
				        seq, AG[i]);
			}
		}
	}
	for (int i = 0; i < N_AG; i++) {
		CHECK_INT(subs[i].distinct, n_expected[i]);
		CHECK_INT(subs[i].wrong, 0);
		CHECK_INT(subs[i].bad, 0);
		CHECK_INT(subs[i].below_ack, 0);
		total_deliveries += subs[i].deliveries;
		reconnects += subs[i].reconnects;
		acks += subs[i].acks;
		free(subs[i].got);
	}
	printf("many: %zu messages to %d agencies, %" PRIu64
	       " deliveries (%" PRIu64 " again after a reconnect), %zu "
	       "reconnects, %zu acks, %.1f s\n",
	       n, N_AG, total_deliveries, total_deliveries - n, reconnects,
	       acks,
	       (double)(t1.tv_sec - t0.tv_sec) +
	           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(p);
	free(to_of);
	free(expect_of);
}

int
main(int argc, char **argv)
{
	static char names[N_AG][16], specs[N_AG + 1][40];
	const char *region[N_AG + 1];
	const char *env = getenv("KETEN_TEST_RECORDS");
	const char *senv = getenv("KETEN_TEST_SEED");
	size_t n = env ? strtoul(env, NULL, 10) : 100000;

	if (argc == 4 && strcmp(argv[1], "--subscriber") == 0)
		return subscriber(argv[2], argv[3]);
	seed = senv ? (unsigned)strtoul(senv, NULL, 10) : (unsigned)time(NULL);
	printf("seed %u (KETEN_TEST_SEED repeats)\n", seed);
	for (int i = 0; i < N_AG; i++) {
		snprintf(names[i], sizeof(names[i]), "ag-%02d", i);
		snprintf(specs[i], sizeof(specs[i]), "%s:local_team", names[i]);
		AG[i] = names[i];
		region[i] = specs[i];
	}
	snprintf(specs[N_AG], sizeof(specs[N_AG]), "audit:auditor");
	region[N_AG] = specs[N_AG];
	/* Referrals between any two agencies, so every one receives. */
	harness_region(&H, region, N_AG + 1,
	               "routes:\n  - {type: referral, from: any, to: any}\n");
	harness_start(&H);
	subscriber_killed(argv[0]);
	broker_killed(argv[0]);
	many(n);
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	/* Honest clients only, reconnecting hundreds of times: the bounds
	 * on what peers may hold (peers.c) never cut one of them off. */
	CHECK(harness_log_has(&H, "event=stop")); /* the log was read */
	CHECK(!harness_log_has(&H, "event=peer_dropped"));
	CHECK(!harness_log_has(&H, "event=peer_drop_failed"));
	harness_cleanup(&H);
	return check_done("test_subscribe");
}
