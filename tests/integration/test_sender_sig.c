/*
 * A broker that alters what it delivers: libketen must refuse each
 * delivered message its sender did not sign with KETEN_E_SENDER_SIG, even
 * though the broker signs the altered log and proves delivery into it.
 * A real ketend records its roster and five referrals; the test then
 * plays the broker (its keys, its port), serves the roster as recorded and
 * delivers the referrals with four forged, re-chained, in a checkpoint
 * signed with the broker's key. A real ketend would now
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

/* N referrals after at most ROSTERS roster records: at most ALL. */
enum { N = 5, ROSTERS = 3, ALL = N + ROSTERS, LEVELS = 4 };

/* The log the false broker shows, by seq: records, their content, the
 * tree's complete subtrees and the signed checkpoint; which seqs hold
 * roster records, which referrals. */
static struct {
	uint64_t n, roster[ROSTERS], msg[N];
	size_t n_roster, n_msg;
	uint8_t *rec[ALL + 1], *sealed[ALL + 1], *env[ALL + 1];
	size_t rec_len[ALL + 1], sealed_len[ALL + 1], env_len[ALL + 1];
	int64_t at_us[ALL + 1];
	uint8_t hash[ALL + 1][32], prev[ALL + 1][32];
	uint8_t node[LEVELS][ALL][32];
	struct keten_checkpoint cp;
} L;
/* The forged log's checkpoint key, for the false broker's replies. */
static struct note_key L_key;

static int
keep_node(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	(void)arg;
	if (level < LEVELS && index < ALL)
		memcpy(L.node[level][index], hash, 32);
	return 0;
}

static int
get_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	(void)arg;
	if (level >= LEVELS || index >= ALL)
		return -1;
	memcpy(out, L.node[level][index], 32);
	return 0;
}

/* Reads the n records and the referrals' content from the stopped
 * broker's directory, keeps the roster records as they are, forges the
 * first four referrals as forgeries[i], chains them anew and signs a
 * checkpoint of them with the broker's key. */
static void
forge_log(const struct harness *h, const struct keys *broker, uint64_t n)
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
	CHECK(n <= ALL);
	L.n = n <= ALL ? n : ALL;
	for (uint64_t seq = 1; seq <= L.n; seq++) {
		uint8_t key[LAYOUT_SEQ_KEY_LEN], leaf[32];
		struct record r;
		struct envelope env;
		struct keten_error err;
		MDB_val k = layout_seq_key(key, seq), v;
		bool roster;

		CHECK_INT(mdb_get(e.txn, log, &k, &v), 0);
		CHECK_INT(chain_record_decode(&r, v.mv_data, v.mv_size), 0);
		CHECK_INT(wire_envelope_decode(&env, r.envelope, r.envelope_len,
		                               &err),
		          KETEN_OK);
		roster = env.type == KETEN_MSG_ROSTER;
		wire_envelope_clear(&env);
		if (roster && L.n_roster < ROSTERS) {
			L.roster[L.n_roster++] = seq;
		} else if (!roster && L.n_msg < N) {
			L.msg[L.n_msg++] = seq;
		} else {
			CHECK(!"more records of a kind than the test made");
			break;
		}
		if (!roster && L.n_msg < N) {
			L.env[seq] =
			    forge(&L.env_len[seq], r.envelope, r.envelope_len,
			          forgeries[L.n_msg - 1]);
		} else {
			L.env[seq] = malloc(r.envelope_len);
			memcpy(L.env[seq], r.envelope, r.envelope_len);
			L.env_len[seq] = r.envelope_len;
		}
		/* A roster record has no sealed content. */
		if (!roster) {
			CHECK_INT(mdb_get(e.txn, content, &k, &v), 0);
			L.sealed[seq] = malloc(v.mv_size);
			memcpy(L.sealed[seq], v.mv_data, v.mv_size);
			L.sealed_len[seq] = v.mv_size;
		}
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
	CHECK(L.n_roster >= 1 && L.roster[0] == 1);
	CHECK_INT(L.n_msg, N);
	memset(&L.cp, 0, sizeof(L.cp));
	L.cp.size = L.n;
	memcpy(L.cp.head_hash, prev, 32);
	merkle_frontier_root(&f, L.cp.root);
	L.cp.signed_at_us = L.at_us[L.n];
	L.cp.roster_seq = L.n_roster ? L.roster[L.n_roster - 1] : 0;
	note_checkpoint_sign(&L.cp, NOTE_ORIGIN "testregion", broker->sign_sk);
	CHECK_INT(note_broker_key(&L_key, "testregion", broker->sign_pk), 0);
}

/* d: record seq of L as delivered, with its path (room in path). */
static void
deliver(struct delivered *d, uint8_t path[MERKLE_PATH_MAX][32], uint64_t seq)
{
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
	CHECK_INT(merkle_path(path, &np, seq - 1, L.n, get_node, NULL), 0);
	d->path = &path[0][0];
	d->n_path = np;
}

/* The false broker's answers (raw_broker): pings, the roster as
 * recorded, fetches of the referrals and acks, from L. */
static void
answer(void *arg, void *sock, zmq_msg_t *parts, int n)
{
	(void)arg;
	struct request req;
	struct reply rep = {0};
	struct delivered items[ALL];
	struct keten_error err;
	uint8_t paths[ALL][MERKLE_PATH_MAX][32];
	uint8_t *out = NULL;
	size_t len = 0;

	if (wire_request_decode(&req, zmq_msg_data(&parts[n - 1]),
	                        zmq_msg_size(&parts[n - 1]), &err) != KETEN_OK)
		return;
	rep.request_id = req.request_id;
	if (req.kind == WIRE_REQ_PING) {
		rep.kind = WIRE_REP_PING;
		rep.ping.agency = "vt-flevoland";
		rep.ping.head_seq = L.n;
	} else if (req.kind == WIRE_REQ_ROSTER) {
		rep.kind = WIRE_REP_ROSTER;
		for (size_t i = 0; i < L.n_roster; i++)
			if (L.roster[i] > req.after_seq) {
				size_t j = rep.roster.n++;
				deliver(&items[j], paths[j], L.roster[i]);
			}
		rep.roster.records = items;
		rep.roster.has_cp = true;
		rep.roster.cp = L.cp;
	} else if (req.kind == WIRE_REQ_FETCH) {
		rep.kind = WIRE_REP_FETCH;
		for (size_t i = 0; i < L.n_msg; i++)
			if (L.msg[i] > req.fetch_after) {
				size_t j = rep.fetch.n++;
				deliver(&items[j], paths[j], L.msg[i]);
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
	uint64_t first;

	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	CHECK_INT(keys_load(&lelystad, harness_key(&h, "lt-lelystad"), &err),
	          KETEN_OK);
	if (lelystad == NULL)
		return check_done("test_sender_sig");
	lelystad_sk = lelystad->sign_sk;
	snprintf(broker_key, sizeof(broker_key), "%s/broker.key", h.dir);
	harness_start(&h);
	first = harness_first_seq(&h); /* after the roster record */
	almere = harness_client(&h, "lt-almere");
	/* Four to alter, and a fifth the broker leaves as it was. */
	for (int i = 0; i < 5; i++)
		CHECK_INT(keten_send_referral(&rc, NULL, almere, &ref, &err),
		          KETEN_OK);
	keten_client_destroy(&almere);
	CHECK_INT(harness_stop(&h), 0);

	CHECK_INT(keys_load(&broker, broker_key, &err), KETEN_OK);
	forge_log(&h, broker, first + 4);
	raw_broker_start(&fake, &h, broker->curve_sk, answer, NULL);
	vt = harness_client(&h, "vt-flevoland");
	/* The broker proves every record is in the log it signed... */
	CHECK_INT(keten_fetch(&in, vt, 0, &err), KETEN_OK);
	CHECK(in != NULL && in->n == 5);
	if (in != NULL && in->n == 5) {
		const struct keten_message *m = in->messages;

		/* ...but only the sender's signature says what was sent. */
		for (int i = 0; i < 4; i++) {
			CHECK_INT(m[i].seq, L.msg[i]);
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
