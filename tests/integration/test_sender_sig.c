/*
 * Against a real ketend whose log was altered behind its back: libketen
 * must refuse each delivered message its sender did not sign with
 * KETEN_E_SENDER_SIG, even though the broker signed the altered log and
 * proves delivery into it. Edits LMDB only while ketend is stopped.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "../check.h"
#include "chain.h"
#include "envelope.h"
#include "harness.h"
#include "keys.h"
#include "ledger_layout.h"
#include "lmdb_edit.h"
#include "wire.h"

static const char MARKER[] = "MARKER-sender-sig-51c2";

/* What the broker does to a record: the first three keep the sender's
 * signature; the last has another agency sign the sender's body. */
enum forgery {
	FORGE_URGENCY,  /* raises the urgency the sender chose */
	FORGE_SENDER,   /* attributes it to another agency of the region */
	FORGE_STRANGER, /* attributes it to an agency the region lacks */
	FORGE_RESIGNED  /* lt-lelystad signs lt-almere's body as itself */
};

/* lt-lelystad's signing key, for FORGE_RESIGNED: a colluding agency. */
static const uint8_t *lelystad_sk;

/* The envelope env altered as f says: malloc'd bytes. */
static uint8_t *
forge(size_t *len, const uint8_t *env, size_t env_len, enum forgery f)
{
	struct envelope e;
	struct body b;
	struct keten_error err;
	uint8_t *body = NULL, *out = NULL;
	size_t body_len = 0;

	*len = 0;
	CHECK_INT(wire_envelope_decode(&e, env, env_len, &err), KETEN_OK);
	CHECK_INT(wire_body_decode(&b, e.type, e.body, e.body_len, &err),
	          KETEN_OK);
	if (f == FORGE_URGENCY) {
		CHECK_INT(b.u.offer.urgency, KETEN_URGENCY_ROUTINE);
		b.u.offer.urgency = KETEN_URGENCY_IMMEDIATE;
	} else if (f == FORGE_RESIGNED) {
		strcpy(e.signer, "lt-lelystad");
	} else {
		const char *who =
		    f == FORGE_SENDER ? "lt-lelystad" : "lt-nowhere";
		strcpy(b.h.sender, who);
		strcpy(e.signer, who);
	}
	CHECK_INT(wire_body_encode(&body, &body_len, &b), KETEN_OK);
	e.body = body;
	e.body_len = body_len;
	if (f == FORGE_RESIGNED)
		CHECK_INT(envelope_sign(e.signature, e.version, e.type, e.body,
		                        e.body_len, lelystad_sk),
		          KETEN_OK);
	CHECK_INT(wire_envelope_encode(&out, len, &e), KETEN_OK);
	wire_envelope_clear(&e);
	free(body);
	return out;
}

/* Alters records 1..4 of a stopped broker's log as forgeries[seq - 1],
 * and drops what would show it, so that the broker signs the new log. */
static void
alter(const char *data)
{
	static const enum forgery forgeries[] = {
	    FORGE_URGENCY, FORGE_SENDER, FORGE_STRANGER, FORGE_RESIGNED};
	struct lmdb_edit e;
	MDB_txn *txn;
	MDB_dbi log, meta;
	MDB_val k, v;

	lmdb_edit_begin(&e, data, 0, 1UL << 30, 0);
	txn = e.txn;
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	meta = lmdb_edit_db(&e, LAYOUT_DB_META);
	for (uint64_t seq = 1; seq <= 4; seq++) {
		uint8_t key[LAYOUT_SEQ_KEY_LEN], *forged, *stored;
		struct record r;
		size_t len;

		k = layout_seq_key(key, seq);
		CHECK_INT(mdb_get(txn, log, &k, &v), 0);
		CHECK_INT(chain_record_decode(&r, v.mv_data, v.mv_size), 0);
		forged =
		    forge(&len, r.envelope, r.envelope_len, forgeries[seq - 1]);
		r.envelope = forged;
		r.envelope_len = len;
		stored = malloc(CHAIN_RECORD_HEADER + len);
		chain_record_encode(stored, &r);
		v = (MDB_val){.mv_size = CHAIN_RECORD_HEADER + len,
		              .mv_data = stored};
		CHECK_INT(mdb_put(txn, log, &k, &v, 0), 0);
		free(stored);
		free(forged);
	}
	/* Without its schema mark the broker rebuilds the tree from the
	 * log; without a checkpoint it signs that tree afresh
	 * (docs/PROTOCOL.md 13.2). */
	k = LAYOUT_KEY(LAYOUT_META_SCHEMA);
	CHECK_INT(mdb_del(txn, meta, &k, NULL), 0);
	k = LAYOUT_KEY(LAYOUT_META_CHECKPOINT);
	CHECK_INT(mdb_del(txn, meta, &k, NULL), 0);
	lmdb_edit_commit(&e);
}

int
main(void)
{
	struct harness h;
	struct keten_referral_content ct = harness_content(MARKER);
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *almere, *vt;
	struct keten_receipt rc;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	struct keys *lelystad = NULL;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	CHECK_INT(keys_load(&lelystad, harness_key(&h, "lt-lelystad"), &err),
	          KETEN_OK);
	if (lelystad == NULL)
		return check_done("test_sender_sig");
	lelystad_sk = lelystad->sign_sk;
	harness_start(&h);
	almere = harness_client(&h, "lt-almere");
	/* Four to alter, and a fifth the broker leaves as it was. */
	for (int i = 0; i < 5; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);

	alter(h.data);
	harness_start(&h);
	CHECK(harness_log_has(&h, "event=tree_rebuilt"));
	vt = harness_client(&h, "vt-flevoland");
	/* The broker proves every record is in the log it signed... */
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK(in != NULL && in->n == 5);
	if (in != NULL && in->n == 5) {
		const struct keten_message *m = in->messages;

		/* ...but only the sender's signature says what was sent. */
		for (int i = 0; i < 4; i++) {
			CHECK_INT(m[i].seq, i + 1);
			CHECK_INT(m[i].status, KETEN_E_SENDER_SIG);
			CHECK(m[i].content == NULL);
		}
		CHECK_STR_HAS(m[0].status_message,
		              "the signature of lt-almere does not verify");
		CHECK_STR_HAS(m[1].status_message,
		              "the signature of lt-lelystad does not verify");
		CHECK_STR_HAS(
		    m[2].status_message,
		    "signer 'lt-nowhere' is not in the region config");
		/* A valid signature, but not by the body's sender. */
		CHECK_STR_HAS(m[3].status_message,
		              "the body from lt-lelystad is invalid");
		CHECK(strcmp(m[3].sender, "lt-lelystad") == 0);
		CHECK_INT(m[4].status, KETEN_OK);
		CHECK(strcmp(m[4].sender, "lt-almere") == 0);
		CHECK_INT(m[4].urgency, KETEN_URGENCY_ROUTINE);
		CHECK(m[4].content != NULL &&
		      strcmp(m[4].content->child.name, MARKER) == 0);
	}
	keten_inbox_free(&in);
	keten_client_destroy(&vt);
	keys_destroy(&lelystad);
	CHECK_INT(harness_stop(&h), 0);
	harness_cleanup(&h);
	return check_done("test_sender_sig");
}
