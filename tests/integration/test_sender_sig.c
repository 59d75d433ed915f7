/*
 * A broker that alters what it delivers: libketen must refuse each
 * delivered message its sender did not sign with KETEN_E_SENDER_SIG, even
 * though the broker signs the altered log and proves delivery into it.
 * A real ketend records five referrals; the test then plays the broker
 * (its keys, its port) and delivers them with four forged, re-chained,
 * in a checkpoint signed with the broker's key. A real ketend would now
 * refuse to serve such a log (it verifies the chain at start), so the
 * forgery is made on the wire. Reads LMDB only while ketend is stopped.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

enum { N = 5, LEVELS = 4 };

/* The log the false broker shows: records, their content, the tree's
 * complete subtrees and the signed checkpoint. */
static struct {
	uint8_t *rec[N + 1], *sealed[N + 1], *env[N + 1];
	size_t rec_len[N + 1], sealed_len[N + 1], env_len[N + 1];
	int64_t at_us[N + 1];
	uint8_t hash[N + 1][32], prev[N + 1][32];
	uint8_t node[LEVELS][N][32];
	struct keten_checkpoint cp;
} L;
/* The forged log's checkpoint key, for the false broker's replies. */
static struct note_key L_key;

static int
keep_node(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	(void)arg;
	if (level < LEVELS && index < N)
		memcpy(L.node[level][index], hash, 32);
	return 0;
}

static int
get_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	(void)arg;
	if (level >= LEVELS || index >= N)
		return -1;
	memcpy(out, L.node[level][index], 32);
	return 0;
}

/* Reads the five records and their content from the stopped broker's
 * directory, forges records 1..4 as forgeries[seq - 1], chains them anew
 * and signs a checkpoint of them with the broker's key. */
static void
forge_log(const struct harness *h, const struct keys *broker)
{
	static const enum forgery forgeries[] = {
	    FORGE_URGENCY, FORGE_SENDER, FORGE_STRANGER, FORGE_RESIGNED};
	struct merkle_frontier f;
	struct lmdb_edit e;
	MDB_dbi log, content;
	uint8_t prev[32];

	merkle_frontier_init(&f);
	chain_genesis(prev, "testregion");
	lmdb_edit_begin(&e, h->data, LMDB_EDIT_READ_ONLY, 0, 0);
	log = lmdb_edit_db(&e, LAYOUT_DB_LOG);
	content = lmdb_edit_db(&e, LAYOUT_DB_CONTENT);
	for (uint64_t seq = 1; seq <= N; seq++) {
		uint8_t key[LAYOUT_SEQ_KEY_LEN], leaf[32];
		struct record r;
		MDB_val k = layout_seq_key(key, seq), v;

		CHECK_INT(mdb_get(e.txn, log, &k, &v), 0);
		CHECK_INT(chain_record_decode(&r, v.mv_data, v.mv_size), 0);
		if (seq < N) {
			L.env[seq] = forge(&L.env_len[seq], r.envelope,
			                   r.envelope_len, forgeries[seq - 1]);
		} else {
			L.env[seq] = malloc(r.envelope_len);
			memcpy(L.env[seq], r.envelope, r.envelope_len);
			L.env_len[seq] = r.envelope_len;
		}
		CHECK_INT(mdb_get(e.txn, content, &k, &v), 0);
		L.sealed[seq] = malloc(v.mv_size);
		memcpy(L.sealed[seq], v.mv_data, v.mv_size);
		L.sealed_len[seq] = v.mv_size;
		L.at_us[seq] = r.received_at_us;
		memcpy(r.prev_hash, prev, 32);
		memcpy(L.prev[seq], prev, 32);
		r.envelope = L.env[seq];
		r.envelope_len = L.env_len[seq];
		L.rec_len[seq] = CHAIN_RECORD_HEADER + r.envelope_len;
		L.rec[seq] = malloc(L.rec_len[seq]);
		chain_record_encode(L.rec[seq], &r);
		chain_record_hash(L.hash[seq], L.rec[seq], L.rec_len[seq]);
		memcpy(prev, L.hash[seq], 32);
		merkle_leaf(leaf, L.hash[seq]);
		CHECK_INT(merkle_frontier_push(&f, leaf, keep_node, NULL), 0);
	}
	lmdb_edit_abort(&e);
	memset(&L.cp, 0, sizeof(L.cp));
	L.cp.size = N;
	memcpy(L.cp.head_hash, prev, 32);
	merkle_frontier_root(&f, L.cp.root);
	L.cp.signed_at_us = L.at_us[N];
	note_checkpoint_sign(&L.cp, NOTE_ORIGIN "testregion", broker->sign_sk);
	CHECK_INT(note_broker_key(&L_key, "testregion", broker->sign_pk), 0);
}

/* The false broker's answers (raw_broker): pings, fetches and acks from
 * L. */
static void
answer(void *arg, void *sock, zmq_msg_t *parts, int n)
{
	(void)arg;
	struct request req;
	struct reply rep = {0};
	struct delivered items[N];
	struct keten_error err;
	uint8_t paths[N][MERKLE_PATH_MAX][32];
	uint8_t *out = NULL;
	size_t len = 0;

	if (wire_request_decode(&req, zmq_msg_data(&parts[n - 1]),
	                        zmq_msg_size(&parts[n - 1]), &err) != KETEN_OK)
		return;
	rep.request_id = req.request_id;
	if (req.kind == WIRE_REQ_PING) {
		rep.kind = WIRE_REP_PING;
		rep.ping.agency = "vt-flevoland";
		rep.ping.head_seq = N;
	} else if (req.kind == WIRE_REQ_FETCH) {
		rep.kind = WIRE_REP_FETCH;
		for (uint64_t seq = req.fetch_after + 1; seq <= N; seq++) {
			struct delivered *d = &items[rep.fetch.n++];
			size_t np = 0;
			memset(d, 0, sizeof(*d));
			d->seq = seq;
			d->received_at_us = L.at_us[seq];
			memcpy(d->record_hash, L.hash[seq], 32);
			memcpy(d->prev_hash, L.prev[seq], 32);
			d->envelope = L.env[seq];
			d->envelope_len = L.env_len[seq];
			d->sealed = L.sealed[seq];
			d->sealed_len = L.sealed_len[seq];
			CHECK_INT(merkle_path(paths[seq - 1], &np, seq - 1, N,
			                      get_node, NULL),
			          0);
			d->path = &paths[seq - 1][0][0];
			d->n_path = np;
		}
		rep.fetch.items = items;
		rep.fetch.cursor = req.fetch_after;
		rep.fetch.has_cp = true;
		rep.fetch.cp = L.cp;
	} else if (req.kind == WIRE_REQ_ACK) {
		rep.kind = WIRE_REP_ACK;
		rep.ack_cursor = req.ack_seq;
	} else {
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_UNKNOWN_TYPE;
		rep.error.message = "not played by this test";
	}
	wire_request_clear(&req);
	CHECK_INT(wire_reply_encode(&out, &len, &rep, &L_key), KETEN_OK);
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
	struct keten_referral_content ct = harness_content(MARKER);
	struct keten_referral ref = {.recipient = "vt-flevoland",
	                             .urgency = KETEN_URGENCY_ROUTINE,
	                             .content = &ct};
	struct keten_client *almere, *vt;
	struct keten_receipt rc;
	struct keten_inbox *in = NULL;
	struct keten_error err;
	struct keys *lelystad = NULL, *broker = NULL;
	struct raw_broker fake;
	char broker_key[400];

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	CHECK_INT(keys_load(&lelystad, harness_key(&h, "lt-lelystad"), &err),
	          KETEN_OK);
	if (lelystad == NULL)
		return check_done("test_sender_sig");
	lelystad_sk = lelystad->sign_sk;
	snprintf(broker_key, sizeof(broker_key), "%s/broker.key", h.dir);
	harness_start(&h);
	almere = harness_client(&h, "lt-almere");
	/* Four to alter, and a fifth the broker leaves as it was. */
	for (int i = 0; i < 5; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);

	CHECK_INT(keys_load(&broker, broker_key, &err), KETEN_OK);
	forge_log(&h, broker);
	raw_broker_start(&fake, &h, broker->curve_sk, answer, NULL);
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
		    "signer 'lt-nowhere' is not in the region roster");
		/* A valid signature, but not by the body's sender. */
		CHECK_STR_HAS(m[3].status_message,
		              "the body signed by lt-lelystad names another "
		              "sender");
		/* Proven forged, and so skippable, all but the unknown
		 * signer (an agency that joined since, perhaps). */
		CHECK(m[0].forged && m[1].forged && !m[2].forged &&
		      m[3].forged && !m[4].forged);
		CHECK(strcmp(m[3].sender, "lt-lelystad") == 0);
		CHECK_INT(m[4].status, KETEN_OK);
		CHECK(strcmp(m[4].sender, "lt-almere") == 0);
		CHECK_INT(m[4].urgency, KETEN_URGENCY_ROUTINE);
		CHECK(m[4].content != NULL &&
		      strcmp(m[4].content->child.name, MARKER) == 0);
	}
	keten_inbox_free(&in);
	keten_client_destroy(&vt);
	raw_broker_stop(&fake);
	keys_destroy(&lelystad);
	keys_destroy(&broker);
	harness_cleanup(&h);
	return check_done("test_sender_sig");
}
