/*
 * Overdue detection against a real ketend whose region has deadlines in
 * seconds (docs/PROTOCOL.md 18.2): the due times the broker reports, and
 * overdue judged by keten_cases at a chosen moment (at_us, the controllable
 * clock) on both sides of every due time. Once, on the real clock: a short
 * sleep past an acknowledgement deadline, seen by keten_cases and by the
 * CLI's `keten cases --overdue` exit status.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../check.h"
#include "harness.h"

#define S_US        INT64_C(1000000)
#define ACK_US      (2 * S_US)
#define REFERRAL_US (3 * S_US)
#define HANDOVER_US (4 * S_US)
#define DEADLINES                                                              \
	"deadlines:\n  acknowledge: 2s\n  referral: 3s\n  handover: 4s\n"

#define LT    "lt-almere"
#define VT    "vt-flevoland"
#define GI    "gi-save"
#define AUDIT "audit-inspectie"
#define URK   "lt-urk" /* never a party to any case here */

static struct harness H;
static struct keten_client *
client(const char *id)
{
	return harness_agency(&H, id);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * S_US + ts.tv_nsec / 1000;
}

/* A referral from -> to; the receipt's broker time is the offer's time. */
static int64_t
refer(uint8_t case_id[16], const char *from, const char *to,
      int64_t respond_by_us)
{
	struct keten_referral_content ct = harness_content("overdue");
	struct keten_referral ref = {.recipient = to,
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .respond_by_us = respond_by_us,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;

	memset(&rc, 0, sizeof(rc));
	CHECK_INT(keten_send_referral(&rc, case_id, client(from), &ref, &err),
	          KETEN_OK);
	return rc.received_at_us;
}

static int64_t
acknowledge(const char *by, const uint8_t case_id[16])
{
	struct keten_receipt rc;
	struct keten_error err;

	memset(&rc, 0, sizeof(rc));
	CHECK_INT(keten_acknowledge(&rc, client(by), case_id, &err), KETEN_OK);
	return rc.received_at_us;
}

static void
accept_offer(const char *by, const uint8_t case_id[16])
{
	struct keten_receipt rc;
	struct keten_error err;

	CHECK_INT(keten_accept(&rc, client(by), case_id, NULL, &err), KETEN_OK);
}

/*
 * How many times agency `as` sees the case in its keten_cases list judged
 * at at_us (0 = now); *out gets the case when it is there.
 */
static int
view(struct keten_case *out, const char *as, const uint8_t case_id[16],
     int64_t at_us)
{
	struct keten_case *all = NULL;
	struct keten_error err;
	size_t n = 0;
	int hits = 0;

	memset(out, 0, sizeof(*out));
	CHECK_INT(keten_cases(&all, &n, client(as), at_us, &err), KETEN_OK);
	for (size_t i = 0; i < n; i++)
		if (memcmp(all[i].case_id, case_id, 16) == 0) {
			*out = all[i];
			hits++;
		}
	free(all);
	return hits;
}

/* Whether `as` (a party) sees the case overdue at at_us: 1, 0, or -1
 * when the case is not in its list at all. */
static int
overdue_at(const char *as, const uint8_t case_id[16], int64_t at_us)
{
	struct keten_case c;

	if (view(&c, as, case_id, at_us) != 1)
		return -1;
	return c.overdue ? 1 : 0;
}

#define OVERDUE(as, id, at)     CHECK_INT(overdue_at(as, id, at), 1)
#define NOT_OVERDUE(as, id, at) CHECK_INT(overdue_at(as, id, at), 0)

/* The case as `as` sees it now; it must be there exactly once. */
static struct keten_case
seen(const char *as, const uint8_t case_id[16])
{
	struct keten_case c;

	CHECK_INT(view(&c, as, case_id, 0), 1);
	return c;
}

/* ---- 1. an unacknowledged referral: the acknowledgement deadline ---- */

static void
unacknowledged(uint8_t id[16])
{
	uint8_t id2[16], id3[16];
	struct keten_case c;
	int64_t t0, off, respond_by;

	t0 = now_us();
	off = refer(id, LT, VT, 0);
	CHECK(off >= t0); /* one machine, one clock */
	c = seen(VT, id);
	CHECK(c.has_offer);
	CHECK_INT(c.status, KETEN_CASE_OFFERED);
	CHECK_INT(c.offer.type, KETEN_MSG_REFERRAL);
	CHECK_INT(c.offer.offered_at_us, off);
	CHECK_INT(c.offer.acknowledged_at_us, 0);
	CHECK_INT(c.offer.respond_by_us, 0);
	CHECK_INT(c.offer.acknowledge_due_us, off + ACK_US);
	CHECK_INT(c.offer.decide_due_us, 0); /* unknown until acknowledged */
	CHECK(!c.overdue);                   /* judged now, well within 2s */

	/* Strictly after the due time, not at it. */
	NOT_OVERDUE(VT, id, off);
	NOT_OVERDUE(VT, id, off + ACK_US - 1);
	NOT_OVERDUE(VT, id, off + ACK_US);
	OVERDUE(VT, id, off + ACK_US + 1);
	OVERDUE(VT, id, off + ACK_US + S_US / 2);
	/* No decision deadline yet: still overdue (for the acknowledgement)
	 * however late, and a year on too. */
	OVERDUE(VT, id, off + 365 * 86400 * S_US);

	/* The view is per agency: holder, recipient and auditor agree; an
	 * agency that is no party does not see the case at all. */
	OVERDUE(LT, id, off + ACK_US + S_US / 2);
	OVERDUE(AUDIT, id, off + ACK_US + S_US / 2);
	NOT_OVERDUE(LT, id, off + ACK_US);
	CHECK_INT(view(&c, URK, id, off + ACK_US + S_US / 2), 0);
	CHECK_INT(view(&c, "lt-lelystad", id, 0), 0);

	/* The sender's own deadline is the decision due time at once,
	 * acknowledged or not, and the acknowledgement deadline still
	 * applies before it. */
	respond_by = now_us() + 60 * S_US;
	off = refer(id2, LT, VT, respond_by);
	c = seen(LT, id2);
	CHECK_INT(c.offer.respond_by_us, respond_by);
	CHECK_INT(c.offer.decide_due_us, respond_by);
	CHECK_INT(c.offer.acknowledge_due_us, off + ACK_US);
	NOT_OVERDUE(LT, id2, off + ACK_US);
	OVERDUE(LT, id2, off + ACK_US + 1);
	OVERDUE(VT, id2, respond_by + 1);
	/* Acknowledged, it is past neither: the sender's deadline stays,
	 * not acknowledged_at + 3s. */
	{
		int64_t ack = acknowledge(VT, id2);
		c = seen(VT, id2);
		CHECK_INT(c.offer.acknowledged_at_us, ack);
		CHECK_INT(c.offer.decide_due_us, respond_by);
		NOT_OVERDUE(VT, id2, ack + REFERRAL_US + 1);
		NOT_OVERDUE(VT, id2, respond_by);
		OVERDUE(VT, id2, respond_by + 1);
		OVERDUE(LT, id2, respond_by + 1);
	}

	/* A sender's deadline before the acknowledgement deadline makes the
	 * offer overdue before it is due for acknowledgement. */
	respond_by = now_us() + S_US;
	off = refer(id3, LT, VT, respond_by);
	c = seen(VT, id3);
	CHECK_INT(c.offer.decide_due_us, respond_by);
	CHECK(respond_by + 1 < c.offer.acknowledge_due_us);
	NOT_OVERDUE(VT, id3, respond_by);
	OVERDUE(VT, id3, respond_by + 1);
}

/* ---- 2. acknowledged: the decision deadline from acknowledged_at ---- */

static void
acknowledged(const uint8_t id[16])
{
	struct keten_case c;
	int64_t off, ack, due;

	off = seen(VT, id).offer.offered_at_us;
	ack = acknowledge(VT, id);
	c = seen(VT, id);
	CHECK_INT(c.offer.acknowledged_at_us, ack);
	CHECK(ack >= off);
	CHECK_INT(c.offer.acknowledge_due_us, off + ACK_US); /* still shown */
	due = c.offer.decide_due_us;
	CHECK_INT(due, ack + REFERRAL_US);
	CHECK(!c.overdue);

	/* Past the acknowledgement deadline no longer counts. */
	NOT_OVERDUE(VT, id, off + ACK_US + S_US / 2);
	NOT_OVERDUE(VT, id, off + ACK_US + 1);
	NOT_OVERDUE(VT, id, due - 1);
	NOT_OVERDUE(VT, id, due); /* strictly greater */
	OVERDUE(VT, id, due + 1);
	OVERDUE(LT, id, due + 1);
	OVERDUE(AUDIT, id, due + 1);
	NOT_OVERDUE(LT, id, due);
	CHECK_INT(view(&c, URK, id, due + 1), 0);
}

/* ---- 3. accepted, then handed over: the handover deadline ---- */

static void
accepted_then_handover(const uint8_t id[16])
{
	static const struct keten_dossier dossier = {
	    .known = "what is known", .safety_conditions = "conditions"};
	struct keten_receipt rc;
	struct keten_error err;
	struct keten_case c;
	int64_t due = seen(VT, id).offer.decide_due_us, off, ack;
	const int64_t at[] = {
	    0, due - 1, due, due + 1, due + 365 * 86400 * S_US, INT64_MAX};

	accept_offer(VT, id);
	c = seen(VT, id);
	CHECK(!c.has_offer);
	CHECK_INT(c.status, KETEN_CASE_HELD);
	CHECK(strcmp(c.holder, VT) == 0);
	CHECK_INT(c.offer.acknowledge_due_us, 0);
	CHECK_INT(c.offer.decide_due_us, 0);
	/* No open offer: never overdue, whenever asked, by anyone. */
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		NOT_OVERDUE(VT, id, at[i]);
		NOT_OVERDUE(LT, id, at[i]);
		NOT_OVERDUE(AUDIT, id, at[i]);
	}

	/* Veilig Thuis hands over to the GI: an offer of type handover. */
	memset(&rc, 0, sizeof(rc));
	CHECK_INT(keten_handover(&rc, client(VT), id, GI, KETEN_URGENCY_URGENT,
	                         0, &dossier, &err),
	          KETEN_OK);
	off = rc.received_at_us;
	c = seen(GI, id);
	CHECK(c.has_offer);
	CHECK_INT(c.offer.type, KETEN_MSG_HANDOVER);
	CHECK(strcmp(c.offer.from, VT) == 0 && strcmp(c.offer.to, GI) == 0);
	CHECK_INT(c.offer.offered_at_us, off);
	CHECK_INT(c.offer.acknowledge_due_us, off + ACK_US);
	CHECK_INT(c.offer.decide_due_us, 0);
	NOT_OVERDUE(GI, id, off + ACK_US);
	OVERDUE(GI, id, off + ACK_US + 1);
	/* Recipient, holder and an earlier party alike; not an outsider. */
	OVERDUE(VT, id, off + ACK_US + 1);
	OVERDUE(LT, id, off + ACK_US + 1);
	CHECK_INT(view(&c, URK, id, off + ACK_US + 1), 0);

	ack = acknowledge(GI, id);
	c = seen(GI, id);
	CHECK_INT(c.offer.acknowledged_at_us, ack);
	CHECK_INT(c.offer.decide_due_us, ack + HANDOVER_US); /* not 3s */
	NOT_OVERDUE(GI, id, off + ACK_US + 1);
	NOT_OVERDUE(GI, id, ack + REFERRAL_US + 1);
	NOT_OVERDUE(GI, id, ack + HANDOVER_US);
	OVERDUE(GI, id, ack + HANDOVER_US + 1);
	OVERDUE(VT, id, ack + HANDOVER_US + 1);

	accept_offer(GI, id);
	c = seen(GI, id);
	CHECK(!c.has_offer);
	CHECK(strcmp(c.holder, GI) == 0);
	NOT_OVERDUE(GI, id, ack + HANDOVER_US + 1);
	NOT_OVERDUE(VT, id, INT64_MAX);
}

/* ---- 4. the real clock, and the CLI ---- */

static char cli_path[PATH_MAX];

/* The keten CLI the build made (KETEN_CLI overrides it). */
static void
find_cli(void)
{
	const char *env = getenv("KETEN_CLI");

	snprintf(cli_path, sizeof(cli_path), "%s", env ? env : harness_cli());
}

/* The CLI's standard output, from the last cli_cases. */
static char cli_out[65536];

/*
 * Runs `keten cases -c CONFIG -k KEY ARGS...` as agency `as` (ARGS ending
 * with NULL); its stdout goes to cli_out, its stderr to ours. Returns the exit
 * status (-1 if it did not exit).
 */
static int cli_cases(const char *as, ...) __attribute__((sentinel));

static int
cli_cases(const char *as, ...)
{
	char outfile[400];
	const char *argv[16], *a;
	size_t n = 0, got;
	int status, fd;
	va_list ap;
	pid_t pid;
	FILE *f;

	snprintf(outfile, sizeof(outfile), "%s/cli.out", H.dir);
	argv[n++] = "keten";
	argv[n++] = "cases";
	argv[n++] = "-c";
	argv[n++] = H.config;
	argv[n++] = "-k";
	argv[n++] = harness_key(&H, as);
	va_start(ap, as);
	while ((a = va_arg(ap, const char *)) != NULL && n < 15)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	cli_out[0] = '\0';
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execv(cli_path, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if ((f = fopen(outfile, "r")) != NULL) {
		got = fread(cli_out, 1, sizeof(cli_out) - 1, f);
		cli_out[got] = '\0';
		fclose(f);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "2026-11-30T17:00:00Z", as the CLI's JSON writes a time. */
static void
iso(char out[32], int64_t us)
{
	time_t t = (time_t)(us / S_US);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
real_clock(void)
{
	uint8_t id[16], done[16], later[16];
	char hex[33], hex_done[33], hex_later[33], due[32], want[64];
	struct keten_case c;
	int64_t off, wait_us;

	find_cli();
	CHECK(access(cli_path, X_OK) == 0);
	if (access(cli_path, X_OK) != 0)
		fprintf(stderr, "no keten CLI at '%s' (set KETEN_CLI)\n",
		        cli_path);

	/* An agency with a case whose offer was accepted at once. */
	refer(done, "lt-dronten", VT, 0);
	accept_offer(VT, done);
	keten_hex(hex_done, done, 16);

	off = refer(id, "lt-lelystad", VT, 0);
	keten_hex(hex, id, 16);
	NOT_OVERDUE("lt-lelystad", id, 0);
	CHECK_INT(cli_cases("lt-lelystad", "--overdue", NULL), 0);
	CHECK_STR_HAS(cli_out, "no overdue cases at");
	CHECK(strstr(cli_out, hex) == NULL);

	/* Just past the acknowledgement deadline, by the real clock. */
	wait_us = off + ACK_US + 200000 - now_us();
	if (wait_us > 0)
		usleep((useconds_t)wait_us);
	CHECK(now_us() > off + ACK_US);
	OVERDUE("lt-lelystad", id, 0);
	OVERDUE(VT, id, 0);
	OVERDUE(AUDIT, id, 0);
	CHECK_INT(view(&c, URK, id, 0), 0);

	CHECK_INT(cli_cases("lt-lelystad", "--overdue", NULL), 1);
	CHECK_STR_HAS(cli_out, hex);
	CHECK_STR_HAS(cli_out, "OVERDUE (ack due");
	CHECK_INT(cli_cases(VT, "--overdue", NULL), 1);
	CHECK_STR_HAS(cli_out, hex);
	CHECK(strstr(cli_out, hex_done) == NULL); /* only the overdue ones */
	/* JSON: the flag and the due times the broker reported. */
	CHECK_INT(cli_cases("lt-lelystad", "--overdue", "--json", NULL), 1);
	CHECK_STR_HAS(cli_out, hex);
	CHECK_STR_HAS(cli_out, "\"overdue\":true");
	CHECK_STR_HAS(cli_out, "\"decide_due\":null");
	iso(due, off + ACK_US);
	snprintf(want, sizeof(want), "\"acknowledge_due\":\"%s\"", due);
	CHECK_STR_HAS(cli_out, want);
	/* Without --overdue: listed, and the exit status is 0. */
	CHECK_INT(cli_cases("lt-lelystad", NULL), 0);
	CHECK_STR_HAS(cli_out, hex);
	CHECK_STR_HAS(cli_out, "OVERDUE");

	/* Agencies with nothing overdue: none of their own, or no cases. */
	CHECK_INT(cli_cases("lt-dronten", "--overdue", NULL), 0);
	CHECK_STR_HAS(cli_out, "no overdue cases at");
	CHECK_INT(cli_cases("lt-dronten", NULL), 0);
	CHECK_STR_HAS(cli_out, hex_done); /* it does have a case */
	CHECK(strstr(cli_out, hex) == NULL);
	CHECK_INT(cli_cases(URK, "--overdue", NULL), 0);
	CHECK_STR_HAS(cli_out, "no overdue cases at");
	CHECK_INT(cli_cases(URK, "--overdue", "--at", "+1d", NULL), 0);
	CHECK(strstr(cli_out, hex) == NULL);

	/* --at moves the CLI's clock: a fresh offer is overdue in 3s. */
	refer(later, "lt-zeewolde", VT, 0);
	keten_hex(hex_later, later, 16);
	CHECK_INT(cli_cases("lt-zeewolde", "--overdue", NULL), 0);
	CHECK_INT(cli_cases("lt-zeewolde", "--overdue", "--at", "+3s", NULL),
	          1);
	CHECK_STR_HAS(cli_out, hex_later);

	/* Acknowledged, the offer is within its decision deadline again;
	 * accepted, it is never overdue. */
	acknowledge(VT, id);
	NOT_OVERDUE("lt-lelystad", id, 0);
	CHECK_INT(cli_cases("lt-lelystad", "--overdue", NULL), 0);
	CHECK_INT(cli_cases("lt-lelystad", "--overdue", "--at", "+4s", NULL),
	          1);
	accept_offer(VT, id);
	CHECK_INT(cli_cases("lt-lelystad", "--overdue", "--at", "+1d", NULL),
	          0);
	CHECK_STR_HAS(cli_out, "no overdue cases at");
}

int
main(void)
{
	uint8_t id[16];

	if (sodium_init() < 0)
		return 1;
	harness_region(&H, harness_flevoland, harness_flevoland_n, DEADLINES);
	harness_start(&H);
	unacknowledged(id);
	acknowledged(id);
	accepted_then_handover(id);
	real_clock();
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_cleanup(&H);
	return check_done("test_overdue");
}
