/*
 * What abusive peers can make ketend hold is bounded by its limits
 * (docs/ketend.md, "Durability and limits"), and a well-behaved agency
 * keeps getting receipts meanwhile. Against a real ketend with small
 * limits: (a) one request of 400 parts of 1 MiB; (b) three connections
 * that pipeline thousands of 1,024-message fetches and never read, past
 * the outbound budget, then go (memory returns near its baseline), while
 * another agency's fetch is answered; (c) 1,100 idle TCP connections that
 * never send a greeting, reconnecting when dropped, with ketend under an
 * open-file limit of 512; (d) 150 connections that send a handshake frame
 * of 2 MiB without a key; (e) three many-part requests at once, past the
 * inbound budget; (f) a connection that pipelines fetches and goes, 20
 * times. Figures are printed; no duration is asserted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "abuse.h"

#define MIB       (1024 * 1024)
#define PEER_IN   9
#define PEER_OUT  8
#define BUDGET_IN 9
#define BUDGET_OU 16
/* What the bound adds to the budgets for this config (docs/ketend.md,
 * "Worst case"): replies in transit between the broker's threads and one
 * tick of a loopback link, with the allocator's slack. */
#define SLACK_MIB 48
#define FETCHES   2000
#define FD_LIMIT  512

/* Under AddressSanitizer freed memory waits in its quarantine and the
 * heap is not glibc's: the figures are printed, the bounds not asserted
 * (the rest is). */
#ifdef __SANITIZE_ADDRESS__
#define MEMORY_ASSERTED 0
#else
#define MEMORY_ASSERTED 1
#endif

/* Budgets that ABUSE_STALLED never-reading connections (outbound) and
 * three many-part requests (inbound) pass before any passes its own
 * bound. */
static const char *LIMITS = "  peer_inbound_mb: 9\n"
                            "  peer_outbound_mb: 8\n"
                            "  inbound_budget_mb: 9\n"
                            "  outbound_budget_mb: 16\n";
#define HANDSHAKES 150
#define HARD_MAX   (2 * 1024 * 1024 + 65536) /* max_message_bytes 1 MiB */
#define RECONNECTS 20

/* ---- the well-behaved agency: referrals throughout, one at a time ---- */

struct steady {
	struct harness *h;
	const char *id;
	atomic_bool stop;
	atomic_ulong ok, failed;
	pthread_t th;
};

static void *
steady_main(void *arg)
{
	struct steady *a = arg;
	struct keten_client *c = harness_client(a->h, a->id);
	struct keten_referral_content ct = harness_content("steady");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;

	while (!atomic_load(&a->stop)) {
		if (keten_send_referral(&rc, NULL, c, &ref, &err) == KETEN_OK) {
			atomic_fetch_add(&a->ok, 1);
		} else {
			fprintf(stderr, "steady agency: %s\n", err.message);
			atomic_fetch_add(&a->failed, 1);
		}
		abuse_sleep_ms(20);
	}
	keten_client_destroy(&c);
	return NULL;
}

static void
steady_start(struct steady *a, struct harness *h, const char *id)
{
	memset(a, 0, sizeof(*a));
	a->h = h;
	a->id = id;
	if (pthread_create(&a->th, NULL, steady_main, a) != 0)
		abort();
}

/* Stops it once it got at least one more receipt; returns the failures. */
static unsigned long
steady_stop(struct steady *a, const char *phase)
{
	unsigned long before = atomic_load(&a->ok);

	for (int i = 0; i < 500 && atomic_load(&a->ok) == before; i++)
		abuse_sleep_ms(20);
	atomic_store(&a->stop, true);
	pthread_join(a->th, NULL);
	printf("%s: the steady agency got %lu receipts, %lu failures\n", phase,
	       atomic_load(&a->ok), atomic_load(&a->failed));
	return atomic_load(&a->failed);
}

/* A phase begins: the steady agency id at work, then the broker's RSS
 * as the phase's baseline and a new peak (VmHWM) from it. */
static long
phase_start(struct steady *a, struct harness *h, const char *id)
{
	long base;

	steady_start(a, h, id);
	abuse_sleep_ms(300);
	base = abuse_status_kib(h->pid, "VmRSS");
	abuse_reset_peak(h->pid);
	return base;
}

/* ---- (a) one request of 400 parts of 1 MiB ---- */

static void
multipart(struct harness *h, long bound_kib)
{
	struct steady a;
	struct abuse m;
	long base, peak;

	base = phase_start(&a, h, "lt-lelystad");
	abuse_multipart_start(&m, h, "lt-almere", false);
	CHECK(harness_wait_log(h, "event=peer_dropped", 1));
	abuse_join(&m);
	peak = abuse_status_kib(h->pid, "VmHWM");
	printf("(a) %d x 1 MiB in one request: broker RSS %.1f MiB before, "
	       "peak %.1f MiB (+%.1f MiB; bound +%.1f MiB)\n",
	       ABUSE_PARTS, base / 1024.0, peak / 1024.0,
	       (peak - base) / 1024.0, bound_kib / 1024.0);
	CHECK(base > 0 && peak > 0);
	CHECK(!MEMORY_ASSERTED || peak - base <= bound_kib);
	CHECK(harness_log_has(h, "reason=peer_inbound_mb"));
	abuse_stop(&m);
	CHECK_INT(steady_stop(&a, "(a)"), 0);
}

/* ---- (b) three connections that never read ---- */

static void
never_read(struct harness *h, long bound_kib)
{
	struct steady a;
	struct abuse st;
	struct raw r;
	size_t len;
	uint8_t *fetch = craft_request(&len, WIRE_REQ_FETCH, 1024);
	long base, peak = 0, anon_peak = 0, after = 0;
	struct reply rep;

	/* The file pages of the log, read once, belong to the baseline. */
	raw_connect(&r, h, "vt-flevoland");
	CHECK_INT(raw_call1(&r, &rep, fetch, len, 10000), 0);
	wire_reply_clear(&rep);
	raw_close(&r);
	base = phase_start(&a, h, "lt-dronten");
	abuse_stalled_start(&st, h, "vt-flevoland", FETCHES);
	abuse_join(&st);
	/* Until the broker has answered (or dropped) what it read. */
	for (int i = 0; i < 250; i++) {
		long anon = abuse_status_kib(h->pid, "RssAnon");
		if (anon > anon_peak)
			anon_peak = anon;
		abuse_sleep_ms(20);
	}
	peak = abuse_status_kib(h->pid, "VmHWM");
	printf("(b) %d connections x %d fetches of 1024, never read: broker "
	       "RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB; bound +%.1f "
	       "MiB), anonymous peak sampled %.1f MiB; replies dropped "
	       "logged %d times\n",
	       ABUSE_STALLED, FETCHES, base / 1024.0, peak / 1024.0,
	       (peak - base) / 1024.0, bound_kib / 1024.0, anon_peak / 1024.0,
	       harness_log_count(h, "event=reply_dropped"));
	CHECK(!MEMORY_ASSERTED || peak - base <= bound_kib);
	CHECK(harness_log_has(h, "event=reply_dropped agency=vt-flevoland"));
	/* Three queues of up to 8 MiB pass the budget of 16: the largest
	 * went, and another agency's large fetch still has room. */
	CHECK(harness_log_has(h, "reason=outbound_budget_mb"));
	raw_connect(&r, h, "lt-lelystad");
	CHECK_INT(raw_call1(&r, &rep, fetch, len, 10000), 0);
	wire_reply_clear(&rep);
	raw_close(&r);
	CHECK_INT(steady_stop(&a, "(b)"), 0);
	abuse_stop(&st);
	/* A wait, not a timing assertion: up to 20 s for the memory to
	 * return near the baseline. */
	for (int i = 0; i < 200; i++) {
		after = abuse_status_kib(h->pid, "VmRSS");
		if (after <= base + 16 * 1024)
			break;
		abuse_sleep_ms(100);
	}
	printf("(b) after they disconnected: broker RSS %.1f MiB (baseline "
	       "%.1f MiB)\n",
	       after / 1024.0, base / 1024.0);
	CHECK(!MEMORY_ASSERTED || after <= base + 16 * 1024);
	free(fetch);
}

/* ---- (d) a huge handshake frame, without a key ---- */

static void
handshakes(struct harness *h, long bound_kib)
{
	struct steady a;
	struct abuse hs;
	long base, peak;

	base = phase_start(&a, h, "lt-lelystad");
	abuse_handshake_start(&hs, h, HANDSHAKES, HARD_MAX);
	while (atomic_load(&hs.count) < HANDSHAKES)
		abuse_sleep_ms(20);
	abuse_sleep_ms(500);
	peak = abuse_status_kib(h->pid, "VmHWM");
	printf("(d) %d connections with a handshake frame of %d bytes: "
	       "broker RSS %.1f MiB before, peak %.1f MiB (+%.1f MiB; bound "
	       "+%.1f MiB); dropped: %d\n",
	       HANDSHAKES, HARD_MAX, base / 1024.0, peak / 1024.0,
	       (peak - base) / 1024.0, bound_kib / 1024.0,
	       harness_log_count(h, "reason=handshake_bytes"));
	CHECK(!MEMORY_ASSERTED || peak - base <= bound_kib);
	CHECK(harness_log_has(h, "reason=handshake_bytes"));
	abuse_stop(&hs);
	CHECK_INT(steady_stop(&a, "(d)"), 0);
}

/* ---- (e) three many-part requests at once ---- */

static void
inbound_budget(struct harness *h, long bound_kib)
{
	static const char *ids[] = {"lt-almere", "lt-zeewolde", "lt-urk"};
	struct steady a;
	struct abuse m[3];
	long base, peak;

	base = phase_start(&a, h, "lt-lelystad");
	for (int i = 0; i < 3; i++)
		abuse_multipart_start(&m[i], h, ids[i], true);
	CHECK(harness_wait_log(h, "reason=inbound_budget_mb", 1));
	for (int i = 0; i < 3; i++)
		abuse_stop(&m[i]);
	peak = abuse_status_kib(h->pid, "VmHWM");
	printf("(e) 3 requests of %d parts of 1 MiB at once: broker RSS "
	       "%.1f MiB before, peak %.1f MiB (+%.1f MiB; bound +%.1f MiB)\n",
	       ABUSE_PARTS, base / 1024.0, peak / 1024.0,
	       (peak - base) / 1024.0, bound_kib / 1024.0);
	CHECK(!MEMORY_ASSERTED || peak - base <= bound_kib);
	CHECK_INT(steady_stop(&a, "(e)"), 0);
}

/* ---- (f) pipelining, then gone, again and again ---- */

static void
reconnects(struct harness *h, long bound_kib)
{
	struct steady a;
	size_t len;
	uint8_t *fetch = craft_request(&len, WIRE_REQ_FETCH, 1024);
	long base, peak;

	base = phase_start(&a, h, "lt-lelystad");
	for (int n = 0; n < RECONNECTS; n++) {
		struct raw r;
		raw_connect_stalled(&r, h, "vt-flevoland");
		for (int i = 0; i < 200; i++)
			zmq_send(r.sock, fetch, len, ZMQ_DONTWAIT);
		abuse_sleep_ms(50);
		raw_close(&r);
	}
	abuse_sleep_ms(1000);
	peak = abuse_status_kib(h->pid, "VmHWM");
	printf("(f) %d times 200 fetches of 1024, then gone: broker RSS "
	       "%.1f MiB before, peak %.1f MiB (+%.1f MiB; bound +%.1f MiB); "
	       "discarded logged %d times\n",
	       RECONNECTS, base / 1024.0, peak / 1024.0, (peak - base) / 1024.0,
	       bound_kib / 1024.0,
	       harness_log_count(h, "event=request_discarded"));
	CHECK(!MEMORY_ASSERTED || peak - base <= bound_kib);
	CHECK_INT(steady_stop(&a, "(f)"), 0);
	free(fetch);
}

/* ---- (c) idle TCP connections under a low open-file limit ---- */

static void
idle_connections(const char *argv0)
{
	struct harness h;
	struct abuse d;
	struct rlimit rl;
	char script[400];
	FILE *f;
	struct keten_client *c;
	struct keten_referral_content ct = harness_content("under-siege");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;
	int ok = 0, retries = 0;

	(void)argv0;
	/* This process holds the idle connections: its own limit first. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	      rl.rlim_cur > ABUSE_IDLE + 64);
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	/* ketend under a hard limit of 512, as a unit's LimitNOFILE=512. */
	snprintf(script, sizeof(script), "%s/ketend-512.sh", h.dir);
	if ((f = fopen(script, "w")) == NULL)
		abort();
	fprintf(f, "#!/bin/sh\nulimit -n %d || exit 126\nexec '%s' \"$@\"\n",
	        FD_LIMIT, getenv("KETEND") ? getenv("KETEND") : KETEND_PATH);
	fclose(f);
	chmod(script, 0700);
	setenv("KETEND", script, 1);
	harness_start(&h);
	unsetenv("KETEND");
	CHECK(harness_log_has(&h, "event=open_files soft=512 hard=512"));

	abuse_idle_start(&d, &h);
	CHECK(harness_wait_log(&h, "event=connections_near_limit", 1));
	/* A new agency connects through them and gets receipts. */
	/* It retries a referral that timed out, as PROTOCOL.md 4.6 tells
	 * clients to: under a flood larger than the open-file limit the
	 * flood's reconnections compete with it for the listen queue (the
	 * count of retries is printed, not asserted). */
	c = harness_client(&h, "lt-urk");
	keten_client_set_timeout(c, 3000);
	for (int i = 0; i < 20 && retries <= 40; i++) {
		int rc_send = keten_send_referral(&rc, NULL, c, &ref, &err);
		ok += rc_send == KETEN_OK;
		if (rc_send != KETEN_OK) {
			retries++;
			i--;
		}
	}
	keten_client_destroy(&c);
	printf("(c) %d idle connections (reconnected %lu times) under an "
	       "open-file limit of %d: a new agency got %d of 20 receipts "
	       "(%d retries); connections_near_limit logged %d times\n",
	       ABUSE_IDLE, atomic_load(&d.count), FD_LIMIT, ok, retries,
	       harness_log_count(&h, "event=connections_near_limit"));
	CHECK_INT(ok, 20);
	abuse_stop(&d);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
}

int
main(int argc, char **argv)
{
	struct harness h;
	/* docs/ketend.md, "Worst case", for these limits. */
	long bound_kib = (BUDGET_IN + BUDGET_OU + SLACK_MIB) * 1024L;

	(void)argc;
	harness_region(&h, harness_flevoland, harness_flevoland_n, LIMITS);
	harness_start(&h);
	multipart(&h, bound_kib);
	handshakes(&h, bound_kib);
	inbound_budget(&h, bound_kib);
	harness_fill(&h, 3072, "inbox");
	never_read(&h, bound_kib);
	reconnects(&h, bound_kib);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	idle_connections(argv[0]);
	return check_done("test_abuse_memory");
}
