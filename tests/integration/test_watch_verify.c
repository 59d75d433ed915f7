/*
 * A message that fails verification is never acknowledged, and a watcher
 * follows the roster from the chain. A `keten watch --ack` of vt-flevoland
 * runs while lt-urk joins (ketend's config gains it, SIGHUP): it receives
 * lt-urk's referral verified and acknowledges it, with no restart, though
 * its own config never names lt-urk. Then a false broker (the region's
 * keys, its port, the roster as recorded) delivers altered referrals:
 * keten_ack, keten inbox --ack and keten watch --ack refuse to pass them;
 * only one proven forged is skipped, with --skip-forged, and recorded.
 * Never asserts a duration: waits have bounds only to give up.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"
#include "keys.h"
#include "raw.h"

#define GIVE_UP_S 90 /* a wait that takes longer is a failure */

static const char *const AGENCIES[] = {
    "lt-almere:local_team",
    "vt-flevoland:veilig_thuis",
    "lt-urk:local_team",
};

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "test_watch_verify: %s: %s\n", what, why);
	exit(1);
}

/*
 * Writes the region config src to dst (through a rename, as an editor
 * or a deployment would): without agency drop (NULL: none).
 */
static void
config_variant(const char *dst, const char *src, const char *drop)
{
	char tmp[600], line[1024], id[KETEN_ID_MAX + 1] = "";
	FILE *in, *out;

	snprintf(tmp, sizeof(tmp), "%s.new", dst);
	if ((in = fopen(src, "r")) == NULL || (out = fopen(tmp, "w")) == NULL)
		die("config", strerror(errno));
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, "  - id: ", 8) == 0) {
			size_t n = strcspn(line + 8, "\n");
			if (n >= sizeof(id))
				die("config", "an agency id too long");
			memcpy(id, line + 8, n);
			id[n] = '\0';
		} else if (strncmp(line, "    ", 4) != 0) {
			id[0] = '\0';
		}
		if (drop && strcmp(id, drop) == 0)
			continue;
		fputs(line, out);
	}
	fclose(in);
	if (fclose(out) != 0 || rename(tmp, dst) != 0)
		die("config", strerror(errno));
}

/* The whole of a small file, NUL-terminated, in a static buffer ("" if
 * it does not exist). */
static const char *
slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f == NULL)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Starts the keten CLI with args (NULL-terminated, after the program
 * name), its output in out and errors in errf. */
static pid_t
cli_spawn(const char *out, const char *errf, const char *const *args)
{
	char *argv[32];
	size_t n = 0;
	pid_t pid;

	argv[n++] = (char *)harness_cli();
	while (*args && n < 31)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	if ((pid = fork()) < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Runs the CLI to its end: its exit status. */
static int
cli_run(const char *out, const char *errf, const char *const *args)
{
	pid_t pid = cli_spawn(out, errf, args);
	int st;

	if (waitpid(pid, &st, 0) != pid)
		die("waitpid", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
nap(void)
{
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits until path contains s; 0, or -1 on giving up. */
static int
wait_file_has(const char *path, const char *s)
{
	for (int i = 0; i < GIVE_UP_S * 10; i++) {
		if (strstr(slurp(path), s) != NULL)
			return 0;
		nap();
	}
	fprintf(stderr, "gave up waiting for '%s' in %s; it holds:\n%s\n", s,
	        path, slurp(path));
	return -1;
}

/* vt-flevoland's acknowledged cursor at the broker, by a fetch with the
 * broker's own config; *pending tells whether message seq is still
 * delivered (not acknowledged). */
static uint64_t
broker_cursor(const struct harness *h, uint64_t seq, int *pending)
{
	struct keten_client *c = harness_client(h, "vt-flevoland");
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t cursor;

	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	if (keten_fetch(&in, c, 0, &err) != KETEN_OK)
		die("fetch", err.message);
	cursor = in->cursor;
	*pending = 0;
	for (size_t i = 0; i < in->n; i++)
		if (in->messages[i].seq == seq)
			*pending = 1;
	keten_inbox_free(&in);
	keten_client_destroy(&c);
	return cursor;
}

/* A referral from agency `from` to vt-flevoland: its seq. */
static uint64_t
refer(struct harness *h, const char *from, const char *marker)
{
	struct keten_client *c = harness_agency(h, from);
	struct keten_referral_content ct = harness_content(marker);
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_URGENT,
	                             .content = &ct};
	struct keten_prepared *p;
	struct keten_receipt rc;
	struct keten_error err;

	if (keten_prepare_referral(&p, c, &ref, &err) != KETEN_OK ||
	    keten_submit(&rc, c, p, &err) != KETEN_OK)
		die("referral", err.message);
	keten_prepared_free(&p);
	return rc.seq;
}

/*
 * Acceptance point 2: ketend runs without lt-urk (h->config lacks it,
 * full has it) and a watcher with --ack runs with a config that never
 * names lt-urk. lt-urk joins (ketend's config gains it, SIGHUP); its
 * referral reaches the watcher verified and is acknowledged, with no
 * restart. Returns the seq of lt-urk's referral.
 */
static uint64_t
watcher_follows_roster(struct harness *h, const char *watcher, const char *full,
                       const char *vt)
{
	char out[400], errf[400], wait_ack[64], audit[16384];
	const char *args[] = {"watch", "--ack", "--json", "--wait", "1",
	                      "-c",    watcher, "-k",     vt,       NULL};
	uint64_t first, urk;
	pid_t pid;
	int pending, st;

	snprintf(out, sizeof(out), "%s/watch.out", h->dir);
	snprintf(errf, sizeof(errf), "%s/watch.err", h->dir);
	first = refer(h, "lt-almere", "MARKER-almere-1");
	pid = cli_spawn(out, errf, args);
	/* It acknowledges what verifies. */
	snprintf(wait_ack, sizeof(wait_ack), "\"seq\":%llu",
	         (unsigned long long)first);
	CHECK_INT(wait_file_has(out, wait_ack), 0);
	for (int i = 0;
	     i < GIVE_UP_S * 10 && broker_cursor(h, first, &pending) < first;
	     i++)
		nap();
	CHECK_INT(broker_cursor(h, first, &pending), first);

	/* lt-urk joins: the operator's config gains it, and SIGHUP. */
	config_variant(h->config, full, NULL);
	CHECK_INT(harness_signal(h, SIGHUP), 0);
	CHECK(harness_wait_log(h, "action=join agency=lt-urk", 1));
	CHECK_INT(harness_log_count(h, "event=reload result=refused"), 0);

	urk = refer(h, "lt-urk", "MARKER-urk-1");
	CHECK(urk > first + 1); /* the roster record lies between */
	CHECK_INT(wait_file_has(out, "\"sender\":\"lt-urk\""), 0);
	for (int i = 0;
	     i < GIVE_UP_S * 10 && broker_cursor(h, urk, &pending) < urk; i++)
		nap();
	CHECK_INT(broker_cursor(h, urk, &pending), urk);
	CHECK_INT(pending, 0);
	CHECK_STR_HAS(slurp(out), "\"verified\":true");
	CHECK_STR_HAS(slurp(out), "MARKER-urk-1");
	CHECK(strstr(slurp(out), "\"verified\":false") == NULL);
	/* It learnt lt-urk from the chain before it judged the message:
	 * nothing failed on the way. */
	CHECK(strstr(slurp(errf), "could not be verified") == NULL);
	CHECK(strstr(slurp(watcher), "lt-urk") == NULL);
	CHECK_INT(kill(pid, 0), 0); /* the same process: no restart */
	kill(pid, SIGTERM);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The audit lists lt-urk's joining after the first roster. */
	CHECK_INT(harness_audit_verify(h, audit, sizeof(audit)), 0);
	CHECK_STR_HAS(audit, "join lt-urk");
	return urk;
}

/* keten_ack refuses to pass a message the client saw fail, one whose
 * signer the chain's roster lacks (not proven forged, so not
 * skippable), also after a refresh; the false broker L sees no ack. */
static void
ack_refused(struct raw_log *L, const char *watcher, const char *vt,
            uint64_t stranger, uint64_t after)
{
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t cursor, before = atomic_load(&L->cursor);

	if (keten_client_new(&c, watcher, vt, &err) != KETEN_OK)
		die("client", err.message);
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	/* Only the messages the inbox holds are read: a count that is
	 * already wrong must not make the test read past them. */
	CHECK_INT(in->n, 2);
	if (in->n == 2) {
		CHECK_INT(in->messages[0].seq, stranger);
		CHECK_INT(in->messages[0].status, KETEN_E_SENDER_SIG);
		CHECK_STR_HAS(in->messages[0].status_message,
		              "not in the region roster");
		CHECK(!in->messages[0].forged); /* unknown: perhaps new */
		CHECK_INT(in->messages[1].seq, after);
		CHECK_INT(in->messages[1].status, KETEN_OK);
	}
	CHECK_INT(keten_inbox_ack_limit(in), 0);
	CHECK_INT(keten_ack(&cursor, c, after, &err), KETEN_E_USAGE);
	CHECK_STR_HAS(err.message, "could not verify");
	CHECK_INT(keten_ack(&cursor, c, stranger, &err), KETEN_E_USAGE);
	CHECK_INT(keten_inbox_skip_forged(in, 0, c, &err), KETEN_E_USAGE);
	CHECK_STR_HAS(err.message, "not proven forged");
	keten_inbox_free(&in);

	/* A refresh fetches the roster anew: the verdict stands. */
	CHECK_INT(keten_client_refresh(c, &err), KETEN_OK);
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 2);
	if (in->n == 2) {
		CHECK_INT(in->messages[0].status, KETEN_E_SENDER_SIG);
		CHECK(!in->messages[0].forged);
	}
	CHECK_INT(keten_inbox_ack_limit(in), 0);
	CHECK_INT(keten_inbox_skip_forged(in, 0, c, &err), KETEN_E_USAGE);
	keten_inbox_free(&in);
	CHECK_INT(keten_ack(&cursor, c, after, &err), KETEN_E_USAGE);
	keten_client_destroy(&c);
	/* Nothing was acknowledged at the broker. */
	CHECK_INT(atomic_load(&L->cursor), before);
	CHECK_INT(atomic_load(&L->acks), 0);
}

/* Plays the broker with L (records 1..n of h's directory, forged as
 * forge says, vt-flevoland's cursor at cursor); stop with
 * raw_broker_stop. */
static void
play(struct raw_broker *rb, struct raw_log *L, const struct harness *h,
     uint64_t n, const enum raw_forgery *forge, uint64_t cursor)
{
	struct keys *broker;
	struct keten_error err;
	char path[400];

	snprintf(path, sizeof(path), "%s/broker.key", h->dir);
	if (keys_load(&broker, path, &err) != 0)
		die("broker key", err.message);
	raw_log_make(L, h, "vt-flevoland", n, forge, cursor);
	raw_broker_start(rb, h, broker->curve_sk, raw_log_answer, L);
	keys_destroy(&broker);
}

int
main(void)
{
	struct harness h;
	struct raw_broker rb;
	static struct raw_log L;
	enum raw_forgery forge[RAW_LOG_MAX + 1] = {RAW_KEEP};
	char watcher[400], full[400], skipped[600], want[64], state[400];
	char out[400], errf[400];
	const char *vt;
	uint64_t urk, s1, s2, s3, s4;
	struct stat st;

	signal(SIGPIPE, SIG_IGN);
	harness_region(&h, AGENCIES, sizeof(AGENCIES) / sizeof(AGENCIES[0]),
	               NULL);
	/* ketend starts without lt-urk; the watcher's config never has it. */
	snprintf(full, sizeof(full), "%s/full.yaml", h.dir);
	snprintf(watcher, sizeof(watcher), "%s/watcher.yaml", h.dir);
	harness_copy_file(h.config, full);
	config_variant(h.config, full, "lt-urk");
	config_variant(watcher, full, "lt-urk");
	harness_start(&h);
	vt = harness_key(&h, "vt-flevoland");
	snprintf(skipped, sizeof(skipped), "%s.skipped", vt);
	snprintf(out, sizeof(out), "%s/inbox.out", h.dir);
	snprintf(errf, sizeof(errf), "%s/inbox.err", h.dir);
	urk = watcher_follows_roster(&h, watcher, full, vt);

	/* The referrals a false broker will alter, recorded honestly. */
	s1 = refer(&h, "lt-urk", "MARKER-urk-2");
	s2 = refer(&h, "lt-almere", "MARKER-almere-2");
	s3 = refer(&h, "lt-urk", "MARKER-urk-3");
	s4 = refer(&h, "lt-urk", "MARKER-urk-4");
	CHECK(s1 == urk + 1 && s4 == urk + 4 && s4 <= RAW_LOG_MAX);
	harness_drop_clients(&h);
	CHECK_INT(harness_stop(&h), 0);
	if (s4 > RAW_LOG_MAX || s1 != urk + 1)
		return check_done("test_watch_verify");

	/* s1 attributed to an agency the roster lacks: never passed. */
	forge[s1] = RAW_FORGE_STRANGER;
	play(&rb, &L, &h, s2, forge, urk);
	ack_refused(&L, watcher, vt, s1, s2);
	raw_broker_stop(&rb);
	raw_log_free(&L);

	/* s3 with an urgency lt-urk did not sign: proven forged. keten
	 * inbox --ack acknowledges what came before it, never it. */
	forge[s1] = RAW_KEEP;
	forge[s3] = RAW_FORGE_URGENCY;
	play(&rb, &L, &h, s3, forge, urk);
	snprintf(state, sizeof(state), "%s/inbox.checkpoint", h.dir);
	{
		const char *plain[] = {"inbox", "--ack", "--state", state, "-c",
		                       watcher, "-k",    vt,        NULL};
		const char *noack[] = {
		    "inbox", "--skip-forged", "--state", state,
		    "-c",    watcher,         "-k",      vt,
		    NULL};
		const char *skip[] = {"inbox",   "--ack", "--skip-forged",
		                      "--state", state,   "-c",
		                      watcher,   "-k",    vt,
		                      NULL};

		CHECK_INT(cli_run(out, errf, plain), 1);
		CHECK_STR_HAS(slurp(errf), "could not be verified");
		CHECK_STR_HAS(slurp(errf), "It is NOT acknowledged");
		CHECK_STR_HAS(slurp(errf), "looks forged");
		CHECK_INT(atomic_load(&L.cursor), s3 - 1);
		CHECK(stat(skipped, &st) != 0);
		CHECK_INT(cli_run(out, errf, noack), 2);
		CHECK_INT(atomic_load(&L.cursor), s3 - 1);

		CHECK_INT(cli_run(out, errf, skip), 0);
		snprintf(want, sizeof(want), "skipped message #%llu",
		         (unsigned long long)s3);
		CHECK_STR_HAS(slurp(errf), want);
		snprintf(want, sizeof(want), "seq=%llu ",
		         (unsigned long long)s3);
		CHECK_STR_HAS(slurp(skipped), want);
		CHECK_STR_HAS(slurp(skipped), "signer=lt-urk");
		CHECK_STR_HAS(slurp(skipped), "does not verify");
		CHECK(stat(skipped, &st) == 0 && (st.st_mode & 0777) == 0600);
		CHECK_INT(atomic_load(&L.cursor), s3);
	}
	raw_broker_stop(&rb);
	raw_log_free(&L);

	/* The same through a watch: the verdict after its refresh counts. */
	forge[s4] = RAW_FORGE_URGENCY;
	play(&rb, &L, &h, s4, forge, s3);
	snprintf(state, sizeof(state), "%s/watch.checkpoint", h.dir);
	{
		const char *watch[] = {"watch",   "--ack",   "--skip-forged",
		                       "--count", "1",       "--wait",
		                       "1",       "--state", state,
		                       "-c",      watcher,   "-k",
		                       vt,        NULL};

		CHECK_INT(cli_run(out, errf, watch), 0);
		snprintf(want, sizeof(want), "seq=%llu ",
		         (unsigned long long)s4);
		CHECK_STR_HAS(slurp(skipped), want);
		CHECK_INT(atomic_load(&L.cursor), s4);
	}
	raw_broker_stop(&rb);
	raw_log_free(&L);
	harness_cleanup(&h);
	return check_done("test_watch_verify");
}
