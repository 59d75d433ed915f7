/*
 * Writes the fuzz targets' seed corpora: valid encodings made with the
 * wire encoders, and a valid region config. Deterministic (fixed keys,
 * Ed25519 signatures, no sealing), so a rerun changes no committed file.
 * Usage: make_seeds DIR   (writes DIR/<target>/<name>)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "case.h"
#include "chain.h"
#include "envelope.h"
#include "merkle.h"
#include "note.h"
#include "text.h"
#include "wire.h"

static const char *root;

static void
die(const char *what)
{
	fprintf(stderr, "make_seeds: %s\n", what);
	exit(1);
}

static void
put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if (len > 0 && fwrite(buf, 1, len, f) != len)
		die(path);
	if (fclose(f) != 0)
		die(path);
}

static void
fill(uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v + i);
}

/* A key pair from a fixed seed: the same signature on every run. */
static void
sign_keys(uint8_t pk[32], uint8_t sk[64], uint8_t v)
{
	uint8_t seed[32];

	fill(seed, sizeof(seed), v);
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
		die("crypto_sign_seed_keypair");
}

/* The broker's checkpoint key: region flevoland, the seed-1 key. */
static struct note_key broker;

static const char *concerns[] = {"neglect", "school absence"};
static const struct keten_person household[] = {
    {"A. de Vries", "1985-03-02", "111222333"},
    {"B. de Vries", "1987-11-20", "444555666"},
};

static void
content(uint8_t **out, size_t *len)
{
	struct keten_referral_content c = {
	    .child = {"C. de Vries", "2015-06-01", "123456782"},
	    .household = household,
	    .n_household = 2,
	    .parental_authority = "both parents",
	    .concerns = concerns,
	    .n_concerns = 2,
	    .safety_assessment = "no acute danger",
	    .request = "assess and support",
	    .legal_basis = "Jeugdwet 7.3.11",
	    .family_informed = true,
	    .family_consented = false,
	    .notes = "seed",
	};
	struct keten_referral_content empty = {0};

	if (wire_content_encode(out, len, &c) != KETEN_OK)
		die("wire_content_encode");
	put("content", "full", *out, *len);
	{
		uint8_t *e;
		size_t elen;
		if (wire_content_encode(&e, &elen, &empty) != KETEN_OK)
			die("wire_content_encode");
		put("content", "empty", e, elen);
		free(e);
	}
}

/* A handover's dossier and another message's note. */
static void
dossier_and_note(void)
{
	struct keten_dossier d = {
	    .known = "two children, both at school; father moved out",
	    .safety_conditions = "no contact with father without supervision",
	    .monitoring_plan = "weekly home visit, school checks attendance",
	    .family_informed = true,
	    .notes = "seed",
	};
	uint8_t *buf;
	size_t len;

	if (wire_dossier_encode(&buf, &len, &d) != KETEN_OK)
		die("wire_dossier_encode");
	put("content", "dossier", buf, len);
	free(buf);
	if (wire_note_encode(&buf, &len, "Is the family informed?") != KETEN_OK)
		die("wire_note_encode");
	put("content", "note", buf, len);
	free(buf);
}

/* A body of one case between lt-almere and vt-flevoland; message ids
 * 1.., case id 100... */
static void
body_of(struct body *b, uint32_t type, uint8_t n)
{
	memset(b, 0, sizeof(*b));
	b->type = type;
	fill(b->h.message_id, KETEN_MSG_ID_LEN, n);
	strcpy(b->h.sender, "lt-almere");
	strcpy(b->h.recipient, "vt-flevoland");
	fill(b->h.case_id, KETEN_CASE_ID_LEN, 100);
	b->h.sent_at_us = 1700000000000000 + (n - 1) * 1000;
	if (wire_type_needs_offer(type)) {
		fill(b->offer_id, KETEN_MSG_ID_LEN, 1);
		b->has_offer_id = true;
	}
}

/* b signed by sk into an envelope of b's type. */
static void
sign_body(uint8_t **out, size_t *len, const struct body *b,
          const uint8_t sk[64])
{
	struct envelope e = {.version = WIRE_VERSION, .type = b->type};
	uint8_t *body;
	size_t body_len;

	if (wire_body_encode(&body, &body_len, b) != KETEN_OK)
		die("wire_body_encode");
	strcpy(e.signer, b->h.sender);
	e.body = body;
	e.body_len = body_len;
	if (envelope_sign(e.signature, e.version, e.type, body, body_len, sk) !=
	    KETEN_OK)
		die("envelope_sign");
	if (wire_envelope_encode(out, len, &e) != KETEN_OK)
		die("wire_envelope_encode");
	free(body);
}

/* A signed referral envelope around a body committing to sealed. */
static void
envelope(uint8_t **out, size_t *len, const uint8_t *sealed, size_t sealed_len,
         const uint8_t sk[64])
{
	struct body b;

	body_of(&b, KETEN_MSG_REFERRAL, 1);
	envelope_content_hash(b.content_hash, sealed, sealed_len);
	b.has_content = true;
	b.u.offer.urgency = KETEN_URGENCY_URGENT;
	b.u.offer.respond_by_us = 1700086400000000;
	sign_body(out, len, &b, sk);
}

/* The other details a body can carry: a handover's offer, a decline's
 * reason (answering offer 1), a close's outcome (no recipient). */
static void
handover_envelope(uint8_t **out, size_t *len, const uint8_t sk[64])
{
	struct body b;

	body_of(&b, KETEN_MSG_HANDOVER, 5);
	fill(b.content_hash, KETEN_HASH_LEN, 77);
	b.has_content = true;
	b.u.offer.urgency = KETEN_URGENCY_ROUTINE;
	sign_body(out, len, &b, sk);
}

static void
decline_envelope(uint8_t **out, size_t *len, const uint8_t sk[64])
{
	struct body b;

	body_of(&b, KETEN_MSG_DECLINE, 2);
	strcpy(b.h.sender, "vt-flevoland");
	strcpy(b.h.recipient, "lt-almere");
	b.u.decline_reason = 2; /* no capacity */
	sign_body(out, len, &b, sk);
}

static void
close_envelope(uint8_t **out, size_t *len, const uint8_t sk[64])
{
	struct body b;

	body_of(&b, KETEN_MSG_CLOSE, 9);
	b.h.recipient[0] = '\0';
	b.u.outcome = 1; /* completed */
	sign_body(out, len, &b, sk);
}

static void
request(const char *name, const struct request *r)
{
	uint8_t *buf;
	size_t len;

	if (wire_request_encode(&buf, &len, r) != KETEN_OK)
		die("wire_request_encode");
	put("request", name, buf, len);
	free(buf);
}

static void
reply(const char *name, const struct reply *r)
{
	uint8_t *buf;
	size_t len;

	if (wire_reply_encode(&buf, &len, r, &broker) != KETEN_OK)
		die("wire_reply_encode");
	put("reply", name, buf, len);
	free(buf);
}

static void
requests(const uint8_t *env, size_t env_len, const uint8_t *sealed,
         size_t sealed_len)
{
	struct request r = {.request_id = 7, .kind = WIRE_REQ_SUBMIT};
	uint8_t short_env[] = {0x08, 0x01, 0x10, 0x01, 0x1a, 0x02, 'l', 't'};

	r.envelope = env;
	r.envelope_len = env_len;
	r.sealed = sealed;
	r.sealed_len = sealed_len;
	request("submit", &r);
	r.envelope = short_env; /* no signature: refused */
	r.envelope_len = sizeof(short_env);
	request("submit-nosig", &r);
	request("fetch", &(struct request){.request_id = 8,
	                                   .kind = WIRE_REQ_FETCH,
	                                   .fetch_max = 16});
	request("ack", &(struct request){.request_id = 9,
	                                 .kind = WIRE_REQ_ACK,
	                                 .ack_seq = 42});
	request("ping",
	        &(struct request){.request_id = 10, .kind = WIRE_REQ_PING});
	request("cases",
	        &(struct request){.request_id = 11, .kind = WIRE_REQ_CASES});
	r = (struct request){.request_id = 12,
	                     .kind = WIRE_REQ_CASES,
	                     .has_case_id = true,
	                     .cases_max = 50};
	fill(r.case_id, KETEN_CASE_ID_LEN, 100);
	request("cases-after", &r);
	r = (struct request){.request_id = 13,
	                     .kind = WIRE_REQ_CASE,
	                     .has_case_id = true,
	                     .after_seq = 3};
	fill(r.case_id, KETEN_CASE_ID_LEN, 100);
	request("case", &r);
	request("replay", &(struct request){.request_id = 14,
	                                    .kind = WIRE_REQ_REPLAY,
	                                    .from_seq = 1,
	                                    .replay_max = 1024});
	/* Past the page limit, from far beyond any head. */
	request("replay-far", &(struct request){.request_id = 15,
	                                        .kind = WIRE_REQ_REPLAY,
	                                        .from_seq = UINT64_C(1) << 40,
	                                        .replay_max = 5000});
}

/* A submit of each other kind of body detail. */
static void
submits(const uint8_t sk[64])
{
	static const struct {
		const char *name;
		void (*make)(uint8_t **, size_t *, const uint8_t[64]);
	} kinds[] = {
	    {"submit-handover", handover_envelope},
	    {"submit-decline", decline_envelope},
	    {"submit-close", close_envelope},
	};
	uint8_t note[] = "sealed note bytes";

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct request r = {.request_id = 20 + i,
		                    .kind = WIRE_REQ_SUBMIT};
		uint8_t *env;
		size_t env_len;

		kinds[i].make(&env, &env_len, sk);
		r.envelope = env;
		r.envelope_len = env_len;
		if (kinds[i].make != close_envelope) {
			r.sealed = note;
			r.sealed_len = sizeof(note) - 1;
		}
		request(kinds[i].name, &r);
		free(env);
	}
}

/* ---- checkpoints and proofs, as the broker makes them ---- */

#define TREE_MAX 8 /* records in a seed's log */

/* The complete subtrees of a log of up to TREE_MAX records. */
struct tree {
	uint8_t sub[4][TREE_MAX][KETEN_HASH_LEN];
};

static int
tree_done(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct tree *t = arg;

	if (level >= 4 || index >= TREE_MAX)
		return -1;
	memcpy(t->sub[level][index], hash, KETEN_HASH_LEN);
	return 0;
}

static int
tree_get(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct tree *t = arg;

	if (level >= 4 || index >= TREE_MAX)
		return -1;
	memcpy(out, t->sub[level][index], KETEN_HASH_LEN);
	return 0;
}

/* The signed checkpoint of a log of n records with hashes rh, and the
 * tree to take proofs from. */
static void
checkpoint_of(struct keten_checkpoint *cp, struct tree *t,
              const uint8_t (*rh)[KETEN_HASH_LEN], size_t n,
              const uint8_t sk[64])
{
	struct merkle_frontier f;
	uint8_t leaf[KETEN_HASH_LEN];

	if (n == 0 || n > TREE_MAX)
		die("checkpoint_of: bad size");
	memset(cp, 0, sizeof(*cp));
	memset(t, 0, sizeof(*t));
	merkle_frontier_init(&f);
	for (size_t i = 0; i < n; i++) {
		merkle_leaf(leaf, rh[i]);
		if (merkle_frontier_push(&f, leaf, tree_done, t) != 0)
			die("merkle_frontier_push");
	}
	cp->size = n;
	memcpy(cp->head_hash, rh[n - 1], KETEN_HASH_LEN);
	merkle_frontier_root(&f, cp->root);
	cp->access_size = 4;
	fill(cp->access_head, KETEN_HASH_LEN, 200);
	cp->signed_at_us = 1700000000000100 + (int64_t)n;
	note_checkpoint_sign(cp, broker.name, sk);
}

/* Record seq's inclusion proof in the tree of cp; checked before use. */
static size_t
proof_of(uint8_t path[MERKLE_PATH_MAX][KETEN_HASH_LEN], struct tree *t,
         const struct keten_checkpoint *cp, uint64_t seq,
         const uint8_t record_hash[KETEN_HASH_LEN])
{
	size_t n_path;

	if (merkle_path(path, &n_path, seq - 1, cp->size, tree_get, t) != 0 ||
	    chain_inclusion_verify(seq, record_hash, cp,
	                           (const uint8_t(*)[KETEN_HASH_LEN])path,
	                           n_path) != 0)
		die("merkle_path");
	return n_path;
}

static void
replies(const uint8_t *env, size_t env_len, const uint8_t *sealed,
        size_t sealed_len, const uint8_t sk[64])
{
	struct reply r = {.request_id = 7, .kind = WIRE_REP_RECEIPT};
	static struct tree t;
	static uint8_t path[2][MERKLE_PATH_MAX][KETEN_HASH_LEN];
	uint8_t rh[3][KETEN_HASH_LEN];
	struct delivered d[2];
	struct keten_checkpoint cp;

	/* Record 2 of a log of 3: a proof of two hashes. */
	for (size_t i = 0; i < 3; i++)
		fill(rh[i], KETEN_HASH_LEN, (uint8_t)(10 + i));
	checkpoint_of(&r.receipt.cp, &t, (const uint8_t(*)[32])rh, 3, sk);
	r.receipt.seq = 2;
	memcpy(r.receipt.record_hash, rh[1], KETEN_HASH_LEN);
	fill(r.receipt.message_id, KETEN_MSG_ID_LEN, 1);
	r.receipt.received_at_us = 1700000000000100;
	memcpy(r.receipt.prev_hash, rh[0], KETEN_HASH_LEN);
	r.receipt.n_path =
	    proof_of(r.receipt.path, &t, &r.receipt.cp, 2, rh[1]);
	reply("receipt", &r);
	/* The first record of a new log: the root is its leaf, no path. */
	checkpoint_of(&r.receipt.cp, &t, (const uint8_t(*)[32])rh, 1, sk);
	r.receipt.seq = 1;
	memcpy(r.receipt.record_hash, rh[0], KETEN_HASH_LEN);
	chain_genesis(r.receipt.prev_hash, "flevoland");
	r.receipt.n_path =
	    proof_of(r.receipt.path, &t, &r.receipt.cp, 1, rh[0]);
	reply("receipt-first", &r);

	/* Records 2 and 3 of a log of 3: proofs of two hashes and one. */
	for (size_t i = 0; i < 3; i++)
		fill(rh[i], KETEN_HASH_LEN, (uint8_t)(19 + i));
	checkpoint_of(&cp, &t, (const uint8_t(*)[32])rh, 3, sk);
	for (size_t i = 0; i < 2; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].seq = i + 2;
		d[i].received_at_us = 1700000000000100 + (int64_t)i;
		memcpy(d[i].record_hash, rh[i + 1], KETEN_HASH_LEN);
		memcpy(d[i].prev_hash, rh[i], KETEN_HASH_LEN);
		d[i].envelope = env;
		d[i].envelope_len = env_len;
		d[i].sealed = sealed;
		d[i].sealed_len = i == 0 ? sealed_len : 0; /* 2nd destroyed */
		d[i].n_path =
		    proof_of(path[i], &t, &cp, d[i].seq, d[i].record_hash);
		d[i].path = path[i][0];
	}
	reply("fetch", &(struct reply){.request_id = 8,
	                               .kind = WIRE_REP_FETCH,
	                               .fetch = {.items = d,
	                                         .n = 2,
	                                         .cursor = 0,
	                                         .more = true,
	                                         .has_cp = true,
	                                         .cp = cp}});
	/* Nothing waiting: no records, no checkpoint. */
	reply("fetch-empty", &(struct reply){.request_id = 8,
	                                     .kind = WIRE_REP_FETCH,
	                                     .fetch = {.cursor = 3}});
	reply("error",
	      &(struct reply){.request_id = 7,
	                      .kind = WIRE_REP_ERROR,
	                      .error = {KETEN_E_ROUTE, "route refused"}});
	reply("ack", &(struct reply){.request_id = 9,
	                             .kind = WIRE_REP_ACK,
	                             .ack_cursor = 2});
	reply("ping", &(struct reply){.request_id = 10,
	                              .kind = WIRE_REP_PING,
	                              .ping = {"vt-flevoland", 2}});
}

/* A case state from case_step itself: a referral from lt-almere to
 * vt-flevoland, then `steps` of: acknowledge, accept, handover to
 * gi-flevoland, decline, close. */
static void
case_after(struct wire_case *wc, int steps)
{
	static const uint32_t types[] = {
	    KETEN_MSG_REFERRAL, KETEN_MSG_ACKNOWLEDGE, KETEN_MSG_ACCEPT,
	    KETEN_MSG_HANDOVER, KETEN_MSG_DECLINE,     KETEN_MSG_CLOSE};
	static const char *const from[] = {"lt-almere",    "vt-flevoland",
	                                   "vt-flevoland", "vt-flevoland",
	                                   "gi-flevoland", "vt-flevoland"};
	static const char *const to[] = {"vt-flevoland", "lt-almere",
	                                 "lt-almere",    "gi-flevoland",
	                                 "vt-flevoland", ""};
	uint8_t mids[6][KETEN_MSG_ID_LEN], cid[KETEN_CASE_ID_LEN];
	struct keten_error err;

	memset(wc, 0, sizeof(*wc));
	fill(cid, sizeof(cid), 100);
	for (int i = 0; i <= steps; i++) {
		struct case_msg m = {.type = types[i],
		                     .sender = from[i],
		                     .recipient = to[i],
		                     .message_id = mids[i],
		                     .case_id = cid,
		                     .offer_id = wire_type_needs_offer(types[i])
		                                     ? wc->st.offer.message_id
		                                     : NULL,
		                     .seq = 10 + (uint64_t)i,
		                     .at_us = 1700000000000000 +
		                              i * INT64_C(3600000000),
		                     .outcome = 1};
		fill(mids[i], KETEN_MSG_ID_LEN, (uint8_t)(1 + 16 * i));
		if (case_step(&wc->st, &m, &err) != KETEN_OK)
			die(err.message);
	}
	if (wc->st.status == KETEN_CASE_OFFERED) {
		wc->ack_due_us = wc->st.offer.at_us + 5 * INT64_C(86400000000);
		wc->decide_due_us =
		    wc->st.offer.acked_us != 0
		        ? wc->st.offer.acked_us + 10 * INT64_C(86400000000)
		        : 0;
	}
}

static void
case_replies(const uint8_t *sk)
{
	struct wire_case cs[3];
	struct delivered d[2];
	uint8_t *env[2];
	size_t env_len[2];

	case_after(&cs[0], 1); /* offered, acknowledged */
	case_after(&cs[1], 3); /* offered again: the handover */
	case_after(&cs[2], 5); /* closed */
	reply("cases", &(struct reply){.request_id = 11,
	                               .kind = WIRE_REP_CASES,
	                               .cases = {cs, 3, true, 1700000001}});

	envelope(&env[0], &env_len[0], (const uint8_t *)"x", 1, sk);
	decline_envelope(&env[1], &env_len[1], sk);
	for (size_t i = 0; i < 2; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].seq = 10 + i;
		d[i].received_at_us = 1700000000000000 + (int64_t)i;
		fill(d[i].record_hash, KETEN_HASH_LEN, (uint8_t)(60 + i));
		fill(d[i].prev_hash, KETEN_HASH_LEN, (uint8_t)(59 + i));
		d[i].envelope = env[i];
		d[i].envelope_len = env_len[i];
	}
	case_after(&cs[0], 4); /* held by vt-flevoland after a decline */
	reply("case", &(struct reply){.request_id = 13,
	                              .kind = WIRE_REP_CASE,
	                              .kase = {cs[0], d, 2, false, 17000001}});
	free(env[0]);
	free(env[1]);
}

/*
 * The log as the broker replays it (sealed content never included): a
 * referral, its decline and a close of one case, chained from the region's
 * genesis and signed with the key fuzz_reply verifies against, so the whole
 * log verifies, with the log's checkpoint signed by that key too; then the
 * last two records alone, a page from record 2 with more to follow and no
 * checkpoint.
 */
static void
replay_replies(const uint8_t *sk)
{
	void (*make[3])(uint8_t **, size_t *, const uint8_t[64]) = {
	    NULL, decline_envelope, close_envelope};
	struct delivered d[3];
	uint8_t *env[3], prev[KETEN_HASH_LEN];
	size_t env_len[3];
	struct reply r = {.request_id = 14, .kind = WIRE_REP_REPLAY};

	envelope(&env[0], &env_len[0], (const uint8_t *)"x", 1, sk);
	chain_genesis(prev, "flevoland");
	for (size_t i = 0; i < 3; i++) {
		struct record rec = {.seq = i + 1,
		                     .received_at_us =
		                         1700000000000500 + (int64_t)i * 1000};

		if (make[i] != NULL)
			make[i](&env[i], &env_len[i], sk);
		memcpy(rec.prev_hash, prev, KETEN_HASH_LEN);
		rec.envelope = env[i];
		rec.envelope_len = env_len[i];
		memset(&d[i], 0, sizeof(d[i]));
		d[i].seq = rec.seq;
		d[i].received_at_us = rec.received_at_us;
		memcpy(d[i].prev_hash, prev, KETEN_HASH_LEN);
		chain_record_hash_of(d[i].record_hash, &rec);
		memcpy(prev, d[i].record_hash, KETEN_HASH_LEN);
		d[i].envelope = env[i];
		d[i].envelope_len = env_len[i];
	}
	r.replay.records = d;
	r.replay.n = 3;
	r.replay.head_seq = 3;
	memcpy(r.replay.head_hash, prev, KETEN_HASH_LEN);
	/* The checkpoint of the same log, signed by the same key. */
	{
		static struct tree t;
		uint8_t rh[3][KETEN_HASH_LEN];

		for (size_t i = 0; i < 3; i++)
			memcpy(rh[i], d[i].record_hash, KETEN_HASH_LEN);
		checkpoint_of(&r.replay.cp, &t, (const uint8_t(*)[32])rh, 3,
		              sk);
		r.replay.has_cp = true;
	}
	reply("replay", &r);

	/* A page without a checkpoint. */
	memset(&r.replay.cp, 0, sizeof(r.replay.cp));
	r.replay.has_cp = false;
	r.request_id = 15;
	r.replay.records = &d[1];
	r.replay.n = 2;
	r.replay.more = true;
	r.replay.head_seq = 9;
	fill(r.replay.head_hash, KETEN_HASH_LEN, 90);
	reply("replay-page", &r);
	for (size_t i = 0; i < 3; i++)
		free(env[i]);
}

/* ---- fuzz_case: stored states and sequences of messages ---- */

/* One message of a fuzz_case sequence (fuzz_case.c describes the four
 * bytes). */
enum { HOLDER = 0x80, OFFEREE = 0xa0, REFERRER = 0xe0 };
#define AG(i)             (i)
#define PARTY(i)          (0xc0 | (i))
#define OP(type, s, r, d) (uint8_t)((type)-1 + 0x40), (s), (r), (d)
#define OP_ID(type, choice, s, r)                                              \
	(uint8_t)((type)-1 + ((choice) << 4)), (s), (r), 0

static void
case_seeds(void)
{
	/* The whole chain, every type once or more, then what follows a
	 * close. */
	static const uint8_t chain[] = {
	    0x00,
	    OP(KETEN_MSG_REFERRAL, AG(0), AG(1), 0x81),
	    OP(KETEN_MSG_ACKNOWLEDGE, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_INFO_REQUEST, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_INFO_REPLY, HOLDER, OFFEREE, 0),
	    OP(KETEN_MSG_ACCEPT, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_FEEDBACK, HOLDER, REFERRER, 0),
	    OP(KETEN_MSG_HANDOVER, HOLDER, AG(2), 0),
	    OP(KETEN_MSG_DECLINE, OFFEREE, HOLDER, 2),
	    OP(KETEN_MSG_HANDOVER, HOLDER, AG(3), 0x85),
	    OP(KETEN_MSG_WITHDRAW, HOLDER, OFFEREE, 0),
	    OP(KETEN_MSG_HANDOVER, HOLDER, PARTY(3), 0),
	    OP(KETEN_MSG_ACKNOWLEDGE, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_ACCEPT, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_FEEDBACK, HOLDER, PARTY(0), 0),
	    OP(KETEN_MSG_CLOSE, HOLDER, 0, 3),
	    OP(KETEN_MSG_ACKNOWLEDGE, AG(1), HOLDER, 0),
	    OP(KETEN_MSG_FEEDBACK, HOLDER, PARTY(0), 0),
	    OP(KETEN_MSG_CLOSE, HOLDER, 0, 1),
	    OP(KETEN_MSG_REFERRAL, AG(0), AG(1), 0),
	    OP(KETEN_MSG_FEEDBACK, HOLDER, HOLDER, 0),
	};
	/* Refusals: before a referral, stale and unknown offer ids, the
	 * wrong sender and recipient, a second acknowledge, an offer to
	 * the holder itself, a close while offered. */
	static const uint8_t refusals[] = {
	    0x00,
	    OP(KETEN_MSG_ACCEPT, AG(1), AG(0), 0),
	    OP(KETEN_MSG_REFERRAL, AG(0), AG(0), 0),
	    OP(KETEN_MSG_REFERRAL, AG(0), AG(1), 0),
	    OP(KETEN_MSG_ACKNOWLEDGE, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_ACKNOWLEDGE, OFFEREE, HOLDER, 0),
	    OP_ID(KETEN_MSG_ACCEPT, 2, OFFEREE, HOLDER),
	    OP_ID(KETEN_MSG_ACCEPT, 3, OFFEREE, HOLDER),
	    OP(KETEN_MSG_ACCEPT, AG(5), HOLDER, 0),
	    OP(KETEN_MSG_ACCEPT, OFFEREE, AG(5), 0),
	    OP(KETEN_MSG_HANDOVER, HOLDER, AG(2), 0),
	    OP(KETEN_MSG_CLOSE, HOLDER, 0, 0),
	    OP(KETEN_MSG_WITHDRAW, OFFEREE, HOLDER, 0),
	    OP_ID(KETEN_MSG_WITHDRAW, 3, HOLDER, OFFEREE),
	    OP(KETEN_MSG_WITHDRAW, HOLDER, AG(7), 0),
	    OP(KETEN_MSG_FEEDBACK, HOLDER, OFFEREE, 0),
	    OP(KETEN_MSG_DECLINE, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_DECLINE, OFFEREE, HOLDER, 0),
	    OP(KETEN_MSG_INFO_REPLY, HOLDER, PARTY(1), 0),
	    OP(KETEN_MSG_HANDOVER, HOLDER, HOLDER, 0),
	};
	/* Sixteen parties, then a handover to a seventeenth. */
	uint8_t full[1 + 4 * (2 + 2 * 15 + 2)], *p = full;
	struct case_state st;
	uint8_t out[CASE_ENCODED_MAX];
	struct wire_case wc;

	put("case", "seq-chain", chain, sizeof(chain));
	put("case", "seq-refusals", refusals, sizeof(refusals));
	*p++ = 0x00;
	for (int i = 1; i <= 16; i++) {
		uint8_t op[8] = {
		    OP(i == 1 ? KETEN_MSG_REFERRAL : KETEN_MSG_HANDOVER,
		       i == 1 ? AG(0) : HOLDER, AG(i), 0),
		    OP(KETEN_MSG_DECLINE, OFFEREE, HOLDER, 0)};
		memcpy(p, op, sizeof(op)), p += sizeof(op);
	}
	{
		uint8_t op[8] = {OP(KETEN_MSG_HANDOVER, HOLDER, AG(17), 0),
		                 OP(KETEN_MSG_HANDOVER, HOLDER, PARTY(9), 0)};
		memcpy(p, op, sizeof(op)), p += sizeof(op);
	}
	put("case", "seq-full", full, (size_t)(p - full));

	/* Stored values as the broker writes them. */
	case_after(&wc, 1);
	put("case", "stored-offered", out, case_encode(out, &wc.st));
	case_after(&wc, 4);
	put("case", "stored-held", out, case_encode(out, &wc.st));
	case_after(&wc, 5);
	put("case", "stored-closed", out, case_encode(out, &wc.st));
	/* Sixteen parties, the longest value. */
	st = wc.st;
	for (int i = st.n_parties; i < CASE_PARTIES_MAX; i++) {
		memset(st.parties[i].id, 'a', KETEN_ID_MAX);
		st.parties[i].id[KETEN_ID_MAX - 2] = (char)('a' + i);
		st.parties[i].id[KETEN_ID_MAX] = '\0';
	}
	st.n_parties = CASE_PARTIES_MAX;
	put("case", "stored-full", out, case_encode(out, &st));
}

static void
records(const uint8_t *env, size_t env_len)
{
	struct record r = {.seq = 1,
	                   .received_at_us = 1700000000000100,
	                   .envelope = env,
	                   .envelope_len = env_len};
	uint8_t *buf = malloc(CHAIN_RECORD_HEADER + env_len);

	if (buf == NULL)
		die("out of memory");
	chain_genesis(r.prev_hash, "flevoland");
	chain_record_encode(buf, &r);
	put("record", "first", buf, CHAIN_RECORD_HEADER + env_len);
	r.envelope_len = 0;
	chain_record_encode(buf, &r);
	put("record", "header-only", buf, CHAIN_RECORD_HEADER);
	free(buf);
}

static void
key_b64(char out[TEXT_KEY_B64_LEN], uint8_t v)
{
	uint8_t k[32];

	fill(k, sizeof(k), v);
	text_key_to_b64(out, k);
}

/* Any 32 bytes parse as a key; transport keys must differ. */
static void
configs(void)
{
	char k[8][TEXT_KEY_B64_LEN], text[4096];
	int n;

	for (int i = 0; i < 8; i++)
		key_b64(k[i], (uint8_t)(i * 32));
	n = snprintf(text, sizeof(text),
	             "region: flevoland\n"
	             "listen: tcp://127.0.0.1:7450\n"
	             "connect: tcp://broker.example:7450\n"
	             "data_dir: data\n"
	             "broker:\n"
	             "  key_file: broker.key\n"
	             "  sign_key: %s\n"
	             "  transport_key: %s\n"
	             "limits:\n"
	             "  max_message_bytes: 65536\n"
	             "  map_size_mb: 64\n"
	             "  map_max_mb: 1024\n"
	             "  workers: 4\n"
	             "  batch_max: 128\n"
	             "agencies:\n"
	             "  - id: lt-almere\n"
	             "    name: Lokaal team Almere\n"
	             "    kind: local_team\n"
	             "    sign_key: %s\n"
	             "    box_key: %s\n"
	             "    transport_key: %s\n"
	             "  - id: vt-flevoland\n"
	             "    name: Veilig Thuis Flevoland\n"
	             "    kind: veilig_thuis\n"
	             "    sign_key: %s\n"
	             "    box_key: %s\n"
	             "    transport_key: %s\n",
	             k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]);
	put("config", "full.yaml", text, (size_t)n);
	n = snprintf(text, sizeof(text),
	             "region: r1\n"
	             "listen: tcp://*:7450\n"
	             "data_dir: /var/lib/keten\n"
	             "broker: {sign_key: %s, transport_key: %s}\n"
	             "agencies:\n"
	             "  - {id: gi-1, name: GI, kind: gi, sign_key: %s,\n"
	             "     box_key: %s, transport_key: %s}\n",
	             k[0], k[1], k[2], k[3], k[4]);
	put("config", "minimal.yaml", text, (size_t)n);
	/* Every kind, quoting, an alias; mutations reach the duplicate
	 * checks between agencies from here. */
	n = snprintf(text, sizeof(text),
	             "region: \"utrecht\"\n"
	             "listen: 'tcp://0.0.0.0:7450'\n"
	             "data_dir: /srv/keten\n"
	             "broker:\n"
	             "  key_file: /etc/keten/broker.key\n"
	             "  sign_key: %s\n"
	             "  transport_key: %s\n"
	             "agencies:\n"
	             "  - {id: lt-a, name: &n Team, kind: local_team,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: vt-u, name: *n, kind: veilig_thuis,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: gi-u, name: GI, kind: gi,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: raad, name: Raad, kind: raad,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n"
	             "  - {id: audit, name: Audit, kind: auditor,\n"
	             "     sign_key: %s, box_key: %s, transport_key: %s}\n",
	             k[0], k[1], k[2], k[3], k[4], k[2], k[3], k[5], k[2], k[3],
	             k[6], k[2], k[3], k[7], k[2], k[3], k[0]);
	put("config", "kinds.yaml", text, (size_t)n);
}

int
main(int argc, char **argv)
{
	uint8_t pk[32], sk[64];
	uint8_t *plain, *env;
	size_t plain_len, env_len;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die(root);
	if (sodium_init() < 0)
		die("sodium_init");
	sign_keys(pk, sk, 1);
	if (note_broker_key(&broker, "flevoland", pk) != 0)
		die("note_broker_key");
	content(&plain, &plain_len);
	/* The broker only hashes sealed bytes; unsealed content serves. */
	envelope(&env, &env_len, plain, plain_len, sk);
	dossier_and_note();
	requests(env, env_len, plain, plain_len);
	submits(sk);
	replies(env, env_len, plain, plain_len, sk);
	case_replies(sk);
	replay_replies(sk);
	case_seeds();
	records(env, env_len);
	configs();
	free(env);
	free(plain);
	sodium_memzero(sk, sizeof(sk));
	return 0;
}
