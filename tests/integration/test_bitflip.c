/*
 * Random single-bit flips in data.mdb (issue 15, acceptance point 2): a
 * data directory of a few hundred records, then for each flip, on a fresh
 * copy, `keten audit verify` and ketend's start. Fails if either ends in a
 * signal, or if a changed chain is accepted; every flip must be harmless
 * (the audit says exactly what it said before), rebuilt, or refused with a
 * sentence. Prints the tallies.
 *
 * usage: test_bitflip [FLIPS [SEED]]   (default 40 flips, seed from the
 * clock; ctest pins one so that a failure in CI repeats)
 */
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

enum { RECORDS = 300 };

static struct harness H;
static char backup[400], live[400];

/* `keten audit verify`'s exit status and output. */
static int
audit(char *out, size_t cap)
{
	return harness_audit_verify(&H, out, cap);
}

/* ketend's start: 0 if it came up (then it is stopped, and must stop
 * cleanly), its exit status if it refused, 128 + n for a signal. */
static int
start(void)
{
	const char *ketend = getenv("KETEND");
	pid_t pid;
	int status;

	if (ketend == NULL)
		ketend = KETEND_PATH;
	CHECK(truncate(H.log, 0) == 0);
	if ((pid = fork()) == 0) {
		int fd = open(H.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execl(ketend, "ketend", "-c", H.config, "--log-level", "info",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 3000; i++) { /* 30 s */
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
			                         : 128 + WTERMSIG(status);
		if (harness_log_has(&H, "event=ready")) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 0;
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(!"ketend neither started nor refused in 30 s");
	return -1;
}

/* The audit's report without the checkpoints' signing times. */
static void
untimed(char *s)
{
	char *t = s, *e;

	/* Every line that names a checkpoint says when it was signed. */
	while ((t = strstr(t, " signed ")) != NULL &&
	       (e = strstr(t, " by the broker")) != NULL) {
		memmove(t, e, strlen(e) + 1);
		t++;
	}
}

static int
same_log(const char *a, const char *b)
{
	static char x[8192], y[8192];

	snprintf(x, sizeof(x), "%s", a);
	snprintf(y, sizeof(y), "%s", b);
	untimed(x);
	untimed(y);
	return strcmp(x, y) == 0;
}

/* Flips bit `bit` of byte `at` of the live copy. */
static void
flip(off_t at, int bit)
{
	int fd = open(live, O_RDWR);
	uint8_t b = 0;

	CHECK(fd >= 0 && pread(fd, &b, 1, at) == 1);
	b ^= (uint8_t)(1u << bit);
	CHECK(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

int
main(int argc, char **argv)
{
	static char orig[8192], out[8192], after[8192];
	unsigned long flips = argc > 1 ? strtoul(argv[1], NULL, 10) : 40;
	unsigned seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10)
	                         : (unsigned)time(NULL);
	unsigned long harmless = 0, rebuilt = 0, refused_both = 0,
	              refused_start = 0, refused_audit = 0;
	struct stat st;

	srandom(seed);
	harness_region(&H, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(live, sizeof(live), "%s/data.mdb", H.data);
	snprintf(backup, sizeof(backup), "%s/backup.mdb", H.dir);
	harness_start(&H);
	harness_fill(&H, RECORDS, "bitflip");
	harness_drop_clients(&H);
	CHECK_INT(harness_stop(&H), 0);
	harness_copy_file(live, backup);
	CHECK_INT(audit(orig, sizeof(orig)), 0);
	CHECK(stat(backup, &st) == 0 && st.st_size > 0);
	printf("bitflip: %d records, data.mdb %lld bytes, %lu flips, seed %u\n",
	       RECORDS, (long long)st.st_size, flips, seed);

	for (unsigned long i = 0; i < flips; i++) {
		off_t at = (off_t)((uint64_t)random() % (uint64_t)st.st_size);
		int bit = (int)(random() % 8), a, s, failed = check_failures;

		harness_copy_file(backup, live);
		flip(at, bit);
		a = audit(out, sizeof(out));
		s = start();
		/* Never a signal; a refusal always says why. */
		CHECK(a >= 0 && a < 128);
		CHECK(s >= 0 && s < 128);
		if (a != 0)
			CHECK(strlen(out) > 20);
		if (s != 0)
			CHECK(
			    harness_log_has(&H, "event=start_failed reason="));
		if (s == 0) {
			/* Served: then the chain must be the one recorded,
			 * whatever was rebuilt beside it. */
			CHECK_INT(a, 0);
			CHECK(strcmp(out, orig) == 0);
			CHECK_INT(audit(after, sizeof(after)), 0);
			/* A started broker may sign its checkpoint anew. */
			CHECK(same_log(after, orig));
			if (harness_log_has(&H, "damaged"))
				rebuilt++;
			else
				harmless++;
		} else if (a != 0) {
			refused_both++;
		} else {
			/* Only the broker refused: the chain is intact
			 * (the audit says exactly what it said), and the
			 * damage is in what only the broker reads. */
			CHECK(strcmp(out, orig) == 0);
			refused_start++;
		}
		if (a != 0 && s == 0)
			refused_audit++; /* counted above as a failure */
		if (check_failures != failed)
			printf("flip %lu: byte %lld bit %d: audit %d, "
			       "ketend %d\n",
			       i + 1, (long long)at, bit, a, s);
	}
	printf("bitflip tallies: %lu flips: %lu harmless, %lu rebuilt, %lu "
	       "refused by both, %lu refused by ketend only (audit "
	       "unchanged), %lu served though the audit refused\n",
	       flips, harmless, rebuilt, refused_both, refused_start,
	       refused_audit);
	harness_cleanup(&H);
	return check_done("test_bitflip");
}
