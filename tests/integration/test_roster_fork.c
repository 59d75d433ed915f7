/*
 * A broker that shows one client a roster in no witnessed log (PROTOCOL.md
 * 22.6) is caught. Page 1 of the roster reply carries a forged roster
 * record (lt-almere's JOIN with an attacker's keys) proven in a forged
 * checkpoint the broker key signed; page 2 is empty and carries the
 * genuine checkpoint the client holds its state to. libketen must refuse
 * and seal nothing to the attacker; so must it a roster that ends before
 * the checkpoint's roster line. Written from a review's proof of attack.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>
#include "../check.h"
#include "chain.h"
#include "envelope.h"
#include "harness.h"
#include "keys.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "merkle.h"
#include "note.h"
#include "raw.h"
#include "roster.h"
#include "wire.h"

static struct keys *broker;
static uint8_t att_sign_pk[32], att_sign_sk[64], att_box_pk[32], att_box_sk[32];
static struct keten_checkpoint cp_forged, cp_genuine;
static uint8_t *rec1_env;
static size_t rec1_len;
static int64_t rec1_at;
static uint8_t rec1_hash[32], genesis[32];
static struct note_key bkey;
static int leaked = 0, submits = 0;
static bool short_roster; /* the second play: no record, genuine cp */

static int
sign_broker(void *a, uint8_t sig[64], const uint8_t *m, size_t n)
{
	(void)a;
	crypto_sign_detached(sig, NULL, m, n, broker->sign_sk);
	return KETEN_OK;
}

static void
answer(void *arg, void *sock, zmq_msg_t *parts, int n)
{
	(void)arg;
	struct request req;
	struct reply rep = {0};
	struct delivered d;
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;
	if (wire_request_decode(&req, zmq_msg_data(&parts[n - 1]),
	                        zmq_msg_size(&parts[n - 1]), &err) != KETEN_OK)
		return;
	rep.request_id = req.request_id;
	if (req.kind == WIRE_REQ_ROSTER && short_roster) {
		rep.kind = WIRE_REP_ROSTER;
		rep.roster.n = 0;
		rep.roster.more = false;
		rep.roster.has_cp = true;
		rep.roster.cp = cp_genuine;
	} else if (req.kind == WIRE_REQ_ROSTER && req.after_seq == 0) {
		memset(&d, 0, sizeof d);
		d.seq = 1;
		d.received_at_us = rec1_at;
		memcpy(d.record_hash, rec1_hash, 32);
		memcpy(d.prev_hash, genesis, 32);
		d.envelope = rec1_env;
		d.envelope_len = rec1_len;
		d.n_path = 0;
		rep.kind = WIRE_REP_ROSTER;
		rep.roster.records = &d;
		rep.roster.n = 1;
		rep.roster.more = true;
		rep.roster.has_cp = true;
		rep.roster.cp = cp_forged;
	} else if (req.kind == WIRE_REQ_ROSTER) {
		rep.kind = WIRE_REP_ROSTER;
		rep.roster.n = 0;
		rep.roster.more = false;
		rep.roster.has_cp = true;
		rep.roster.cp = cp_genuine;
	} else if (req.kind == WIRE_REQ_SUBMIT) {
		uint8_t *plain = NULL;
		size_t pl = 0;
		submits++;
		if (envelope_open(&plain, &pl, req.sealed, req.sealed_len,
		                  att_box_pk, att_box_sk) == KETEN_OK) {
			leaked = 1;
			free(plain);
		}
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_UNAVAILABLE;
		rep.error.message = "not played";
	} else {
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_UNKNOWN_TYPE;
		rep.error.message = "not played";
	}
	wire_request_clear(&req);
	CHECK_INT(wire_reply_encode(&out, &len, &rep, &bkey), KETEN_OK);
	for (int i = 0; i < n - 1; i++)
		zmq_send(sock, zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]),
		         ZMQ_SNDMORE);
	zmq_send(sock, out, len, 0);
	free(out);
}

int
main(void)
{
	struct harness h;
	struct keten_error err;
	struct keten_client *vt;
	struct keten_receipt rc;
	struct raw_broker fake;
	char bk[400];
	struct keten_referral_content ct = harness_content("MARKER-poc");
	struct keten_referral ref = {.recipient = "lt-almere",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	snprintf(bk, sizeof bk, "%s/broker.key", h.dir);
	harness_start(&h);
	/* vt-flevoland talks to the honest broker: its state holds the real log
	 */
	vt = harness_client(&h, "vt-flevoland");
	{
		uint64_t head;
		CHECK_INT(keten_ping(vt, &head, &err), KETEN_OK);
	}
	keten_client_destroy(&vt);
	CHECK_INT(harness_stop(&h), 0);
	CHECK_INT(keys_load(&broker, bk, &err), KETEN_OK);
	CHECK_INT(note_broker_key(&bkey, "testregion", broker->sign_pk), 0);

	/* the genuine stored checkpoint and the genuine roster record 1 */
	struct lmdb_edit e;
	struct record r;
	struct envelope env;
	struct wire_roster w;
	lmdb_edit_begin(&e, h.data, LMDB_EDIT_READ_ONLY, 0, 0);
	MDB_dbi meta = lmdb_edit_db(&e, LAYOUT_DB_META),
	        log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	MDB_val k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT), v;
	CHECK_INT(mdb_get(e.txn, meta, &k, &v), 0);
	CHECK_INT(note_checkpoint_parse(&cp_genuine, v.mv_data, v.mv_size,
	                                &bkey, &err),
	          KETEN_OK);
	CHECK(cp_genuine.roster_seq == 1);
	uint8_t key[LAYOUT_SEQ_KEY_LEN];
	k = layout_seq_key(key, 1);
	CHECK_INT(mdb_get(e.txn, log, &k, &v), 0);
	CHECK_INT(chain_record_decode(&r, v.mv_data, v.mv_size), 0);
	CHECK_INT(wire_envelope_decode(&env, r.envelope, r.envelope_len, &err),
	          KETEN_OK);
	CHECK_INT(wire_roster_decode(&w, env.body, env.body_len, &err),
	          KETEN_OK);
	wire_envelope_clear(&env); /* w holds its own copy */
	rec1_at = r.received_at_us;
	lmdb_edit_abort(&e);

	/* the forged roster record 1: lt-almere joins with the attacker's keys
	 */
	crypto_sign_keypair(att_sign_pk, att_sign_sk);
	crypto_box_keypair(att_box_pk, att_box_sk);
	for (size_t i = 0; i < w.n; i++)
		if (strcmp(w.changes[i].agency, "lt-almere") == 0) {
			memcpy(w.changes[i].keys.sign, att_sign_pk, 32);
			memcpy(w.changes[i].keys.box, att_box_pk, 32);
		}
	CHECK_INT(roster_record_encode(&rec1_env, &rec1_len, "testregion", 0,
	                               w.changes, w.n, sign_broker, NULL, &err),
	          KETEN_OK);
	chain_genesis(genesis, "testregion");
	struct record fr = {.seq = 1,
	                    .received_at_us = rec1_at,
	                    .envelope = rec1_env,
	                    .envelope_len = rec1_len};
	memcpy(fr.prev_hash, genesis, 32);
	chain_record_hash_of(rec1_hash, &fr);
	struct merkle_frontier f;
	uint8_t leaf[32];
	merkle_frontier_init(&f);
	merkle_leaf(leaf, rec1_hash);
	CHECK_INT(merkle_frontier_push(&f, leaf, NULL, NULL), 0);
	memset(&cp_forged, 0, sizeof cp_forged);
	cp_forged.size = 1;
	memcpy(cp_forged.head_hash, rec1_hash, 32);
	merkle_frontier_root(&f, cp_forged.root);
	cp_forged.signed_at_us = rec1_at;
	cp_forged.roster_seq = 1;
	note_checkpoint_sign(&cp_forged, NOTE_ORIGIN "testregion",
	                     broker->sign_sk);

	raw_broker_start(&fake, &h, broker->curve_sk, answer, NULL);
	vt = harness_client(&h, "vt-flevoland"); /* same state file as before */
	/* The forged page is proven in another tree of the same size than
	 * the page the client holds to its state: refused, and nothing is
	 * sealed or sent. */
	CHECK_INT(keten_send_referral(&rc, NULL, vt, &ref, &err),
	          KETEN_E_RECEIPT);
	CHECK(strstr(err.message, "two different checkpoints") != NULL);
	CHECK(submits == 0);
	CHECK(leaked == 0);
	keten_client_destroy(&vt);
	/* A roster that stops before the record the checkpoint names. */
	short_roster = true;
	vt = harness_client(&h, "vt-flevoland");
	CHECK_INT(keten_send_referral(&rc, NULL, vt, &ref, &err),
	          KETEN_E_RECEIPT);
	CHECK(strstr(err.message, "names roster record 1") != NULL);
	CHECK(submits == 0);
	keten_client_destroy(&vt);
	raw_broker_stop(&fake);
	wire_roster_clear(&w);
	free(rec1_env);
	keys_destroy(&broker);
	harness_cleanup(&h);
	return check_done("test_roster_fork");
}
