/*
 * ketend --backup on a broker under load, and the restore procedure of
 * docs/ketend.md ("Backup and restore") performed on its copy: the copy is
 * 0700/0600, audits, starts; clients that saw no later checkpoint go on,
 * one that did reports the fork; a non-empty DIR is refused untouched.
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../check.h"
#include "harness.h"

/* snprintf that must fit (a test path never is cut short). */
#define FMT(buf, ...)                                                          \
	CHECK((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) < sizeof(buf))

static struct harness h;
static atomic_bool stop_load;
static atomic_ulong sent;

/* lt-almere refers to vt-flevoland until told to stop, keeping the
 * default state file beside its key: the client that sees checkpoints
 * after the backup. */
static void *
load_main(void *arg)
{
	struct keten_referral_content ct = harness_content("backup");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_receipt rc;
	struct keten_error err;

	(void)arg;
	while (!atomic_load(&stop_load)) {
		if (keten_send_referral(&rc, NULL, c, &ref, &err) != KETEN_OK) {
			fprintf(stderr, "load: %s\n", err.message);
			break;
		}
		atomic_fetch_add(&sent, 1);
	}
	keten_client_destroy(&c);
	return NULL;
}

/* Runs cmd (stderr too) into out: its exit status, or -1. */
static int
run(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int st;

	if (f == NULL)
		return -1;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
backup(const char *dir, char *out, size_t cap)
{
	char cmd[2048];
	const char *ketend = getenv("KETEND");

	FMT(cmd, "'%s' --backup '%s' -c '%s' 2>&1",
	    ketend ? ketend : KETEND_PATH, dir, h.config);
	return run(cmd, out, cap);
}

static void
wait_sent(unsigned long n)
{
	for (int i = 0; i < 6000 && atomic_load(&sent) < n; i++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	CHECK(atomic_load(&sent) >= n);
}

/* Every entry of dir is a regular file of mode 0600; how many. */
static int
all_files_0600(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	int n = 0;

	CHECK(d != NULL);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		FMT(p, "%s/%s", dir, e->d_name);
		CHECK_INT(stat(p, &st), 0);
		CHECK(S_ISREG(st.st_mode));
		CHECK_INT(st.st_mode & 07777, 0600);
		n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* The whole file, malloc'd, its size in *n. */
static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long len;

	*n = 0;
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (b = malloc((size_t)len + 1)) == NULL ||
	    fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	} else {
		*n = (size_t)len;
	}
	if (f != NULL)
		fclose(f);
	return b;
}

int
main(void)
{
	char copy[PATH_MAX], full[PATH_MAX], busy[PATH_MAX], p[PATH_MAX];
	char out[8192], audit[8192], real[PATH_MAX], hash[65], ahash[65];
	char vt_state[PATH_MAX], almere_state[PATH_MAX], aside[PATH_MAX];
	char cmd[2048], *before, *after, *line;
	unsigned long long seq = 0, aseq = 0, cp = 0, head_then;
	size_t n_before, n_after;
	struct keten_referral_content ct = harness_content("restored");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *c;
	struct keten_receipt rc;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	struct stat st;
	pthread_t load;
	uint64_t head = 0;
	bool found = false;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	FMT(copy, "%s/backup", h.dir);
	FMT(busy, "%s/busy", h.dir);
	FMT(full, "%s/data.old", h.dir);
	FMT(vt_state, "%s/vt.checkpoint", h.dir);
	FMT(almere_state, "%s.checkpoint", harness_key(&h, "lt-almere"));
	harness_start(&h);

	/* vt-flevoland's state: a checkpoint from before the backup. */
	c = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_client_set_state(c, vt_state), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	keten_client_destroy(&c);

	printf("backup under load\n");
	CHECK_INT(pthread_create(&load, NULL, load_main, NULL), 0);
	wait_sent(20);
	CHECK_INT(backup(copy, out, sizeof(out)), 0);
	head_then = atomic_load(&sent);
	/* Records after the backup, and lt-almere's state with them. */
	wait_sent(head_then + 20);
	atomic_store(&stop_load, true);
	pthread_join(load, NULL);
	printf("%s", out);

	/* The printed path and head, held to the copy's own audit. */
	CHECK(realpath(copy, real) != NULL);
	FMT(p, "backup %s\n", real);
	CHECK(strncmp(out, p, strlen(p)) == 0);
	CHECK((line = strstr(out, "\nhead ")) != NULL);
	CHECK(line != NULL &&
	      sscanf(line, "\nhead %llu %64s", &seq, hash) == 2);
	CHECK((line = strstr(out, "\ncheckpoint ")) != NULL);
	CHECK(line != NULL && sscanf(line, "\ncheckpoint %llu", &cp) == 1);
	CHECK_INT(cp, seq);
	CHECK(seq > head);
	CHECK_INT(stat(copy, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	CHECK(all_files_0600(copy) >= 1);
	FMT(cmd, "'%s' audit verify -c '%s' '%s' 2>&1", harness_cli(), h.config,
	    copy);
	CHECK_INT(run(cmd, audit, sizeof(audit)), 0);
	CHECK((line = strstr(audit, "\nhead ")) != NULL);
	CHECK(line != NULL &&
	      sscanf(line, "\nhead %llu %64s", &aseq, ahash) == 2);
	CHECK_INT(aseq, seq);
	CHECK_STR_HAS(hash, ahash);
	CHECK(harness_head(&h, "vt-flevoland") >= seq + 20);

	printf("a directory that is not empty is refused, untouched\n");
	FMT(p, "%s/data.mdb", copy);
	before = slurp(p, &n_before);
	CHECK(before != NULL);
	CHECK_INT(backup(copy, out, sizeof(out)), 1);
	CHECK_STR_HAS(out, "is not empty: a backup never overwrites");
	after = slurp(p, &n_after);
	CHECK(after != NULL && n_after == n_before &&
	      memcmp(before, after, n_before) == 0);
	free(before);
	free(after);
	CHECK_INT(mkdir(busy, 0700), 0);
	FMT(p, "%s/keep", busy);
	harness_copy_file(h.config, p);
	CHECK_INT(backup(busy, out, sizeof(out)), 1);
	CHECK_STR_HAS(out, "is not empty");
	FMT(p, "%s/data.mdb", busy);
	CHECK(stat(p, &st) != 0);

	printf("restore: stop, old data aside, the copy in place, start\n");
	CHECK_INT(harness_stop(&h), 0);
	CHECK_INT(rename(h.data, full), 0);
	CHECK_INT(rename(copy, h.data), 0);
	harness_start(&h);
	CHECK_INT(harness_audit_verify(&h, audit, sizeof(audit)), 0);
	CHECK_STR_HAS(audit, "ok: ");
	CHECK_INT(harness_head(&h, "lt-lelystad"), seq);

	/* lt-lelystad saw nothing; vt-flevoland's state is from before the
	 * backup: both go on. */
	c = harness_client(&h, "lt-lelystad");
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	CHECK_INT(rc.seq, seq + 1);
	keten_client_destroy(&c);
	c = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_client_set_state(c, vt_state), KETEN_OK);
	CHECK_INT(keten_fetch(&in, c, 0, &err), KETEN_OK);
	for (size_t i = 0; in != NULL && i < in->n; i++)
		if (in->messages[i].seq == seq + 1 &&
		    in->messages[i].status == KETEN_OK &&
		    strcmp(in->messages[i].sender, "lt-lelystad") == 0)
			found = true;
	CHECK(found);
	keten_inbox_free(&in);
	keten_client_destroy(&c);

	/* lt-almere's state file holds a checkpoint the restored log never
	 * reached: every call is refused as a fork, library and CLI. */
	printf("a client that saw a later checkpoint\n");
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_ping(c, &head, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "the broker's log is not an extension of "
	                           "the one it showed on");
	CHECK_STR_HAS(err.message, "report this to your auditor");
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
	          KETEN_E_FORKED);
	keten_client_destroy(&c);
	FMT(cmd, "'%s' ping -c '%s' -k '%s' 2>&1", harness_cli(), h.config,
	    harness_key(&h, "lt-almere"));
	CHECK_INT(run(cmd, out, sizeof(out)), 1);
	CHECK_STR_HAS(out, "is not an extension of the one it showed");
	/* Its state file is the evidence of the cut: the audit held to it
	 * says the restored log is shorter. */
	FMT(cmd, "'%s' audit verify -c '%s' --checkpoint '%s' '%s' 2>&1",
	    harness_cli(), h.config, almere_state, h.data);
	CHECK_INT(run(cmd, out, sizeof(out)), 1);
	printf("%s", out);
	/* Once the operator confirmed the restore: the state file moved
	 * aside (kept), the client goes on and sends again. */
	FMT(aside, "%s.before-restore", almere_state);
	CHECK_INT(rename(almere_state, aside), 0);
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	CHECK_INT(rc.seq, seq + 2);
	keten_client_destroy(&c);

	CHECK_INT(harness_stop(&h), 0);

	printf("a backup with no broker running\n");
	FMT(copy, "%s/backup2", h.dir);
	CHECK_INT(backup(copy, out, sizeof(out)), 0);
	FMT(p, "\nhead %llu ", (unsigned long long)seq + 2);
	CHECK_STR_HAS(out, p);
	harness_cleanup(&h);
	return check_done("test_backup");
}
