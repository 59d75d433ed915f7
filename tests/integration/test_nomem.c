/*
 * libketen out of memory: an agency system whose process cannot get the
 * memory to encode a referral gets KETEN_E_NOMEM and a sentence, not a
 * crash, and the same client works once memory is there again. The
 * shortage is real: the address space of a child process is capped
 * (RLIMIT_AS) just above what it uses, and the referral's notes need more.
 * Under AddressSanitizer the child runs with allocator_may_return_null,
 * so that ASan's allocator, too, answers a failed allocation with NULL.
 * A broker runs only to serve the roster: the content is sealed to the
 * recipient's box key in force, which the client learns from the chain
 * (docs/PROTOCOL.md 22.6) before the cap; preparing is then local.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"

#define NOTES_BYTES (64u << 20) /* the notes: more than the cap leaves */
#define HEADROOM    (16u << 20) /* the cap above what the child uses */

/* The child's address space now, in bytes (VmSize), or 0. */
static unsigned long long
vm_size(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Exit status: 0 if both expectations held, else which one failed. Runs
 * once the broker is up (a byte on fd). */
static int
child(struct harness *h, int fd)
{
	struct keten_client *c;
	struct keten_referral_content ct = harness_content("nomem");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_prepared *p = NULL;
	struct keten_error err;
	struct rlimit was, cap;
	char *notes = malloc(NOTES_BYTES + 1);
	unsigned long long now;
	uint64_t head;
	char up;
	int rc;

	if (read(fd, &up, 1) != 1)
		return 14;
	close(fd);
	c = harness_client(h, "lt-almere");
	/* The roster, learnt with any reply's checkpoint. */
	if (keten_ping(c, &head, &err) != KETEN_OK) {
		fprintf(stderr, "ping: %s\n", err.message);
		return 15;
	}
	if (notes == NULL)
		return 10;
	memset(notes, 'n', NOTES_BYTES);
	notes[NOTES_BYTES] = '\0';
	ct.notes = notes;
	if (getrlimit(RLIMIT_AS, &was) != 0 || (now = vm_size()) == 0)
		return 11;
	cap = was;
	cap.rlim_cur = now + HEADROOM;
	if (setrlimit(RLIMIT_AS, &cap) != 0)
		return 12;
	rc = keten_prepare_referral(&p, c, &ref, &err);
	if (setrlimit(RLIMIT_AS, &was) != 0)
		return 13;
	if (rc != KETEN_E_NOMEM || p != NULL || err.code != KETEN_E_NOMEM ||
	    err.message[0] == '\0') {
		fprintf(stderr, "capped: code %d (%s)\n", rc, err.message);
		return 1;
	}
	printf("capped: %d, %s\n", rc, err.message);
	fflush(stdout);
	/* Nothing was left half-done: with memory, the same call works. */
	rc = keten_prepare_referral(&p, c, &ref, &err);
	if (rc != KETEN_OK || p == NULL) {
		fprintf(stderr, "uncapped: code %d (%s)\n", rc, err.message);
		return 2;
	}
	keten_prepared_free(&p);
	keten_client_destroy(&c);
	free(notes);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *asan = getenv("ASAN_OPTIONS");
	struct harness h;
	int status = -1, up[2];
	pid_t pid;

	/* ASan reads its options once, at start: come back with them. */
	if (argc == 1) {
		char opts[1024];
		snprintf(opts, sizeof(opts), "%s%sallocator_may_return_null=1",
		         asan ? asan : "", asan && *asan ? ":" : "");
		if (setenv("ASAN_OPTIONS", opts, 1) != 0)
			return 1;
		execl("/proc/self/exe", argv[0], "--again", (char *)NULL);
		perror("test_nomem: exec");
		return 1;
	}
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	if (pipe(up) != 0)
		return 1;
	fflush(stdout);
	/* exit, not _exit: LeakSanitizer checks the child at its exit, so
	 * memory the refused call left behind fails the test. Forked before
	 * the broker starts, so the child's exit leaves the broker alone. */
	if ((pid = fork()) == 0) {
		close(up[1]);
		exit(child(&h, up[0]));
	}
	close(up[0]);
	CHECK(pid > 0);
	harness_start(&h);
	CHECK(write(up[1], "u", 1) == 1);
	close(up[1]);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_nomem");
}
