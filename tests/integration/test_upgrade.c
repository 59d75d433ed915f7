/*
 * The schema 4 -> 5 upgrade (docs/PROTOCOL.md 13.2): a directory with the
 * binary checkpoint and a tree from before SHA-256 is opened, its tree
 * rebuilt and its checkpoint signed afresh as a note; a binary checkpoint
 * of another log stops the start. Edits only a stopped broker's directory.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "../check.h"
#include "access.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"

/*
 * Turns the stopped broker's directory into a schema 4 one: schema mark
 * 4, the binary checkpoint of its heads (size_delta added to the size, to
 * make one for another log), and a tree of junk where SHA-256 nodes were.
 */
static void
to_schema4(const struct harness *h, int size_delta)
{
	struct lmdb_edit e;
	MDB_dbi meta, tree;
	MDB_val k, v;
	uint8_t cp[LAYOUT_V4_CHECKPOINT_LEN], head[LAYOUT_HEAD_LEN];
	uint8_t access[LAYOUT_HEAD_LEN], ver = 4, junk[32];
	uint64_t seq;

	lmdb_edit_begin(&e, h->data, 0, 0, 0);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	tree = lmdb_edit_db(&e, LAYOUT_DB_TREE);
	k = LAYOUT_KEY(LAYOUT_META_HEAD);
	CHECK_INT(mdb_get(e.txn, meta, &k, &v), 0);
	CHECK_INT(v.mv_size, LAYOUT_HEAD_LEN);
	memcpy(head, v.mv_data, LAYOUT_HEAD_LEN);
	k = LAYOUT_KEY(LAYOUT_META_ACCESS_HEAD);
	if (mdb_get(e.txn, meta, &k, &v) == 0) {
		memcpy(access, v.mv_data, LAYOUT_HEAD_LEN);
	} else {
		bytes_put_be64(access, 0);
		access_genesis(access + 8, "flevoland");
	}
	seq = bytes_get_be64(head) + (uint64_t)size_delta;
	memset(cp, 0x5a, sizeof(cp)); /* root, time, signature: stale */
	bytes_put_be64(cp, seq);
	memcpy(cp + 8, head + 8, 32);
	memcpy(cp + 72, access, LAYOUT_HEAD_LEN); /* access size and head */
	k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT);
	v = layout_val(cp, sizeof(cp));
	CHECK_INT(mdb_put(e.txn, meta, &k, &v, 0), 0);
	k = LAYOUT_KEY(LAYOUT_META_SCHEMA);
	v = layout_val(&ver, 1);
	CHECK_INT(mdb_put(e.txn, meta, &k, &v, 0), 0);
	/* The BLAKE2b tree's nodes: not SHA-256 ones. */
	{
		MDB_cursor *c;
		CHECK_INT(mdb_cursor_open(e.txn, tree, &c), 0);
		memset(junk, 0xb2, sizeof(junk));
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
			v = layout_val(junk, sizeof(junk));
			CHECK_INT(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
		}
		mdb_cursor_close(c);
	}
	lmdb_edit_commit(&e);
}

int
main(void)
{
	struct harness h;
	struct keten_referral_content ct = harness_content("upgrade");
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *almere;
	struct keten_receipt rc, first;
	struct keten_audit a;
	struct keten_error err;
	uint64_t n;
	char want[80];

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	almere = harness_client(&h, "lt-almere");
	CHECK_INT(keten_send_referral(&first, NULL, almere, &ref, &err),
	          KETEN_OK);
	for (int i = 0; i < 4; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);
	/* The roster record(s) and the five referrals. */
	n = harness_first_seq(&h) - 1 + 5;
	CHECK_INT(first.seq, n - 4);

	/* A binary checkpoint of this log: upgraded, re-signed as a note
	 * over the rebuilt SHA-256 tree. */
	to_schema4(&h, 0);
	harness_start(&h);
	snprintf(want, sizeof(want), "event=tree_rebuilt records=%llu",
	         (unsigned long long)n);
	CHECK(harness_log_has(&h, want));
	CHECK(harness_log_has(&h, "event=schema_upgraded from=4 to=6"));
	almere = harness_client(&h, "lt-almere");
	CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
	          KETEN_OK); /* its receipt's proof holds: the tree is right */
	CHECK_INT(rc.seq, n + 1);
	CHECK_INT(rc.proof.checkpoint.size, n + 1);
	/* A proof from before the upgrade still holds: same tree. */
	CHECK_INT(keten_proof_check(h.config, first.seq, first.record_hash,
	                            &first.proof, &err),
	          KETEN_OK);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err), KETEN_OK);
	CHECK(a.has_checkpoint && a.checkpoint.size == n + 1);

	/* A binary checkpoint of a longer log: the log was cut after it was
	 * signed, and the broker must not start on it. */
	to_schema4(&h, 1);
	CHECK(harness_start_refused(&h) > 0);
	CHECK(harness_log_has(&h, "does not end at its stored head"));
	/* Nor does the offline audit read it. */
	CHECK_INT(keten_audit_verify(&a, h.config, h.data, &err),
	          KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "binary checkpoint of schema 4");
	harness_cleanup(&h);
	return check_done("test_upgrade");
}
