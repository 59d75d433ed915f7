/*
 * ketend under systemd's notify protocol, without systemd: the test binds
 * the $NOTIFY_SOCKET datagram socket itself and checks READY=1, the
 * watchdog's keep-alives, RELOADING=1 then READY=1 around a SIGHUP reload
 * (taken or refused), and STOPPING=1 on SIGTERM. No duration is asserted.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"

#define NOTE_MAX  512  /* bytes of one notification kept */
#define NOTES_MAX 4096 /* notifications kept */
#define WAIT_S    60   /* generous: the machine may be busy */

/* Every notification received, in order; the reader thread appends. */
static struct {
	pthread_mutex_t lock;
	char text[NOTES_MAX][NOTE_MAX];
	size_t n;
	int fd;
	int stop;
} notes = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* Reads at once whatever ketend sends: a unix datagram socket's queue is
 * short, and a sender whose receiver does not read waits. */
static void *
reader(void *arg)
{
	char buf[NOTE_MAX];

	(void)arg;
	for (;;) {
		struct pollfd p = {.fd = notes.fd, .events = POLLIN};
		ssize_t n;

		pthread_mutex_lock(&notes.lock);
		if (notes.stop) {
			pthread_mutex_unlock(&notes.lock);
			return NULL;
		}
		pthread_mutex_unlock(&notes.lock);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(notes.fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0)
			continue;
		buf[n] = '\0';
		pthread_mutex_lock(&notes.lock);
		if (notes.n < NOTES_MAX)
			memcpy(notes.text[notes.n++], buf, (size_t)n + 1);
		pthread_mutex_unlock(&notes.lock);
	}
}

/* Whether a notification has the line want (its whole text, or a
 * "KEY=" prefix when want ends in '='). */
static int
has_line(const char *note, const char *want)
{
	size_t len = strlen(want);

	for (const char *at = note; at != NULL && *at;) {
		const char *end = strchr(at, '\n');
		size_t n = end ? (size_t)(end - at) : strlen(at);

		if (want[len - 1] == '='
		        ? strncmp(at, want, len) == 0
		        : n == len && strncmp(at, want, n) == 0)
			return 1;
		at = end ? end + 1 : NULL;
	}
	return 0;
}

/*
 * Waits (up to WAIT_S) for the first notification at or after *from that
 * has the line want; copies it to out, sets *from past it, returns 1; or
 * 0 if none came.
 */
static int
wait_note(size_t *from, const char *want, char *out)
{
	for (int i = 0; i < WAIT_S * 20; i++) {
		pthread_mutex_lock(&notes.lock);
		for (size_t k = *from; k < notes.n; k++)
			if (has_line(notes.text[k], want)) {
				if (out != NULL)
					strcpy(out, notes.text[k]);
				*from = k + 1;
				pthread_mutex_unlock(&notes.lock);
				return 1;
			}
		pthread_mutex_unlock(&notes.lock);
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	fprintf(stderr, "no '%s' after notification %zu\n", want, *from);
	return 0;
}

/* A notification's VALUE for "KEY=", as a number; -1 without it. */
static long long
note_number(const char *note, const char *key)
{
	const char *at = strstr(note, key);

	return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

static long long
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
main(void)
{
	struct harness h;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char wrap[400], note[NOTE_MAX];
	size_t at = 0, mark;
	pthread_t th;
	FILE *f;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify",
	                     h.dir) >= sizeof(sa.sun_path) ||
	    (notes.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(notes.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("notify socket");
		return 99;
	}
	/* As systemd sets them for a unit with WatchdogSec=2s. The
	 * watchdog counts only for the process $WATCHDOG_PID names, which
	 * a wrapper sets to its own pid, ketend's after exec. */
	snprintf(wrap, sizeof(wrap), "%s/ketend-notify", h.dir);
	if ((f = fopen(wrap, "w")) == NULL)
		return 99;
	fprintf(f,
	        "#!/bin/sh\nWATCHDOG_PID=$$\nexport WATCHDOG_PID\n"
	        "exec '%s' \"$@\"\n",
	        getenv("KETEND") ? getenv("KETEND") : KETEND_PATH);
	fclose(f);
	if (chmod(wrap, 0700) != 0 || setenv("KETEND", wrap, 1) != 0 ||
	    setenv("NOTIFY_SOCKET", sa.sun_path, 1) != 0 ||
	    setenv("WATCHDOG_USEC", "2000000", 1) != 0)
		return 99;
	harness_start(&h);
	CHECK(harness_log_has(&h, "event=systemd notify=on watchdog_ms=2000"));

	/* Ready once it serves (harness_start had an answer), saying so. */
	CHECK(wait_note(&at, "READY=1", note));
	CHECK_STR_HAS(note, "STATUS=serving region testregion on tcp://");
	mark = at;

	/* Keep-alives while idle: at least two, the second after READY. */
	CHECK(wait_note(&at, "WATCHDOG=1", NULL));
	CHECK(wait_note(&at, "WATCHDOG=1", NULL));

	/* A reload: RELOADING=1 with the monotonic time it began, then
	 * READY=1 with the new generation. */
	at = mark;
	CHECK_INT(harness_signal(&h, SIGHUP), 0);
	CHECK(wait_note(&at, "RELOADING=1", note));
	CHECK(note_number(note, "MONOTONIC_USEC=") > 0);
	CHECK(note_number(note, "MONOTONIC_USEC=") <= mono_us());
	CHECK(wait_note(&at, "READY=1", note));
	CHECK_STR_HAS(note, "config generation 2; reloaded");

	/* A refused reload ends too: systemd must not stay "reloading". */
	if ((f = fopen(h.config, "a")) == NULL)
		return 99;
	fputs("region: [\n", f);
	fclose(f);
	CHECK_INT(harness_signal(&h, SIGHUP), 0);
	CHECK(wait_note(&at, "RELOADING=1", NULL));
	CHECK(wait_note(&at, "READY=1", note));
	CHECK_STR_HAS(note, "config generation 2; the last reload was refused");

	/* Still fed after the reloads. */
	CHECK(wait_note(&at, "WATCHDOG=1", NULL));

	/* A clean stop says so before it exits. */
	CHECK_INT(harness_stop(&h), 0);
	CHECK(wait_note(&at, "STOPPING=1", NULL));

	pthread_mutex_lock(&notes.lock);
	notes.stop = 1;
	pthread_mutex_unlock(&notes.lock);
	pthread_join(th, NULL);
	close(notes.fd);
	harness_cleanup(&h);
	return check_done("test_notify");
}
