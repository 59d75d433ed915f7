/*
 * The broker's roster in its store (docs/PROTOCOL.md 22.7, 13.2): a fresh
 * region's record 1 is the roster record naming every agency and the
 * broker's keys, a restart records nothing new, checkpoints carry
 * `roster 1`, the roster request proves it, and meta "roster" is rebuilt
 * from the log when lost. Edits only a stopped broker's directory.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "../check.h"
#include "chain.h"
#include "config.h"
#include "harness.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "merkle.h"
#include "raw.h"

/* Request{roster after_seq} as id; the reply in rep (clear it). */
static void
ask_roster(const struct harness *h, const char *id, uint64_t after,
           struct reply *rep)
{
	struct request req = {.kind = WIRE_REQ_ROSTER, .request_id = 7};
	struct raw r;
	uint8_t *buf;
	size_t len;

	req.after_seq = after;
	CHECK_INT(wire_request_encode(&buf, &len, &req), 0);
	raw_connect(&r, h, id);
	CHECK_INT(raw_call1(&r, rep, buf, len, 5000), 0);
	raw_close(&r);
	free(buf);
	CHECK_INT(rep->kind, WIRE_REP_ROSTER);
}

/* Record d's inclusion proof in cp, from its own bytes. */
static void
check_proof(const struct delivered *d, const struct keten_checkpoint *cp)
{
	struct record r = {.seq = d->seq,
	                   .received_at_us = d->received_at_us,
	                   .envelope = d->envelope,
	                   .envelope_len = d->envelope_len};
	uint8_t hash[32], leaf[32];

	memcpy(r.prev_hash, d->prev_hash, 32);
	chain_record_hash_of(hash, &r);
	CHECK(memcmp(hash, d->record_hash, 32) == 0);
	merkle_leaf(leaf, hash);
	CHECK_INT(merkle_verify(leaf, d->seq - 1, cp->size,
	                        (const uint8_t(*)[32])d->path, d->n_path,
	                        cp->root),
	          0);
}

/* The first roster record: a BROKER change with the config's broker keys
 * and a JOIN for every agency, in config order. */
static void
check_first(const struct delivered *d, const struct config *c)
{
	struct envelope e;
	struct wire_roster wr;
	struct keten_error err;

	CHECK_INT(d->seq, 1);
	CHECK_INT(wire_envelope_decode(&e, d->envelope, d->envelope_len, &err),
	          KETEN_OK);
	CHECK_INT(e.type, KETEN_MSG_ROSTER);
	CHECK(strcmp(e.signer, "broker") == 0);
	CHECK_INT(wire_roster_decode(&wr, e.body, e.body_len, &err), KETEN_OK);
	CHECK(strcmp(wr.region, c->region) == 0);
	CHECK_INT(wr.prev_seq, 0);
	CHECK_INT(wr.n, c->n_agencies + 1);
	CHECK_INT(wr.changes[0].action, ROSTER_BROKER);
	CHECK(memcmp(wr.changes[0].keys.sign, c->broker_sign_pk, 32) == 0);
	CHECK(memcmp(wr.changes[0].keys.transport, c->broker_curve_pk, 32) ==
	      0);
	for (size_t i = 0; i < c->n_agencies && i + 1 < wr.n; i++) {
		const struct roster_change *x = &wr.changes[i + 1];
		CHECK_INT(x->action, ROSTER_JOIN);
		CHECK(strcmp(x->agency, c->agencies[i].id) == 0);
		CHECK_INT(x->kind, c->agencies[i].kind);
		CHECK(memcmp(x->keys.sign, c->agencies[i].sign_pk, 32) == 0);
		CHECK(memcmp(x->keys.box, c->agencies[i].box_pk, 32) == 0);
	}
	wire_roster_clear(&wr);
	wire_envelope_clear(&e);
}

/* meta "roster" of the stopped broker's directory: removed (drop) or
 * read into *seq (-1 if absent). */
static void
meta_roster(const struct harness *h, bool drop, int64_t *seq)
{
	struct lmdb_edit e;
	MDB_val k = LAYOUT_KEY(LAYOUT_META_ROSTER), v;
	MDB_dbi meta;

	lmdb_edit_begin(&e, h->data, drop ? 0 : LMDB_EDIT_READ_ONLY, 0, 0);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	if (drop) {
		CHECK_INT(mdb_del(e.txn, meta, &k, NULL), 0);
		lmdb_edit_commit(&e);
		return;
	}
	*seq = -1;
	if (mdb_get(e.txn, meta, &k, &v) == 0) {
		CHECK_INT(v.mv_size, LAYOUT_BE64_LEN);
		*seq = (int64_t)bytes_get_be64(v.mv_data);
	}
	lmdb_edit_abort(&e);
}

int
main(void)
{
	struct harness h;
	struct config *c;
	struct keten_error err;
	struct reply rep;
	int64_t seq;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	CHECK_INT(config_load(&c, h.config, &err), KETEN_OK);
	harness_start(&h);

	/* Record 1 is the roster, proven in the checkpoint, which says so;
	 * any agency, the auditor too, may ask. */
	CHECK_INT(harness_head(&h, "lt-almere"), 1);
	ask_roster(&h, "audit-inspectie", 0, &rep);
	CHECK_INT(rep.roster.n, 1);
	CHECK(!rep.roster.more);
	CHECK(rep.roster.has_cp);
	CHECK_INT(rep.roster.cp.size, 1);
	CHECK_INT(rep.roster.cp.roster_seq, 1);
	if (rep.roster.n == 1) {
		check_first(&rep.roster.records[0], c);
		check_proof(&rep.roster.records[0], &rep.roster.cp);
	}
	wire_reply_clear(&rep);
	/* None after it; the checkpoint still comes along. */
	ask_roster(&h, "lt-urk", 1, &rep);
	CHECK_INT(rep.roster.n, 0);
	CHECK(rep.roster.has_cp);
	CHECK_INT(rep.roster.cp.roster_seq, 1);
	wire_reply_clear(&rep);

	/* A record later, the checkpoint still names roster record 1. */
	harness_fill(&h, 1, "after the roster");
	ask_roster(&h, "vt-flevoland", 0, &rep);
	CHECK_INT(rep.roster.n, 1);
	CHECK_INT(rep.roster.cp.size, 2);
	CHECK_INT(rep.roster.cp.roster_seq, 1);
	if (rep.roster.n == 1)
		check_proof(&rep.roster.records[0], &rep.roster.cp);
	wire_reply_clear(&rep);
	harness_drop_clients(&h);
	CHECK_INT(harness_stop(&h), 0);
	meta_roster(&h, false, &seq);
	CHECK_INT(seq, 1);

	/* The same config again: nothing new is recorded. */
	harness_start(&h);
	CHECK_INT(harness_head(&h, "lt-almere"), 2);
	CHECK_INT(harness_stop(&h), 0);

	/* meta "roster" lost: the start finds it in the log again. */
	meta_roster(&h, true, NULL);
	harness_start(&h);
	CHECK(harness_log_has(&h, "meta roster is missing where the log's "
	                          "newest roster record is 1"));
	CHECK_INT(harness_head(&h, "lt-almere"), 2);
	ask_roster(&h, "lt-almere", 0, &rep);
	CHECK_INT(rep.roster.n, 1);
	CHECK_INT(rep.roster.cp.roster_seq, 1);
	wire_reply_clear(&rep);
	CHECK_INT(harness_stop(&h), 0);
	meta_roster(&h, false, &seq);
	CHECK_INT(seq, 1);

	config_destroy(&c);
	harness_cleanup(&h);
	return check_done("test_roster_store");
}
