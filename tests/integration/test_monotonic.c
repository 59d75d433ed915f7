/*
 * Nothing a checkpoint says goes back (PROTOCOL.md 9.1, 10.9): a client
 * whose state shows more of the access log, another head or a later time
 * than the broker now signs stops with KETEN_E_FORKED naming the part, and
 * a broker whose stored checkpoint is dated ahead of its clock never dates
 * a later batch before it. Must never edit a directory a ketend holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

#include "../check.h"
#include "harness.h"
#include "keys.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "note.h"

#define ORIGIN NOTE_ORIGIN "testregion"
#define HOUR   3600000000LL

static struct harness h;
static struct keys *broker;
static struct note_key bk;
static char state[600];

/* The checkpoint note in path, parsed (its signature is the broker's). */
static struct keten_checkpoint
read_note(const char *path)
{
	struct keten_checkpoint cp;
	struct keten_error err;
	char buf[NOTE_MAX];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		exit(99);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (note_checkpoint_parse(&cp, buf, n, &bk, &err) != KETEN_OK) {
		fprintf(stderr, "%s: %s\n", path, err.message);
		exit(99);
	}
	return cp;
}

/* cp signed by the test's broker key, as its note; its length. */
static size_t
signed_note(char *out, size_t cap, struct keten_checkpoint *cp)
{
	note_checkpoint_sign(cp, ORIGIN, broker->sign_sk);
	return note_checkpoint_format(out, cap, &bk, cp);
}

/* Writes cp, signed by the broker's key, as the client's state, and pings
 * with it: the ping's result, err holding its sentence. */
static int
ping_from(struct keten_checkpoint cp, struct keten_error *err)
{
	char note[NOTE_CHECKPOINT_MAX];
	size_t n = signed_note(note, sizeof(note), &cp);
	struct keten_client *c;
	uint64_t head = 0;
	FILE *f = fopen(state, "wb");
	int rc;

	if (f == NULL || n == 0 || fwrite(note, 1, n, f) != n)
		exit(99);
	fclose(f);
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
	rc = keten_ping(c, &head, err);
	keten_client_destroy(&c);
	return rc;
}

/* Each part of the broker's checkpoint taken back, one at a time. */
static void
client_sees_it_go_back(const struct keten_checkpoint *now)
{
	struct keten_checkpoint s;
	struct keten_error err;

	/* The checkpoint as the broker signs it holds. */
	CHECK_INT(ping_from(*now, &err), KETEN_OK);

	s = *now;
	s.access_size++;
	CHECK_INT(ping_from(s, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "is not an extension");
	CHECK_STR_HAS(err.message, "its access log went back from");

	s = *now;
	s.access_head[0] ^= 1;
	CHECK_INT(ping_from(s, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "now ends in another entry");

	s = *now;
	s.head_hash[31] ^= 0x80;
	CHECK_INT(ping_from(s, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "now has another hash");

	s = *now;
	s.signed_at_us += HOUR;
	CHECK_INT(ping_from(s, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "its time went back from");

	/* The same checkpoint dated earlier: the broker's is later. */
	s = *now;
	s.signed_at_us -= HOUR;
	CHECK_INT(ping_from(s, &err), KETEN_OK);
}

/* The stored checkpoint dated an hour ahead of the broker's clock, as
 * after the clock was stepped back: the next batch is not dated before. */
static void
broker_time_never_descends(const struct keten_checkpoint *now)
{
	struct keten_checkpoint ahead = *now;
	struct keten_referral_content ct = harness_content("monotonic");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_receipt rc;
	struct keten_error err;
	struct keten_client *c;
	struct lmdb_edit e;
	char note[NOTE_CHECKPOINT_MAX];
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	char wrap[400];
	FILE *f;

	CHECK_INT(harness_stop(&h), 0);
	/* A checkpoint of this clock's time is no cause to warn. */
	CHECK(!harness_log_has(&h, "event=clock_behind"));
	ahead.signed_at_us += HOUR;
	v = layout_val(note, signed_note(note, sizeof(note), &ahead));
	lmdb_edit_begin(&e, h.data, 0, 0, 0);
	CHECK_INT(mdb_put(e.txn, lmdb_edit_db(&e, LAYOUT_DB_META), &k, &v, 0),
	          0);
	lmdb_edit_commit(&e);
	/* An hour is beyond limits.clock_behind_tolerance_s: refused... */
	CHECK_INT(harness_start_refused(&h), 1);
	CHECK(harness_log_has(&h, "event=start_failed behind_s=35"));
	/* ...unless the operator allows it. */
	snprintf(wrap, sizeof(wrap), "%s/ketend-allow", h.dir);
	if ((f = fopen(wrap, "w")) == NULL)
		exit(99);
	fprintf(f, "#!/bin/sh\nexec '%s' \"$@\" --allow-clock-behind\n",
	        getenv("KETEND") ? getenv("KETEND") : KETEND_PATH);
	fclose(f);
	if (chmod(wrap, 0700) != 0 || setenv("KETEND", wrap, 1) != 0)
		exit(99);
	harness_start(&h);
	/* The start says the log's time will stand still for an hour. */
	CHECK(harness_log_has(&h, "event=clock_behind behind_s=35"));
	CHECK(harness_log_has(&h, "the log's time stands still at the "
	                          "checkpoint's until the clock catches up"));

	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err), KETEN_OK);
	CHECK(rc.received_at_us >= ahead.signed_at_us);
	CHECK(rc.proof.checkpoint.signed_at_us >= ahead.signed_at_us);
	CHECK_INT(rc.proof.checkpoint.size, now->size + 1);
	keten_client_destroy(&c);

	/* A client that kept the future checkpoint is not told the broker
	 * went back: its time did not. */
	CHECK_INT(ping_from(ahead, &err), KETEN_OK);
}

int
main(void)
{
	struct keten_referral_content ct = harness_content("monotonic");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_checkpoint now;
	struct keten_receipt rc;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	struct keten_client *c;
	char key[600];
	uint64_t head = 0, first;

	if (sodium_init() < 0)
		return 99;
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(state, sizeof(state), "%s/almere.checkpoint", h.dir);
	snprintf(key, sizeof(key), "%s/broker.key", h.dir);
	CHECK_INT(keys_load(&broker, key, &err), KETEN_OK);
	if (broker == NULL)
		return check_done("test_monotonic");
	CHECK_INT(note_broker_key(&bk, "testregion", broker->sign_pk), 0);
	harness_start(&h);
	first = harness_first_seq(&h); /* after the roster record */

	/* Three records and a fetch: an access log with an entry in it. */
	c = harness_client(&h, "lt-almere");
	for (int i = 0; i < 3; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&c);
	c = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	CHECK_INT(keten_fetch(&in, c, 10, &err), KETEN_OK);
	keten_inbox_free(&in);
	keten_client_destroy(&c);
	/* The broker's checkpoint now, as the client's state file keeps it. */
	c = harness_client(&h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	keten_client_destroy(&c);
	now = read_note(state);
	CHECK_INT(now.size, first + 2);
	CHECK(now.access_size >= 1);

	client_sees_it_go_back(&now);
	broker_time_never_descends(&now);

	keys_destroy(&broker);
	harness_cleanup(&h);
	return check_done("test_monotonic");
}
