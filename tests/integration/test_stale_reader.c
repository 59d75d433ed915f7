/*
 * A reader killed while it holds a read transaction on the live store (a
 * `ketend --backup` or `keten audit` killed mid-copy) leaves its slot in
 * LMDB's reader table: until it is freed the writer cannot reuse pages
 * freed after that snapshot, and the map, then the disk, grows. ketend
 * frees such slots before it grows the map (and once a minute): here
 * mdb_dump, blocked writing to a pipe no one reads, is the reader, killed
 * with SIGKILL; the referrals after it must all be recorded and the log
 * must say the slot was freed.
 */
#define _GNU_SOURCE /* F_GETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"

extern char **environ;

static struct harness h;

/* n referrals of 300 KB from lt-almere; how many were recorded. */
static int
send_big(struct keten_client *c, int n)
{
	struct keten_referral_content ct = harness_content("stale");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt r;
	struct keten_error err;
	char *notes = malloc(300000);
	int ok = 0;

	if (notes == NULL)
		abort();
	memset(notes, 'x', 299999);
	notes[299999] = '\0';
	ct.notes = notes;
	for (int i = 0; i < n; i++) {
		if (keten_send_referral(&r, NULL, c, &ref, &err) == KETEN_OK)
			ok++;
		else
			fprintf(stderr, "referral refused: %s\n", err.message);
	}
	free(notes);
	return ok;
}

/* mdb_dump of the live store, its output a pipe no one reads: once the
 * pipe is full it waits, inside its read transaction. */
static pid_t
stuck_reader(int *rd)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = {"mdb_dump", "-a", h.data, NULL};
	int p[2], queued = 0, size;
	pid_t pid;

	if (pipe(p) != 0)
		abort();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	if (posix_spawnp(&pid, "mdb_dump", &fa, NULL, argv, environ) != 0) {
		fprintf(stderr, "cannot start mdb_dump (lmdb-utils)\n");
		exit(1);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	/* Until the pipe is full: mdb_dump is blocked. */
	if ((size = fcntl(p[0], F_GETPIPE_SZ)) <= 0)
		size = 4096;
	for (int i = 0; i < 1000 && queued < size; i++) {
		usleep(10000);
		if (ioctl(p[0], FIONREAD, &queued) != 0)
			queued = 0;
	}
	CHECK(queued >= size);
	*rd = p[0];
	return pid;
}

int
main(void)
{
	struct keten_client *c;
	int rd, st = 0, ok;
	pid_t pid;

	harness_region(&h, harness_flevoland, harness_flevoland_n,
	               "  map_size_mb: 1\n  map_max_mb: 256\n");
	harness_start(&h);
	c = harness_client(&h, "lt-almere");
	/* Enough for mdb_dump to fill a pipe. */
	CHECK_INT(send_big(c, 4), 4);
	pid = stuck_reader(&rd);
	CHECK_INT(kill(pid, SIGKILL), 0);
	CHECK_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(rd);
	CHECK_INT(harness_log_count(&h, "event=stale_readers_cleared"), 0);
	/* The map fills within a few of these (it is a few MiB); before it
	 * grows, ketend frees the dead slot. */
	ok = send_big(c, 60);
	CHECK_INT(ok, 60);
	CHECK(harness_log_has(&h, "event=stale_readers_cleared n=1"));
	printf("after the reader was killed: %d of 60 referrals of 300 KB "
	       "recorded; stale_readers_cleared logged %d times\n",
	       ok, harness_log_count(&h, "event=stale_readers_cleared"));
	keten_client_destroy(&c);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_stale_reader");
}
