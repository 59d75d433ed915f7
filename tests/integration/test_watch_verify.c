/*
 * A message that fails verification is never acknowledged: by keten watch
 * --ack (a watcher whose config lacks an agency that joined), by keten_ack
 * (refused past it), or by keten inbox --ack; only one proven forged is
 * skipped, with --skip-forged, and recorded. Never asserts a duration:
 * waits have bounds only to give up.
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
 * or a deployment would): without agency drop (NULL: none), and with
 * the sign_key of agency resign replaced by sign_key (NULL: none).
 */
static void
config_variant(const char *dst, const char *src, const char *drop,
               const char *resign, const char *sign_key)
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
		if (resign && strcmp(id, resign) == 0 &&
		    strncmp(line, "    sign_key: ", 14) == 0) {
			fprintf(out, "    sign_key: %s\n", sign_key);
			continue;
		}
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

/* Acceptance point 2: a watcher with --ack and a config without lt-urk
 * does not acknowledge lt-urk's referral; once its config file names
 * lt-urk it receives and acknowledges it, with no restart. */
static void
watcher_follows_roster(struct harness *h, const char *old, const char *vt)
{
	char out[400], errf[400], wait_ack[64];
	const char *args[] = {"watch", "--ack", "--json", "--wait", "1",
	                      "-c",    old,     "-k",     vt,       NULL};
	uint64_t first, urk;
	pid_t pid;
	int pending, st;

	snprintf(out, sizeof(out), "%s/watch.out", h->dir);
	snprintf(errf, sizeof(errf), "%s/watch.err", h->dir);
	config_variant(old, h->config, "lt-urk", NULL, NULL);
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

	urk = refer(h, "lt-urk", "MARKER-urk-1");
	CHECK_INT(wait_file_has(errf, "could not be verified"), 0);
	CHECK_STR_HAS(slurp(errf), "It is NOT acknowledged");
	CHECK_STR_HAS(slurp(errf), "'lt-urk' has joined");
	CHECK_STR_HAS(slurp(errf), "not in the region roster");
	/* Still waiting at the broker, the cursor below it, and nothing
	 * of it shown as a message. */
	CHECK_INT(broker_cursor(h, urk, &pending), first);
	CHECK_INT(pending, 1);
	CHECK(strstr(slurp(out), "lt-urk") == NULL);
	CHECK_INT(kill(pid, 0), 0);

	/* The operator's new config reaches the watcher's disk. */
	config_variant(old, h->config, NULL, NULL, NULL);
	CHECK_INT(wait_file_has(out, "\"sender\":\"lt-urk\""), 0);
	for (int i = 0;
	     i < GIVE_UP_S * 10 && broker_cursor(h, urk, &pending) < urk; i++)
		nap();
	CHECK_INT(broker_cursor(h, urk, &pending), urk);
	CHECK_INT(pending, 0);
	CHECK_STR_HAS(slurp(out), "\"verified\":true");
	CHECK(strstr(slurp(out), "\"verified\":false") == NULL);
	CHECK_INT(kill(pid, 0), 0); /* the same process: no restart */
	kill(pid, SIGTERM);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* keten_ack refuses to pass a message the client saw fail; a refresh
 * that reads a config naming its signer lets it through. */
static void
ack_refused(struct harness *h, const char *old, const char *vt)
{
	struct keten_client *c;
	struct keten_inbox *in;
	struct keten_error err;
	uint64_t urk, after, cursor;
	int pending;

	config_variant(old, h->config, "lt-urk", NULL, NULL);
	if (keten_client_new(&c, old, vt, &err) != KETEN_OK)
		die("client", err.message);
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	urk = refer(h, "lt-urk", "MARKER-urk-2");
	after = refer(h, "lt-almere", "MARKER-almere-2");
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	/* Only the messages the inbox holds are read: a count that is
	 * already wrong must not make the test read past them. */
	CHECK_INT(in->n, 2);
	if (in->n == 2) {
		CHECK_INT(in->messages[0].seq, urk);
		CHECK_INT(in->messages[0].status, KETEN_E_SENDER_SIG);
		CHECK(!in->messages[0].forged); /* unknown: perhaps new */
		CHECK_INT(in->messages[1].status, KETEN_OK);
	}
	CHECK_INT(keten_inbox_ack_limit(in), 0);
	CHECK_INT(keten_ack(&cursor, c, after, &err), KETEN_E_USAGE);
	CHECK_STR_HAS(err.message, "could not verify");
	CHECK_INT(keten_ack(&cursor, c, urk, &err), KETEN_E_USAGE);
	CHECK_INT(keten_inbox_skip_forged(in, 0, c, &err), KETEN_E_USAGE);
	CHECK_STR_HAS(err.message, "not proven forged");
	keten_inbox_free(&in);
	CHECK_INT(broker_cursor(h, urk, &pending), urk - 1);
	CHECK_INT(pending, 1);

	/* A config that does not load leaves the roster as it was. */
	{
		FILE *f = fopen(old, "w");
		if (f == NULL)
			die("config", strerror(errno));
		fputs("region: [not, a, region\n", f);
		fclose(f);
	}
	CHECK_INT(keten_client_refresh(c, &err), KETEN_E_CONFIG);
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	CHECK_INT(keten_inbox_ack_limit(in), 0);
	keten_inbox_free(&in);

	config_variant(old, h->config, NULL, NULL, NULL);
	CHECK_INT(keten_client_refresh(c, &err), KETEN_OK);
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 2);
	if (in->n == 2)
		CHECK_INT(in->messages[0].status, KETEN_OK);
	CHECK_INT(keten_inbox_ack_limit(in), after);
	keten_inbox_free(&in);
	CHECK_INT(keten_ack(&cursor, c, after, &err), KETEN_OK);
	CHECK_INT(cursor, after);
	keten_client_destroy(&c);
}

/* A config whose lt-urk sign_key is wrong (for this client only) makes
 * lt-urk's honest message look forged: keten inbox --ack does not
 * acknowledge it; with --skip-forged it skips it and records the skip;
 * keten watch --skip-forged does the same. */
static void
skip_forged(struct harness *h, const char *bad, const char *vt)
{
	struct keten_public_keys pub;
	struct keten_error err;
	struct stat st;
	char path[600], out[400], errf[400], skipped[600], want[64];
	const char *plain[] = {"inbox", "--ack", "-c", bad, "-k", vt, NULL};
	const char *noack[] = {"inbox", "--skip-forged", "-c", bad, "-k", vt,
	                       NULL};
	const char *skip[] = {
	    "inbox", "--ack", "--skip-forged", "-c", bad, "-k", vt, NULL};
	const char *watch[] = {"watch",   "--ack", "--skip-forged",
	                       "--count", "1",     "--wait",
	                       "1",       "-c",    bad,
	                       "-k",      vt,      NULL};
	uint64_t urk;
	int pending;

	snprintf(path, sizeof(path), "%s/stranger.key", h->dir);
	if (keten_keygen(&pub, path, "lt-stranger", &err) != KETEN_OK)
		die("keygen", err.message);
	config_variant(bad, h->config, NULL, "lt-urk", pub.sign_key);
	snprintf(out, sizeof(out), "%s/inbox.out", h->dir);
	snprintf(errf, sizeof(errf), "%s/inbox.err", h->dir);
	snprintf(skipped, sizeof(skipped), "%s.skipped", vt);
	urk = refer(h, "lt-urk", "MARKER-urk-3");

	CHECK_INT(cli_run(out, errf, plain), 1);
	CHECK_STR_HAS(slurp(errf), "could not be verified");
	CHECK_STR_HAS(slurp(errf), "It is NOT acknowledged");
	CHECK_STR_HAS(slurp(errf), "looks forged");
	CHECK_INT(broker_cursor(h, urk, &pending), urk - 1);
	CHECK_INT(pending, 1);
	CHECK(stat(skipped, &st) != 0);
	CHECK_INT(cli_run(out, errf, noack), 2);
	CHECK_INT(broker_cursor(h, urk, &pending), urk - 1);

	CHECK_INT(cli_run(out, errf, skip), 0);
	snprintf(want, sizeof(want), "skipped message #%llu",
	         (unsigned long long)urk);
	CHECK_STR_HAS(slurp(errf), want);
	snprintf(want, sizeof(want), "seq=%llu ", (unsigned long long)urk);
	CHECK_STR_HAS(slurp(skipped), want);
	CHECK_STR_HAS(slurp(skipped), "signer=lt-urk");
	CHECK_STR_HAS(slurp(skipped), "does not verify");
	CHECK(stat(skipped, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(broker_cursor(h, urk, &pending), urk);
	CHECK_INT(pending, 0);

	/* The same through a watch: the verdict after its refresh counts. */
	urk = refer(h, "lt-urk", "MARKER-urk-4");
	CHECK_INT(cli_run(out, errf, watch), 0);
	snprintf(want, sizeof(want), "seq=%llu ", (unsigned long long)urk);
	CHECK_STR_HAS(slurp(skipped), want);
	CHECK_INT(broker_cursor(h, urk, &pending), urk);
	CHECK_INT(pending, 0);
}

int
main(void)
{
	struct harness h;
	char old[400], bad[400];
	const char *vt;

	signal(SIGPIPE, SIG_IGN);
	harness_region(&h, AGENCIES, sizeof(AGENCIES) / sizeof(AGENCIES[0]),
	               NULL);
	harness_start(&h);
	vt = harness_key(&h, "vt-flevoland");
	snprintf(old, sizeof(old), "%s/watcher.yaml", h.dir);
	snprintf(bad, sizeof(bad), "%s/bad-urk.yaml", h.dir);
	watcher_follows_roster(&h, old, vt);
	ack_refused(&h, old, vt);
	skip_forged(&h, bad, vt);
	harness_drop_clients(&h);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_watch_verify");
}
