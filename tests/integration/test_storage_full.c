/*
 * Storage full, in words that name it (issue 17, point 6): the map at
 * limits.map_max_mb ("map"), and a disk with no space left ("disk": the data
 * directory on a 3 MiB tmpfs, so root only; otherwise it reports itself
 * skipped, exit 77, never passed). Code 111 to the client and in `keten`'s
 * output (exit 1); the log names the data directory and what to do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "harness.h"

#define SKIPPED 77

static struct harness h;
static int mounted;

static void
full_umount(void)
{
	if (mounted && umount2(h.data, MNT_DETACH) == 0)
		mounted = 0;
}

/* Sends 300 KB referrals until one is refused; returns that refusal's code
 * and leaves its sentence in err. */
static int
full_fill(struct keten_error *err)
{
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_referral_content ct = harness_content("full");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt r;
	char *notes = malloc(300000);
	int rc = KETEN_OK;

	memset(notes, 'x', 299999);
	notes[299999] = '\0';
	ct.notes = notes;
	for (int i = 0; i < 100 && rc == KETEN_OK; i++)
		rc = keten_send_referral(&r, NULL, c, &ref, err);
	keten_client_destroy(&c);
	free(notes);
	return rc;
}

/* `keten send referral` of a 300 KB note: its exit status, its stderr in
 * out. */
static int
full_cli(char *out, size_t cap)
{
	char notes[400], cmd[2000];
	FILE *f;
	size_t n;
	int st;

	snprintf(notes, sizeof(notes), "%s/notes.txt", h.dir);
	if ((f = fopen(notes, "w")) == NULL)
		return -1;
	for (int i = 0; i < 300000; i++)
		fputc('y', f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "'%s' send referral -c '%s' -k '%s' --to vt-flevoland "
	         "--child-name Anna --concern c --request r --notes @'%s' "
	         "2>&1 >/dev/null",
	         harness_cli(), h.config, harness_key(&h, "lt-almere"), notes);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
full_map(void)
{
	struct keten_error err;
	char out[2000];

	harness_region(&h, harness_flevoland, harness_flevoland_n,
	               "  map_size_mb: 1\n  map_max_mb: 2\n");
	harness_start(&h);
	CHECK_INT(full_fill(&err), KETEN_E_STORAGE);
	CHECK_STR_HAS(err.message, "storage full (the store is at its size "
	                           "limit, 2 MiB, limits.map_max_mb)");
	CHECK_STR_HAS(err.message, "recorded nothing; retry later");
	CHECK_INT(full_cli(out, sizeof(out)), 1);
	CHECK_STR_HAS(out, "storage full (the store is at its size limit");
	CHECK_STR_HAS(out, "code 111");
	CHECK_INT(harness_stop(&h), 0);
	CHECK(harness_log_has(&h, "raise limits.map_max_mb and restart"));
	CHECK(harness_log_has(&h, h.data));
	harness_cleanup(&h);
}

static int
full_disk(void)
{
	struct keten_error err;
	uint64_t head;
	char out[2000], want[600];

	if (geteuid() != 0) {
		printf("test_storage_full disk: skipped: mounting a tmpfs "
		       "needs root\n");
		return SKIPPED;
	}
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	if (mkdir(h.data, 0700) != 0 ||
	    mount("tmpfs", h.data, "tmpfs", 0, "size=3m,mode=0700") != 0) {
		printf("test_storage_full disk: skipped: cannot mount a "
		       "tmpfs: %s\n",
		       strerror(errno));
		harness_cleanup(&h);
		return SKIPPED;
	}
	mounted = 1;
	atexit(full_umount);
	harness_start(&h);
	CHECK_INT(full_fill(&err), KETEN_E_STORAGE);
	CHECK_STR_HAS(err.message, "storage full (no space left on device)");
	CHECK_STR_HAS(err.message, "recorded nothing; retry later");
	CHECK(strstr(err.message, "Input/output error") == NULL);
	head = harness_head(&h, "lt-almere");
	CHECK_INT(full_cli(out, sizeof(out)), 1);
	CHECK_STR_HAS(out,
	              "keten send: storage full (no space left on device)");
	CHECK_STR_HAS(out, "code 111");
	CHECK_INT(harness_head(&h, "lt-almere"), head);
	/* Space freed: the broker records again, without a restart. */
	CHECK_INT(mount("tmpfs", h.data, "tmpfs", MS_REMOUNT, "size=16m"), 0);
	CHECK_INT(full_cli(out, sizeof(out)), 0);
	CHECK_INT(harness_head(&h, "lt-almere"), head + 1);
	CHECK_INT(harness_stop(&h), 0);
	snprintf(want, sizeof(want),
	         "storage full (no space left on device) in data directory "
	         "%s: free space on its filesystem",
	         h.data);
	CHECK(harness_log_has(&h, want));
	full_umount();
	CHECK(!mounted);
	harness_cleanup(&h);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "map") == 0)
		full_map();
	else if (argc == 2 && strcmp(argv[1], "disk") == 0) {
		if (full_disk() == SKIPPED)
			return SKIPPED;
	} else {
		fprintf(stderr, "usage: test_storage_full map|disk\n");
		return 2;
	}
	return check_done("test_storage_full");
}
