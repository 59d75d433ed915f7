/*
 * Finding 4 of review R1: a checkpoint is linked to the client's state
 * only by a proof from the state. A real ketend proves consistency between
 * any two sizes and refuses sizes beyond its log; a false broker that
 * answers two pipelined submissions with two valid but mutually
 * inconsistent checkpoints is caught with KETEN_E_FORKED.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "../check.h"
#include "chain.h"
#include "harness.h"
#include "keys.h"
#include "merkle.h"
#include "note.h"
#include "raw.h"
#include "wire.h"

#define SIZES 6
#define FAKE  16 /* leaves a false tree holds at most */

static struct keten_referral_content ct;
/* The real broker's roster record (record 1), with which every false log
 * below begins: a client learns the region's keys from it. */
static struct {
	int64_t at_us;
	uint8_t prev[32], hash[32];
	uint8_t *env;
	size_t env_len;
} roster;
static struct keten_referral ref = {.recipient = "vt-flevoland",
                                    .urgency = KETEN_URGENCY_ROUTINE,
                                    .content = &ct};

/* A consistency request over raw: 0 and a decoded reply, or the code. */
static int
ask(struct raw *r, struct reply *rep, uint64_t from, uint64_t to)
{
	struct request req = {.kind = WIRE_REQ_CONSISTENCY,
	                      .request_id = 7,
	                      .from_size = from,
	                      .to_size = to};
	uint8_t *buf;
	size_t len;

	CHECK_INT(wire_request_encode(&buf, &len, &req), KETEN_OK);
	CHECK_INT(raw_call1(r, rep, buf, len, 5000), 0);
	free(buf);
	return rep->kind == WIRE_REP_ERROR ? rep->error.code : 0;
}

/* Keeps the broker's roster: the false broker plays a fresh log, so one
 * roster record, record 1. */
static void
keep_roster(struct raw *r)
{
	struct request req = {.kind = WIRE_REQ_ROSTER, .request_id = 8};
	struct reply rep;
	uint8_t *buf;
	size_t len;

	CHECK_INT(wire_request_encode(&buf, &len, &req), KETEN_OK);
	CHECK_INT(raw_call1(r, &rep, buf, len, 5000), 0);
	free(buf);
	CHECK(rep.kind == WIRE_REP_ROSTER && rep.roster.n == 1 &&
	      rep.roster.records[0].seq == 1);
	if (rep.kind == WIRE_REP_ROSTER && rep.roster.n == 1) {
		const struct delivered *d = &rep.roster.records[0];
		roster.at_us = d->received_at_us;
		memcpy(roster.prev, d->prev_hash, 32);
		memcpy(roster.hash, d->record_hash, 32);
		roster.env = malloc(d->envelope_len);
		memcpy(roster.env, d->envelope, d->envelope_len);
		roster.env_len = d->envelope_len;
	}
	wire_reply_clear(&rep);
}

/* The honest broker: proofs between pairs of sizes, and refusals. The
 * sizes are counted from `base`, the roster records ketend wrote before
 * the first message: at[i] is the checkpoint of base + i records. */
static void
honest(struct harness *h)
{
	struct keten_client *c = harness_client(h, "lt-almere");
	struct keten_checkpoint at[SIZES + 1];
	static const uint64_t pairs[][2] = {{1, 2}, {1, 6}, {2, 5}, {3, 6},
	                                    {4, 4}, {0, 3}, {5, 6}, {2, 3}};
	uint64_t base = harness_first_seq(h) - 1, last = base + SIZES;
	struct keten_receipt rc;
	struct keten_error err;
	struct reply rep;
	struct raw r;
	char want[128];

	for (int i = 1; i <= SIZES; i++) {
		CHECK_INT(keten_send_referral(&rc, NULL, c, &ref, &err),
		          KETEN_OK);
		CHECK_INT(rc.proof.checkpoint.size, base + (uint64_t)i);
		at[i] = rc.proof.checkpoint;
	}
	keten_client_destroy(&c);
	raw_connect(&r, h, "vt-flevoland");
	keep_roster(&r);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint64_t pm = pairs[i][0], pn = pairs[i][1];
		uint64_t m = pm ? base + pm : 0, n = base + pn;
		CHECK_INT(ask(&r, &rep, m, n), 0);
		CHECK_INT(rep.link.from_size, m);
		CHECK_INT(rep.link.to_size, n);
		CHECK(rep.link.has_cp && rep.link.cp.size == last);
		CHECK_INT(merkle_consistency_verify(
		              m, n, pm ? at[pm].root : at[1].root, at[pn].root,
		              (const uint8_t(*)[32])rep.link.proof.hash,
		              rep.link.proof.n),
		          0);
		/* The proof does not hold for another old tree. */
		if (m > 0 && m < n)
			CHECK(merkle_consistency_verify(
			          m, n, at[pn].root, at[pn].root,
			          (const uint8_t(*)[32])rep.link.proof.hash,
			          rep.link.proof.n) != 0);
		wire_reply_clear(&rep);
	}
	/* to_size 0: the checkpoint's size. */
	CHECK_INT(ask(&r, &rep, base + 2, 0), 0);
	CHECK_INT(rep.link.to_size, last);
	CHECK_INT(merkle_consistency_verify(
	              base + 2, last, at[2].root, rep.link.cp.root,
	              (const uint8_t(*)[32])rep.link.proof.hash,
	              rep.link.proof.n),
	          0);
	wire_reply_clear(&rep);
	CHECK_INT(ask(&r, &rep, base + 2, last + 1), KETEN_E_FIELD);
	snprintf(want, sizeof(want), "log has %llu records",
	         (unsigned long long)last);
	CHECK_STR_HAS(rep.error.message, want);
	wire_reply_clear(&rep);
	CHECK_INT(ask(&r, &rep, last + 3, 0), KETEN_E_FIELD);
	snprintf(want, sizeof(want), "above to_size %llu",
	         (unsigned long long)last);
	CHECK_STR_HAS(rep.error.message, want);
	wire_reply_clear(&rep);
	CHECK_INT(ask(&r, &rep, base + 5, base + 3), KETEN_E_FIELD);
	snprintf(want, sizeof(want), "from_size is %llu, above to_size %llu",
	         (unsigned long long)(base + 5),
	         (unsigned long long)(base + 3));
	CHECK_STR_HAS(rep.error.message, want);
	wire_reply_clear(&rep);
	raw_close(&r);
}

/* A false tree: `fill` leaves of its own, then the submitted record. */
struct tree {
	uint64_t n;
	uint8_t node[MERKLE_LEVELS][FAKE][32];
	struct keten_checkpoint cp;
};

static int
tree_put(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct tree *t = arg;

	if (index < FAKE)
		memcpy(t->node[level][index], hash, 32);
	return 0;
}

static int
tree_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct tree *t = arg;

	if (index >= FAKE)
		return -1;
	memcpy(out, t->node[level][index], 32);
	return 0;
}

struct fake {
	const struct harness *h;
	const struct keys *broker;
	struct note_key key;
	struct tree t[2];  /* the first and second submission's logs */
	struct tree start; /* the roster record alone: the roster's log */
	struct tree read;  /* a log of 10 that pings show */
	int answered;
	int third; /* the third submission: 0 refused (111), 1 unanswered */
	int pings;
};

/* Starts t in f: the roster record, then fill - 1 leaves from salt; the
 * last record's hash in prev. */
static void
tree_start(struct tree *t, struct merkle_frontier *f, uint8_t prev[32],
           uint64_t fill, uint8_t salt)
{
	uint8_t leaf[32], h[32];

	memset(t, 0, sizeof(*t));
	merkle_frontier_init(f);
	merkle_leaf(leaf, roster.hash);
	CHECK_INT(merkle_frontier_push(f, leaf, tree_put, t), 0);
	memcpy(prev, roster.hash, 32);
	for (uint64_t i = 1; i < fill; i++) {
		memset(h, salt + (int)i, sizeof(h));
		merkle_leaf(leaf, h);
		CHECK_INT(merkle_frontier_push(f, leaf, tree_put, t), 0);
		memcpy(prev, h, 32);
	}
	t->n = fill;
}

/* t's checkpoint: n leaves in f, the last record's hash head, signed by
 * the broker's key. */
static void
tree_sign(struct fake *fk, struct tree *t, const struct merkle_frontier *f,
          const uint8_t head[32], int64_t at_us)
{
	t->cp.size = t->n;
	memcpy(t->cp.head_hash, head, 32);
	merkle_frontier_root(f, t->cp.root);
	t->cp.signed_at_us = at_us;
	t->cp.roster_seq = 1;
	note_checkpoint_sign(&t->cp, NOTE_ORIGIN "testregion",
	                     fk->broker->sign_sk);
}

/* Builds t: the roster record and fill - 1 leaves from `salt`, then
 * record fill+1 holding env. */
static void
tree_build(struct fake *fk, struct tree *t, uint64_t fill, uint8_t salt,
           const struct request *req, struct receipt *out)
{
	struct merkle_frontier f;
	struct record rec = {0};
	struct envelope e;
	struct body b;
	struct keten_error err;
	uint8_t leaf[32], h[32], prev[32];

	tree_start(t, &f, prev, fill, salt);
	rec.seq = fill + 1;
	memcpy(rec.prev_hash, prev, 32);
	rec.received_at_us = 1700000000000000 + (int64_t)fill;
	rec.envelope = req->envelope;
	rec.envelope_len = req->envelope_len;
	chain_record_hash_of(h, &rec);
	merkle_leaf(leaf, h);
	CHECK_INT(merkle_frontier_push(&f, leaf, tree_put, t), 0);
	t->n = fill + 1;
	tree_sign(fk, t, &f, h, rec.received_at_us);
	CHECK_INT(
	    wire_envelope_decode(&e, req->envelope, req->envelope_len, &err),
	    KETEN_OK);
	CHECK_INT(wire_body_decode(&b, e.type, e.body, e.body_len, &err),
	          KETEN_OK);
	memset(out, 0, sizeof(*out));
	out->seq = rec.seq;
	memcpy(out->record_hash, h, 32);
	memcpy(out->message_id, b.h.message_id, KETEN_MSG_ID_LEN);
	out->received_at_us = rec.received_at_us;
	memcpy(out->prev_hash, prev, 32);
	out->cp = t->cp;
	CHECK_INT(merkle_path(out->path, &out->n_path, rec.seq - 1, t->n,
	                      tree_get, t),
	          0);
	wire_envelope_clear(&e);
}

/* A tree of fill records with no submission in it (the roster record
 * and fill - 1 from salt), signed. */
static void
tree_plain(struct fake *fk, struct tree *t, uint64_t fill, uint8_t salt)
{
	struct merkle_frontier f;
	uint8_t prev[32];

	tree_start(t, &f, prev, fill, salt);
	tree_sign(fk, t, &f, prev, 1700000000000000);
}

/* The reply's proof from the request's known size to t's. */
static void
tree_link(struct reply *rep, const struct request *req, struct tree *t)
{
	if (req->known_size > 0 && req->known_size < t->n)
		CHECK_INT(merkle_consistency(
		              rep->consistency.hash, &rep->consistency.n,
		              req->known_size, t->n, tree_get, t),
		          0);
}

/* Every log begins with the roster record, served with the log of it
 * alone. Submissions: the first into a log of 10, the second into another
 * log of 11; a consistency request is answered from the second log, as
 * well as it can be (before any submission: from the log pings show). */
static void
answer(void *arg, void *sock, zmq_msg_t *parts, int n)
{
	struct fake *fk = arg;
	struct request req;
	struct reply rep = {0};
	struct keten_error err;
	uint8_t *out = NULL;
	size_t len = 0;

	if (wire_request_decode(&req, zmq_msg_data(&parts[n - 1]),
	                        zmq_msg_size(&parts[n - 1]), &err) != KETEN_OK)
		return;
	rep.request_id = req.request_id;
	if (req.kind == WIRE_REQ_ROSTER) {
		/* Every false log begins with the real roster record, which
		 * the log of it alone proves. */
		static struct delivered d;
		memset(&d, 0, sizeof(d));
		d.seq = 1;
		d.received_at_us = roster.at_us;
		memcpy(d.prev_hash, roster.prev, 32);
		memcpy(d.record_hash, roster.hash, 32);
		d.envelope = roster.env;
		d.envelope_len = roster.env_len;
		rep.kind = WIRE_REP_ROSTER;
		rep.roster.records = req.after_seq == 0 ? &d : NULL;
		rep.roster.n = req.after_seq == 0;
		rep.roster.has_cp = true;
		rep.roster.cp = fk->start.cp;
		tree_link(&rep, &req, &fk->start);
	} else if (req.kind == WIRE_REQ_PING && fk->pings < 3) {
		/* One tree of 10, read three times: its access log grows
		 * to 60, then shrinks to 55. */
		static const uint64_t acc[3] = {50, 60, 55};
		static const int64_t at[3] = {0, 2, 1};
		struct keten_checkpoint cp = fk->read.cp;
		cp.access_size = acc[fk->pings];
		memset(cp.access_head, 0x30 + (int)acc[fk->pings], 32);
		cp.signed_at_us = 1700000000000000 + at[fk->pings] * 1000000;
		note_checkpoint_sign(&cp, NOTE_ORIGIN "testregion",
		                     fk->broker->sign_sk);
		fk->pings++;
		rep.kind = WIRE_REP_PING;
		rep.ping.agency = "lt-almere";
		rep.ping.head_seq = 10;
		rep.ping.has_cp = true;
		rep.ping.cp = cp;
		tree_link(&rep, &req, &fk->read);
	} else if (req.kind == WIRE_REQ_SUBMIT && fk->answered == 2) {
		if (fk->third == 1) {
			wire_request_clear(&req);
			return; /* a broker that died before it answered */
		}
		fk->answered++;
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_STORAGE;
		rep.error.message = "storage full (played)";
	} else if (req.kind == WIRE_REQ_SUBMIT && fk->answered < 2) {
		int i = fk->answered++;
		rep.kind = WIRE_REP_RECEIPT;
		tree_build(fk, &fk->t[i], i ? 10 : 9, i ? 0x40 : 0x10, &req,
		           &rep.receipt);
		tree_link(&rep, &req, &fk->t[i]);
	} else if (req.kind == WIRE_REQ_CONSISTENCY &&
	           (fk->answered >= 2 || fk->answered == 0)) {
		struct tree *b = fk->answered ? &fk->t[1] : &fk->read;
		rep.kind = WIRE_REP_CONSISTENCY;
		rep.link.has_cp = true;
		rep.link.cp = b->cp;
		rep.link.from_size = req.from_size;
		rep.link.to_size = b->n;
		if (req.known_size > 0 && req.known_size < b->n)
			CHECK_INT(merkle_consistency(
			              rep.consistency.hash, &rep.consistency.n,
			              req.known_size, b->n, tree_get, b),
			          0);
		if (req.from_size > 0 && req.from_size < b->n)
			CHECK_INT(merkle_consistency(
			              rep.link.proof.hash, &rep.link.proof.n,
			              req.from_size, b->n, tree_get, b),
			          0);
	} else {
		rep.kind = WIRE_REP_ERROR;
		rep.error.code = KETEN_E_UNKNOWN_TYPE;
		rep.error.message = "not played by this test";
	}
	wire_request_clear(&req);
	CHECK_INT(wire_reply_encode(&out, &len, &rep, &fk->key), KETEN_OK);
	for (int i = 0; i < n - 1; i++)
		zmq_send(sock, zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]),
		         ZMQ_SNDMORE);
	zmq_send(sock, out, len, 0);
	free(out);
}

static struct fake fk;
static struct raw_broker fk_rb;
static struct keys *fk_broker;

/* Starts the fake broker on h's port, the third submission answered
 * as `third` says. */
static void
fake_start(struct harness *h, int third)
{
	char broker_key[600];
	struct keten_error err;

	memset(&fk, 0, sizeof(fk));
	snprintf(broker_key, sizeof(broker_key), "%s/broker.key", h->dir);
	CHECK_INT(keys_load(&fk_broker, broker_key, &err), KETEN_OK);
	fk.h = h;
	fk.broker = fk_broker;
	fk.third = third;
	CHECK_INT(note_broker_key(&fk.key, "testregion", fk_broker->sign_pk),
	          0);
	tree_plain(&fk, &fk.start, 1, 0);
	tree_plain(&fk, &fk.read, 10, 0x70);
	raw_broker_start(&fk_rb, h, fk_broker->curve_sk, answer, &fk);
}

static void
fake_stop(void)
{
	raw_broker_stop(&fk_rb);
	keys_destroy(&fk_broker);
}

/* Finding 4's attack: a fresh client (no state) pipelines two
 * submissions, both sent with known_size 0. */
static void
forked_pipeline(struct harness *h, const char *state)
{
	struct keten_client *c;
	struct keten_prepared *p[2];
	struct keten_receipt rc;
	struct keten_error err;
	uint64_t t[2], got, head;

	fake_start(h, 0);
	c = harness_client(h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
	for (int i = 0; i < 2; i++) {
		CHECK_INT(keten_prepare_referral(&p[i], c, &ref, &err),
		          KETEN_OK);
		CHECK_INT(keten_submit_start(&t[i], c, p[i], &err), KETEN_OK);
	}
	/* The first receipt is valid in its own log of 10... */
	CHECK_INT(keten_submit_finish(&rc, &got, c, &err), KETEN_OK);
	CHECK_INT(got, t[0]);
	CHECK_INT(rc.proof.checkpoint.size, 10);
	/* ...and the second in its own log of 11, which does not hold the
	 * first: draining the pipeline links it, and it does not link. */
	CHECK_INT(keten_submit_finish(&rc, &got, c, &err), KETEN_E_FORKED);
	CHECK_INT(got, t[1]);
	CHECK_STR_HAS(err.message, "(size 10); report this to your auditor");
	CHECK_INT(keten_ping(c, &head, &err), KETEN_E_FORKED);
	keten_client_destroy(&c);
	for (int i = 0; i < 2; i++)
		keten_prepared_free(&p[i]);
	fake_stop();
}

/* The same fork, hidden behind a third submission that the broker
 * refuses (third 0) or never answers (third 1): the refusal's drain
 * still links, and what a timeout left held outlives the client in
 * state".pending" and is linked before the next client's first
 * request. */
static void
forked_then_failed(struct harness *h, const char *state, int third)
{
	struct keten_client *c;
	struct keten_prepared *p[3];
	struct keten_receipt rc;
	struct keten_error err;
	char pending[700];
	uint64_t t[3], got, head;

	fake_start(h, third);
	unlink(state);
	snprintf(pending, sizeof(pending), "%s.pending", state);
	unlink(pending);
	c = harness_client(h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
	keten_client_set_timeout(c, 500);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(keten_prepare_referral(&p[i], c, &ref, &err),
		          KETEN_OK);
		CHECK_INT(keten_submit_start(&t[i], c, p[i], &err), KETEN_OK);
	}
	CHECK_INT(keten_submit_finish(&rc, &got, c, &err), KETEN_OK);
	CHECK_INT(rc.proof.checkpoint.size, 10);
	/* B's receipt: one is still in flight, so nothing links yet. */
	CHECK_INT(keten_submit_finish(&rc, &got, c, &err), KETEN_OK);
	CHECK_INT(rc.proof.checkpoint.size, 11);
	if (third == 0) {
		/* The refusal drains the pipeline: the fork is the answer. */
		CHECK_INT(keten_submit_finish(&rc, &got, c, &err),
		          KETEN_E_FORKED);
		CHECK_STR_HAS(err.message, "(size 10); report this");
		CHECK_INT(keten_ping(c, &head, &err), KETEN_E_FORKED);
	} else {
		CHECK_INT(keten_submit_finish(&rc, &got, c, &err),
		          KETEN_E_TIMEOUT);
		CHECK_INT(access(pending, F_OK), -1); /* not yet written */
		keten_client_destroy(&c);
		CHECK_INT(access(pending, F_OK), 0);
		/* A new client on the state: B is linked before its first
		 * request goes out, and does not link. */
		c = harness_client(h, "lt-almere");
		CHECK_INT(keten_client_set_state(c, state), KETEN_OK);
		CHECK_INT(keten_ping(c, &head, &err), KETEN_E_FORKED);
		CHECK_STR_HAS(err.message, "(size 10); report this");
		CHECK_INT(fk.pings, 0);
	}
	keten_client_destroy(&c);
	for (int i = 0; i < 3; i++)
		keten_prepared_free(&p[i]);
	fake_stop();
}

/* Three reads of one tree of 10: the access log 50, 60, then 55. The
 * second moves the state, so the third goes back from it. */
static void
access_goes_back(struct harness *h)
{
	struct keten_client *c;
	struct keten_error err;
	uint64_t head;

	fake_start(h, 0);
	c = harness_client(h, "lt-almere");
	CHECK_INT(keten_client_set_state(c, NULL), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_OK);
	CHECK_INT(keten_ping(c, &head, &err), KETEN_E_FORKED);
	CHECK_STR_HAS(err.message, "went back from 60 entries to 55");
	keten_client_destroy(&c);
	fake_stop();
}

int
main(void)
{
	struct harness h;
	char state[600];

	if (sodium_init() < 0)
		return 99;
	ct = harness_content("link");
	harness_region(&h, harness_flevoland, harness_flevoland_n, NULL);
	harness_start(&h);
	printf("the consistency request, proofs and refusals\n");
	honest(&h);
	CHECK_INT(harness_stop(&h), 0);
	printf("a false broker: two inconsistent checkpoints, pipelined\n");
	snprintf(state, sizeof(state), "%s/fresh.checkpoint", h.dir);
	forked_pipeline(&h, state);
	printf("the same fork, then a refusal\n");
	forked_then_failed(&h, state, 0);
	printf("the same fork, then no answer: kept across destroy\n");
	forked_then_failed(&h, state, 1);
	printf("one tree read three times: its access log goes back\n");
	access_goes_back(&h);
	free(roster.env);
	harness_cleanup(&h);
	return check_done("test_link");
}
