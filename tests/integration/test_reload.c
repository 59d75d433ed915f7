#define _GNU_SOURCE /* asprintf */
/*
 * ketend's signals on a running broker: SIGHUP reloads the region config
 * (agencies added and removed, routes and deadlines, an invalid file
 * refused), SIGUSR1 logs a status line, SIGQUIT stops it cleanly.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "harness.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	if (f == NULL || buf == NULL)
		exit(99);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
put(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(a, f) < 0 || (b && fputs(b, f) < 0) ||
	    fclose(f) != 0)
		exit(99);
}

/* The config text without agency id's entry (six lines, harness.c). */
static char *
without(const char *text, const char *id)
{
	char want[128], *out = strdup(text), *at, *end;

	snprintf(want, sizeof(want), "  - id: %s\n", id);
	if (out == NULL || (at = strstr(out, want)) == NULL)
		exit(99);
	end = at;
	for (int i = 0; i < 6; i++)
		end = strchr(end, '\n') + 1;
	memmove(at, end, strlen(end) + 1);
	return out;
}

static int
lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static int
refer(struct keten_client *c, struct keten_error *err)
{
	struct keten_referral_content ct = harness_content("reload");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;

	return keten_send_referral(&rc, NULL, c, &ref, err);
}

/* A reload and its outcome in the log: the nth "event=reload" line. */
static int
reload(struct harness *h, const char *config, const char *extra, int nth)
{
	put(h->config, config, extra);
	CHECK_INT(harness_signal(h, SIGHUP), 0);
	return harness_wait_log(h, "event=reload result=", nth);
}

/* A subscription read that waits in the broker. */
struct waiter {
	pthread_t t;
	struct keten_client *c;
	int rc;
	size_t n;
	struct keten_error err;
};

static void *
wait_main(void *arg)
{
	struct waiter *w = arg;
	struct keten_inbox *in = NULL;

	w->rc = keten_receive(&in, w->c, 0, 50000, &w->err);
	w->n = in ? in->n : 0;
	keten_inbox_free(&in);
	return NULL;
}

/* Asks for status lines until one shows n waiting reads. */
static int
waiting(struct harness *h, int n)
{
	char want[64];

	snprintf(want, sizeof(want), "waiting_reads=%d ", n);
	for (int i = 0; i < 1200; i++) {
		int before = harness_log_count(h, "event=status");
		if (harness_signal(h, SIGUSR1) != 0 ||
		    !harness_wait_log(h, "event=status", before + 1))
			return 0;
		if (harness_log_has(h, want))
			return 1;
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	return 0;
}

int
main(void)
{
	static const char *agencies[] = {
	    "lt-almere:local_team", "vt-flevoland:veilig_thuis",
	    "lt-urk:local_team", "gi-save:gi", "audit-inspectie:auditor"};
	struct harness h;
	struct keten_client *almere, *vt, *gi, *urk, *late;
	struct keten_inbox *in;
	struct keten_error err;
	struct waiter wg = {0}, wv = {0};
	char full_path[400], want[512], *full, *no_urk, *no_gi, *bad;
	uint64_t head;
	int auths;
	const char *routes = "routes:\n"
	                     "  - {type: referral, from: veilig_thuis, to: "
	                     "local_team}\n"
	                     "deadlines:\n  acknowledge: 3wd\n";

	harness_region(&h, agencies, 5, NULL);
	full = slurp(h.config);
	no_urk = without(full, "lt-urk");
	no_gi = without(full, "gi-save");
	snprintf(full_path, sizeof(full_path), "%s/full.yaml", h.dir);
	put(full_path, full, NULL);
	put(h.config, no_urk, NULL);
	harness_start(&h);
	almere = harness_client(&h, "lt-almere");
	vt = harness_client(&h, "vt-flevoland");
	gi = harness_client(&h, "gi-save");
	CHECK_INT(refer(almere, &err), KETEN_OK);
	CHECK_INT(keten_ping(gi, &head, &err), KETEN_OK);
	auths = harness_log_count(&h, "event=auth agency=lt-almere ");
	CHECK(auths >= 1);

	/* (a) lt-urk joins: the others keep their connections. */
	CHECK(reload(&h, full, NULL, 1));
	CHECK(harness_log_has(&h, "event=reload result=ok generation=2"));
	CHECK(harness_log_has(&h, "agencies_added=1 agencies_removed=0"));
	CHECK_INT(refer(almere, &err), KETEN_OK);
	CHECK_INT(harness_log_count(&h, "event=auth agency=lt-almere "), auths);
	urk = harness_client(&h, "lt-urk");
	CHECK_INT(refer(urk, &err), KETEN_OK);

	/* Two waiting reads: Veilig Thuis's (read up first) and gi-save's. */
	CHECK_INT(keten_receive(&in, vt, 1024, 0, &err), KETEN_OK);
	CHECK_INT(in->n, 3);
	keten_inbox_free(&in);
	wv.c = vt;
	wg.c = gi;
	CHECK_INT(pthread_create(&wv.t, NULL, wait_main, &wv), 0);
	CHECK_INT(pthread_create(&wg.t, NULL, wait_main, &wg), 0);
	CHECK(waiting(&h, 2));

	/* (b) gi-save leaves: its waiting read and its next request are
	 * refused; Veilig Thuis's read waits on and gets the next referral. */
	CHECK(reload(&h, no_gi, NULL, 2));
	CHECK(harness_log_has(&h, "event=reload result=ok generation=3"));
	CHECK(harness_log_has(&h, "agencies_added=0 agencies_removed=1"));
	CHECK(harness_log_has(&h, "waiting_reads_refused=1"));
	pthread_join(wg.t, NULL);
	CHECK_INT(wg.rc, KETEN_E_FORBIDDEN);
	CHECK_STR_HAS(wg.err.message, "agency 'gi-save' is no longer in the "
	                              "region config");
	CHECK_INT(keten_ping(gi, &head, &err), KETEN_E_FORBIDDEN);
	CHECK_STR_HAS(err.message, "agency 'gi-save' is no longer in the "
	                           "region config");
	CHECK_INT(refer(almere, &err), KETEN_OK);
	pthread_join(wv.t, NULL);
	CHECK_INT(wv.rc, KETEN_OK);
	CHECK_INT(wv.n, 1);
	/* A new connection of gi-save is not admitted at all. */
	if (keten_client_new(&late, full_path, harness_key(&h, "gi-save"),
	                     &err) != KETEN_OK)
		exit(99);
	keten_client_set_timeout(late, 2000);
	CHECK(keten_ping(late, &head, &err) != KETEN_OK);
	keten_client_destroy(&late);
	CHECK(harness_log_has(&h, "event=auth_refused"));

	/* (e) New routes and deadlines apply to the next request. */
	CHECK(reload(&h, no_gi, routes, 3));
	CHECK(harness_log_has(&h, "event=reload result=ok generation=4"));
	CHECK(harness_log_has(&h, "routes=changed deadlines=changed"));
	CHECK_INT(refer(almere, &err), KETEN_E_ROUTE);

	/* (c) An invalid file: refused with its line; the broker serves on
	 * with the config in force (the routes of (e)). */
	if (asprintf(&bad, "%s%sbogus: a: b\n", no_gi, routes) < 0)
		exit(99);
	CHECK(reload(&h, bad, NULL, 4));
	CHECK(harness_log_has(
	    &h, "level=error prog=ketend event=reload result=refused"));
	snprintf(want, sizeof(want), "region.yaml:%d", lines(bad));
	CHECK(harness_log_has(&h, want));
	if (!harness_log_has(&h, want))
		fprintf(stderr, "expected %s in %s\n", want, h.log);
	CHECK_INT(keten_ping(almere, &head, &err), KETEN_OK);
	CHECK_INT(refer(almere, &err), KETEN_E_ROUTE);
	CHECK_INT(refer(urk, &err), KETEN_E_ROUTE);

	/* (d) USR1 logs and leaves it running; QUIT stops it cleanly. */
	auths = harness_log_count(&h, "event=status generation=4 ");
	CHECK_INT(harness_signal(&h, SIGUSR1), 0);
	CHECK(harness_wait_log(&h, "event=status generation=4 ", auths + 1));
	CHECK_INT(keten_ping(almere, &head, &err), KETEN_OK);
	CHECK_INT(harness_stop_signal(&h, SIGQUIT), 0);
	CHECK(harness_log_has(&h, "event=stop signal=QUIT"));
	CHECK(harness_log_has(&h, "event=stopped"));

	keten_client_destroy(&almere);
	keten_client_destroy(&vt);
	keten_client_destroy(&gi);
	keten_client_destroy(&urk);
	free(full);
	free(no_urk);
	free(no_gi);
	free(bad);
	harness_cleanup(&h);
	return check_done("test_reload");
}
