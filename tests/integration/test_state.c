/*
 * libketen's state file (issue 15, point 2): a client that saw the longer
 * log catches a cut, with or without a re-signed checkpoint, on ping, fetch
 * and submit, and stays stopped; an honest broker never trips it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "../check.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

#define RECORDS  20
#define CUT      10
#define INFLIGHT 64

static struct harness h;
/* The roster records ketend wrote before the first message: message i
 * is record base + i. */
static uint64_t base;
static struct keten_receipt receipts[RECORDS + 1]; /* by message number */
static struct keten_referral_content ct;
static struct keten_referral ref = {.recipient = "vt-flevoland",
                                    .urgency = KETEN_URGENCY_ROUTINE,
                                    .content = &ct};

/* Copies the stopped broker's data.mdb to dir, or back from it. */
static void
save_dir(const char *dir)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cp '%s/data.mdb' '%s/'",
	         dir, h.data, dir);
	if (system(cmd) != 0)
		exit(99);
}

static void
restore_dir(const char *dir)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cp '%s/data.mdb' '%s/data.mdb'", dir,
	         h.data);
	if (system(cmd) != 0)
		exit(99);
}

static void
send_n(int from, int to)
{
	struct keten_client *c = harness_client(&h, "lt-almere");
	struct keten_error err;

	for (int i = from; i <= to; i++) {
		CHECK_INT(
		    keten_send_referral(&receipts[i], NULL, c, &ref, &err),
		    KETEN_OK);
		CHECK_INT(receipts[i].seq, base + (uint64_t)i);
	}
	keten_client_destroy(&c);
}

/* The attack on the stopped broker's directory: the last CUT
 * messages' records gone, the head set back, the checkpoint deleted. */
static void
cut_end(void)
{
	struct lmdb_edit e;
	MDB_dbi log, content, meta;
	uint8_t k[LAYOUT_SEQ_KEY_LEN], head[LAYOUT_HEAD_LEN];
	MDB_val hk = LAYOUT_KEY(LAYOUT_META_HEAD),
	        ck = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), hv;

	lmdb_edit_begin(&e, h.data, 0, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	content = lmdb_edit_db(&e, LAYOUT_DB_CONTENT);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	for (uint64_t s = base + RECORDS - CUT + 1; s <= base + RECORDS; s++) {
		MDB_val key = layout_seq_key(k, s);
		if (mdb_del(e.txn, log, &key, NULL) != 0 ||
		    mdb_del(e.txn, content, &key, NULL) != 0)
			exit(99);
	}
	hv = layout_head_val(head, base + RECORDS - CUT,
	                     receipts[RECORDS - CUT].record_hash);
	if (mdb_put(e.txn, meta, &hk, &hv, 0) != 0 ||
	    mdb_del(e.txn, meta, &ck, NULL) != 0)
		exit(99);
	lmdb_edit_commit(&e);
}

/* The sentence every call of a client that saw RECORDS messages gives. */
static char forked[256];

static void
check_forked(int rc, const struct keten_error *err)
{
	CHECK_INT(rc, KETEN_E_FORKED);
	CHECK_INT(err->code, KETEN_E_FORKED);
	CHECK_STR_HAS(err->message, forked);
}

/* A fresh lt-almere client, state file by default (NULL) or path. */
static struct keten_client *
client(const char *id, const char *state)
{
	struct keten_client *c = harness_client(&h, id);

	if (state != NULL)
		CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
	return c;
}

/* The broker restored to a copy at CUT messages: it re-signs a checkpoint
 * of base + CUT records, then one more on the next commit. */
static void
resigned_cut(const char *state)
{
	struct keten_client *c;
	struct keten_receipt rc;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	uint64_t head = 0;

	c = client("lt-almere", NULL);
	check_forked(keten_ping(c, &head, &err), &err);
	/* Poisoned: no further call reaches the broker. */
	check_forked(keten_ping(c, &head, &err), &err);
	check_forked(keten_send_referral(&rc, NULL, c, &ref, &err), &err);
	check_forked(keten_fetch(&in, c, 10, &err), &err);
	keten_client_destroy(&c);

	/* A receipt's checkpoint: the broker records it (CUT + 1), but the
	 * receipt is no evidence. */
	c = client("lt-almere", NULL);
	check_forked(keten_send_referral(&rc, NULL, c, &ref, &err), &err);
	check_forked(keten_ping(c, &head, &err), &err);
	keten_client_destroy(&c);

	/* The state file was left as it was: still RECORDS. */
	c = client("lt-almere", state);
	check_forked(keten_ping(c, &head, &err), &err);
	keten_client_destroy(&c);
}

static void
deleted_checkpoint_cut(const char *fetch_state)
{
	struct keten_client *c;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	uint64_t head = 0;

	/* The recipient's own state file, from its fetch. */
	c = client("vt-flevoland", fetch_state);
	check_forked(keten_fetch(&in, c, 5, &err), &err);
	CHECK(in == NULL);
	check_forked(keten_ping(c, &head, &err), &err);
	keten_client_destroy(&c);

	c = client("lt-almere", NULL);
	check_forked(keten_ping(c, &head, &err), &err);
	keten_client_destroy(&c);
}

/* 64 in flight through the pipelined API, and a restart: an honest
 * broker never looks forked, and the state keeps up with the log. */
static void
honest_pipelined(const char *state)
{
	struct keten_client *c = client("lt-almere", state);
	struct keten_prepared *p[4 * INFLIGHT];
	struct keten_receipt rc;
	struct keten_error err;
	uint64_t t, head = 0;
	size_t n = sizeof(p) / sizeof(p[0]), done = 0, sent = 0;

	for (size_t i = 0; i < n; i++)
		CHECK_INT(keten_prepare_referral(&p[i], c, &ref, &err),
		          KETEN_OK);
	while (done < n) {
		while (sent < n && sent - done < INFLIGHT)
			CHECK_INT(keten_submit_start(&t, c, p[sent++], &err),
			          KETEN_OK);
		CHECK_INT(keten_submit_finish(&rc, &t, c, &err), KETEN_OK);
		done++;
	}
	for (size_t i = 0; i < n; i++)
		keten_prepared_free(&p[i]);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	keten_client_destroy(&c);

	CHECK_INT(harness_stop(&h), 0);
	harness_start(&h);
	c = client("lt-almere", state);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	CHECK_INT(rc.seq, head + 1);
	keten_client_destroy(&c);
}

/* The size line of the checkpoint note in path. */
static unsigned long long
state_size(const char *path)
{
	char buf[512];
	unsigned long long n = 0;
	FILE *f = fopen(path, "r");

	CHECK(f != NULL);
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL ||
	    fgets(buf, sizeof(buf), f) == NULL || sscanf(buf, "%llu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/* Two clients share one state file: the one that saw less writes last,
 * and the file keeps the newer note. */
static void
shared_state(const char *path)
{
	struct keten_client *a, *b, *other = client("lt-almere", NULL);
	struct keten_receipt rc;
	struct keten_error err;
	uint64_t head;

	CHECK_INT(keten_client_set_state(other, NULL), KETEN_OK);
	unlink(path);
	a = client("lt-almere", path);
	CHECK_INT(keten_ping(a, &head, &err), KETEN_OK); /* written at once */
	CHECK_INT(state_size(path), head);
	CHECK_INT(keten_send_referral(&rc, NULL, other, &ref, &err), KETEN_OK);
	/* a sees head + 1, held in memory (written at most once a second) */
	CHECK_INT(keten_ping(a, &head, &err), KETEN_OK);
	b = client("lt-almere", path);
	CHECK_INT(keten_send_referral(&rc, NULL, b, &ref, &err), KETEN_OK);
	keten_client_destroy(&b);
	CHECK_INT(state_size(path), head + 1);
	keten_client_destroy(&a); /* holds head: older, not written */
	CHECK_INT(state_size(path), head + 1);
	keten_client_destroy(&other);
}

/* A state file that is not a checkpoint note is refused, by name. */
static void
bad_state(const char *path)
{
	struct keten_client *c;
	struct keten_error err;
	uint64_t head = 0;
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	fputs("keten/testregion\n20\nnot a root\n", f);
	fclose(f);
	c = client("lt-almere", path);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_E_IO);
	CHECK(strstr(err.message, path) != NULL);
	CHECK(strstr(err.message, "is not a checkpoint") != NULL);
	keten_client_destroy(&c);
}

int
main(void)
{
	char old[600], full[600], state[600], fetch_state[600], when[64];
	char own[600], cmd[2048];
	struct keten_client *c;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	struct stat st;
	struct tm tm;
	time_t t;

	if (sodium_init() < 0)
		return 99;
	ct = harness_content("state");
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(old, sizeof(old), "%s/old", h.dir);
	snprintf(full, sizeof(full), "%s/full", h.dir);
	snprintf(state, sizeof(state), "%s.checkpoint",
	         harness_key(&h, "lt-almere"));
	snprintf(fetch_state, sizeof(fetch_state), "%s/vt.checkpoint", h.dir);
	snprintf(own, sizeof(own), "%s/own.checkpoint", h.dir);

	harness_start(&h);
	base = harness_first_seq(&h) - 1;
	send_n(1, CUT);
	CHECK_INT(harness_stop(&h), 0);
	save_dir(old);
	harness_start(&h);
	send_n(CUT + 1, RECORDS);
	/* The recipient's fetch of all RECORDS sets its state file. */
	c = client("vt-flevoland", fetch_state);
	CHECK_INT(keten_fetch(&in, c, RECORDS, &err), KETEN_OK);
	CHECK_INT(in->n, RECORDS);
	keten_inbox_free(&in);
	keten_client_destroy(&c);
	CHECK_INT(harness_stop(&h), 0);
	save_dir(full);

	/* The default state file: beside the key, 0600, the checkpoint of
	 * the newest receipt, which the offline audit takes as anchor. */
	CHECK_INT(stat(state, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(cmd, sizeof(cmd),
	         "%s audit verify --config %s --checkpoint %s %s >/dev/null",
	         harness_cli(), h.config, state, h.data);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(stat(fetch_state, &st), 0);

	t = (time_t)(receipts[RECORDS].proof.checkpoint.signed_at_us / 1000000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(forked, sizeof(forked),
	         "the broker's log is not an extension of the one it showed "
	         "on %s (size %llu); report this to your auditor",
	         when, (unsigned long long)(base + RECORDS));

	printf("a cut that keeps a re-signed checkpoint\n");
	restore_dir(old);
	harness_start(&h);
	resigned_cut(state);
	CHECK_INT(harness_stop(&h), 0);

	printf("the ten-record cut with the checkpoint deleted\n");
	restore_dir(full);
	cut_end();
	harness_start(&h);
	deleted_checkpoint_cut(fetch_state);
	CHECK_INT(harness_stop(&h), 0);

	printf("an honest broker: pipelined, restarted\n");
	restore_dir(full);
	harness_start(&h);
	honest_pipelined(state);
	honest_pipelined(own); /* a state file of its own, from nothing */

	printf("a state file shared by two clients\n");
	shared_state(own);

	printf("a state file that is not a checkpoint note\n");
	bad_state(own);

	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_state");
}
