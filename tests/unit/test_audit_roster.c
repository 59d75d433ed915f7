/*
 * audit: a log whose roster changes, verified record by record as the
 * audit stream does, with real keys: rotation, leave, revocation and the
 * broker's own rotation, each with the record that must fail after it.
 * Builds logs in memory only; never writes a file.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../check.h"
#include "audit.h"
#include "bundle.h"
#include "chain.h"
#include "envelope.h"
#include "merkle.h"
#include "note.h"
#include "roster.h"
#include "wire.h"

#define REGION "flevoland"
#define T0     1800000000000000LL /* the broker's clock at record 1, µs */

struct party {
	struct roster_keys k;
	uint8_t sk[64];
};

static struct party b1, b2, lt1, lt2, vt1, gi1;

/* A log being written: its records' stored bytes, chain and tree. */
struct log {
	uint8_t *rec[64];
	size_t len[64];
	size_t n;
	uint8_t prev[32];
	struct merkle_frontier tree;
	uint8_t leaf[64][32];
	uint64_t last_roster;
};

static void
party_new(struct party *p)
{
	crypto_sign_keypair(p->k.sign, p->sk);
	randombytes_buf(p->k.box, 32);
	randombytes_buf(p->k.transport, 32);
}

static int
sign_sk(void *arg, uint8_t sig[64], const uint8_t *m, size_t mlen)
{
	return crypto_sign_detached(sig, NULL, m, mlen, arg) == 0
	           ? KETEN_OK
	           : KETEN_E_INTERNAL;
}

/* Appends the envelope env (taken) as the next record, at T0 + seq s. */
static void
log_add(struct log *l, uint8_t *env, size_t env_len)
{
	struct record r = {.seq = l->n + 1,
	                   .received_at_us = T0 + (int64_t)(l->n + 1) * 1000000,
	                   .envelope = env,
	                   .envelope_len = env_len};
	uint8_t leaf[32];

	CHECK(l->n < 64);
	memcpy(r.prev_hash, l->prev, 32);
	l->len[l->n] = CHAIN_RECORD_HEADER + env_len;
	CHECK((l->rec[l->n] = malloc(l->len[l->n])) != NULL);
	chain_record_encode(l->rec[l->n], &r);
	chain_record_hash(l->prev, l->rec[l->n], l->len[l->n]);
	merkle_leaf(leaf, l->prev);
	memcpy(l->leaf[l->n], leaf, 32);
	CHECK_INT(merkle_frontier_push(&l->tree, leaf, NULL, NULL), 0);
	l->n++;
	free(env);
}

/* A referral by signer (signing with sk) to `to`: a case of its own. */
static void
log_referral(struct log *l, const char *signer, const uint8_t sk[64],
             const char *to)
{
	struct body b;
	struct envelope e;
	uint8_t *body = NULL, *out = NULL;
	size_t body_len = 0, len = 0;

	memset(&b, 0, sizeof(b));
	randombytes_buf(b.h.message_id, sizeof(b.h.message_id));
	randombytes_buf(b.h.case_id, sizeof(b.h.case_id));
	strcpy(b.h.sender, signer);
	strcpy(b.h.recipient, to);
	b.h.sent_at_us = T0;
	b.type = KETEN_MSG_REFERRAL;
	b.has_content = true;
	memset(b.content_hash, 0x42, sizeof(b.content_hash));
	b.u.offer.urgency = KETEN_URGENCY_URGENT;
	b.u.offer.respond_by_us = T0 + 86400000000LL;
	CHECK_INT(wire_body_encode(&body, &body_len, &b), KETEN_OK);
	memset(&e, 0, sizeof(e));
	e.version = WIRE_VERSION;
	e.type = KETEN_MSG_REFERRAL;
	strcpy(e.signer, signer);
	e.body = body;
	e.body_len = body_len;
	CHECK_INT(envelope_sign(e.signature, e.version, e.type, e.body,
	                        e.body_len, sk),
	          KETEN_OK);
	CHECK_INT(wire_envelope_encode(&out, &len, &e), KETEN_OK);
	free(body);
	log_add(l, out, len);
}

/* A roster record of changes c[0..n), signed by the broker's sk. */
static void
log_roster(struct log *l, const struct roster_change *c, size_t n,
           const uint8_t sk[64])
{
	struct keten_error err;
	uint8_t *env;
	size_t len;

	CHECK_INT(roster_record_encode(&env, &len, REGION, l->last_roster, c, n,
	                               sign_sk, (void *)(uintptr_t)sk, &err),
	          KETEN_OK);
	l->last_roster = l->n + 1;
	log_add(l, env, len);
}

static struct roster_change
change(enum roster_action action, const char *agency, const struct party *p)
{
	struct roster_change c;

	memset(&c, 0, sizeof(c));
	c.action = action;
	strcpy(c.agency, agency);
	if (p != NULL)
		c.keys = p->k;
	return c;
}

/* A statement by old for c's keys (agency, or "broker"): malloc'd. */
static void
vouch(struct roster_change *c, const char *agency, const struct party *old)
{
	struct keten_error err;
	uint8_t *st;
	size_t n;

	CHECK_INT(roster_rotation_sign(&st, &n, REGION, agency, old->sk,
	                               &c->keys, T0, &err),
	          KETEN_OK);
	c->rotation = st;
	c->rotation_len = n;
}

/* Record 1: broker b1 and the three agencies. */
static void
log_genesis(struct log *l)
{
	struct roster_change c[4] = {change(ROSTER_BROKER, "", &b1),
	                             change(ROSTER_JOIN, "lt-almere", &lt1),
	                             change(ROSTER_JOIN, "vt-flevoland", &vt1),
	                             change(ROSTER_JOIN, "gi-save", &gi1)};

	memset(c[0].keys.box, 0, 32);
	c[1].kind = KETEN_KIND_LOCAL_TEAM;
	strcpy(c[1].name, "Lokaal team Almere");
	c[2].kind = KETEN_KIND_VEILIG_THUIS;
	strcpy(c[2].name, "Veilig Thuis Flevoland");
	c[3].kind = KETEN_KIND_GI;
	strcpy(c[3].name, "GI Save");
	chain_genesis(l->prev, REGION);
	log_roster(l, c, 4, b1.sk);
}

static void
log_free(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->rec[i]);
	memset(l, 0, sizeof(*l));
}

/* A config of the region that knows only broker's key: no agency. */
static void
config_of(struct config *c, const struct party *broker)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->region, REGION);
	memcpy(c->broker_sign_pk, broker->k.sign, 32);
	CHECK_INT(note_broker_key(&c->broker_key, REGION, broker->k.sign), 0);
}

/* Streams records from..to of l: the code of the first that fails (err
 * says why), or KETEN_OK. */
static int
stream(struct audit_stream *st, const struct log *l, size_t from, size_t to,
       struct keten_error *err)
{
	struct audit_info info;
	int rc = KETEN_OK;

	for (size_t s = from; s <= to && rc == KETEN_OK; s++)
		rc = audit_stream_record(st, &info, s, l->rec[s - 1],
		                         l->len[s - 1], err);
	return rc;
}

/* The checkpoint of l at its size now, signed by signer. */
static void
checkpoint(struct keten_checkpoint *cp, const struct log *l,
           const struct party *signer)
{
	memset(cp, 0, sizeof(*cp));
	cp->size = l->n;
	memcpy(cp->head_hash, l->prev, 32);
	merkle_frontier_root(&l->tree, cp->root);
	cp->roster_seq = l->last_roster;
	cp->signed_at_us = T0;
	note_checkpoint_sign(cp, NOTE_ORIGIN REGION, signer->sk);
}

static void
test_rotate(void)
{
	struct log l = {0};
	struct config c;
	struct audit_stream *st;
	struct keten_error err;
	struct roster_change rot = change(ROSTER_ROTATE, "lt-almere", &lt2);

	log_genesis(&l);
	log_referral(&l, "lt-almere", lt1.sk, "vt-flevoland"); /* 2 */
	vouch(&rot, "lt-almere", &lt1);
	log_roster(&l, &rot, 1, b1.sk); /* 3 */
	free((void *)rot.rotation);
	log_referral(&l, "lt-almere", lt2.sk, "vt-flevoland"); /* 4 */
	log_referral(&l, "lt-almere", lt1.sk, "vt-flevoland"); /* 5 */
	config_of(&c, &b1);

	/* The old record and the new one verify with the chain's roster;
	 * the config knows no agency at all. */
	CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
	CHECK_INT(stream(st, &l, 1, 4, &err), KETEN_OK);
	CHECK_INT(audit_stream_result(st)->n_roster_events, 5);
	CHECK_INT(audit_stream_result(st)->roster_events[4].seq, 3);
	CHECK_INT(audit_stream_result(st)->roster_events[4].change.action,
	          ROSTER_ROTATE);
	/* The old key after its rotation: refused, naming the rotation. */
	CHECK_INT(stream(st, &l, 5, 5, &err), KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "record 5");
	CHECK_STR_HAS(err.message, "roster record 3 replaced");
	CHECK_INT(audit_stream_bad(st), 5);
	audit_stream_free(&st);
	log_free(&l);
}

static void
test_leave(void)
{
	struct log l = {0};
	struct config c;
	struct audit_stream *st;
	struct keten_error err;
	struct roster_change leave = change(ROSTER_LEAVE, "gi-save", NULL);

	log_genesis(&l);
	log_referral(&l, "gi-save", gi1.sk, "vt-flevoland");   /* 2 */
	log_roster(&l, &leave, 1, b1.sk);                      /* 3 */
	log_referral(&l, "vt-flevoland", vt1.sk, "lt-almere"); /* 4 */
	log_referral(&l, "gi-save", gi1.sk, "vt-flevoland");   /* 5 */
	config_of(&c, &b1);

	CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
	CHECK_INT(stream(st, &l, 1, 4, &err), KETEN_OK);
	CHECK_INT(stream(st, &l, 5, 5, &err), KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "record 5");
	CHECK_STR_HAS(err.message, "'gi-save', which has no key in force");
	CHECK_STR_HAS(err.message, "left the region at record 3");
	audit_stream_free(&st);
	log_free(&l);
}

/* vt-flevoland's key is revoked at record 5 as compromised since record
 * 3's time: records 3 and 4 are listed, record 2 is not, and nothing
 * fails. The review needs the head's roster (an offline audit has it
 * from its pre-pass). */
static void
test_revoke(void)
{
	struct log l = {0};
	struct config c;
	struct audit_stream *st;
	struct roster *head;
	struct keten_error err;
	struct roster_change rev = change(ROSTER_REVOKE, "vt-flevoland", NULL);
	const struct audit_result *res;

	log_genesis(&l);
	log_referral(&l, "vt-flevoland", vt1.sk, "lt-almere"); /* 2 */
	log_referral(&l, "vt-flevoland", vt1.sk, "lt-almere"); /* 3 */
	log_referral(&l, "vt-flevoland", vt1.sk, "gi-save");   /* 4 */
	memcpy(rev.keys.sign, vt1.k.sign, 32);
	rev.compromised_at_us = T0 + 3 * 1000000;
	strcpy(rev.reason, "laptop stolen");
	log_roster(&l, &rev, 1, b1.sk);                        /* 5 */
	log_referral(&l, "vt-flevoland", vt1.sk, "lt-almere"); /* 6 */
	config_of(&c, &b1);

	CHECK_INT(roster_new(&head, REGION, &err), KETEN_OK);
	CHECK_INT(roster_apply(head, 1, T0 + 1000000,
	                       l.rec[0] + CHAIN_RECORD_HEADER,
	                       l.len[0] - CHAIN_RECORD_HEADER, &err),
	          KETEN_OK);
	CHECK_INT(roster_apply(head, 5, T0 + 5000000,
	                       l.rec[4] + CHAIN_RECORD_HEADER,
	                       l.len[4] - CHAIN_RECORD_HEADER, &err),
	          KETEN_OK);
	CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
	audit_stream_roster(st, head);
	CHECK_INT(stream(st, &l, 1, 5, &err), KETEN_OK);
	res = audit_stream_result(st);
	CHECK_INT(res->n_review, 2);
	CHECK_INT(res->n_review_all, 2);
	CHECK_INT(res->review[0].seq, 3);
	CHECK_INT(res->review[1].seq, 4);
	CHECK(strcmp(res->review[0].signer, "vt-flevoland") == 0);
	CHECK_INT(res->review[0].revoked_seq, 5);
	CHECK(strcmp(res->review[0].reason, "laptop stolen") == 0);
	/* After the revocation the key signs nothing. */
	CHECK_INT(stream(st, &l, 6, 6, &err), KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "record 6");
	audit_stream_free(&st);
	roster_destroy(&head);
	log_free(&l);
}

/* The broker's key rotates at record 4: checkpoints of 3 records (b1)
 * and of 5 (b2) both verify, with b1 or b2 in the config; a checkpoint
 * of 5 signed by b1, or a config with a key the log never recorded,
 * fails. */
static void
broker_log(struct log *l, struct keten_checkpoint *cp3,
           struct keten_checkpoint *cp5)
{
	struct roster_change bro = change(ROSTER_BROKER, "", &b2);

	memset(bro.keys.box, 0, 32);
	log_genesis(l);
	log_referral(l, "lt-almere", lt1.sk, "vt-flevoland"); /* 2 */
	log_referral(l, "vt-flevoland", vt1.sk, "lt-almere"); /* 3 */
	checkpoint(cp3, l, &b1);
	vouch(&bro, WIRE_BROKER_ID, &b1);
	log_roster(l, &bro, 1, b2.sk); /* 4: signed by its own new key */
	free((void *)bro.rotation);
	log_referral(l, "lt-almere", lt1.sk, "vt-flevoland"); /* 5 */
	checkpoint(cp5, l, &b2);
}

static void
test_broker(void)
{
	struct log l = {0};
	struct config c;
	struct audit_stream *st;
	struct keten_error err;
	struct keten_checkpoint cp3, cp5, bad5;
	const struct party *trusted[2] = {&b1, &b2};
	struct party stranger;

	broker_log(&l, &cp3, &cp5);
	for (size_t i = 0; i < 2; i++) {
		config_of(&c, trusted[i]);
		CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
		/* Ahead of the records: checked once the stream knows the
		 * key in force at their sizes. */
		CHECK_INT(audit_stream_checkpoint(st, &cp3, &err), KETEN_OK);
		CHECK_INT(stream(st, &l, 1, 3, &err), KETEN_OK);
		CHECK_INT(audit_stream_checkpoint(st, &cp5, &err), KETEN_OK);
		CHECK_INT(stream(st, &l, 4, 5, &err), KETEN_OK);
		CHECK_INT(audit_stream_end(st, &err), KETEN_OK);
		/* Behind: checked at once. */
		CHECK_INT(audit_stream_checkpoint(st, &cp3, &err), KETEN_OK);
		CHECK_INT(audit_stream_checkpoint(st, &cp5, &err), KETEN_OK);
		bad5 = cp5;
		note_checkpoint_sign(&bad5, NOTE_ORIGIN REGION, b1.sk);
		CHECK_INT(audit_stream_checkpoint(st, &bad5, &err),
		          KETEN_E_CHAIN);
		CHECK_STR_HAS(err.message, "in force at its size");
		audit_stream_free(&st);
	}
	/* A checkpoint whose roster line hides the broker rotation. */
	config_of(&c, &b1);
	bad5 = cp5;
	bad5.roster_seq = 1;
	note_checkpoint_sign(&bad5, NOTE_ORIGIN REGION, b2.sk);
	CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
	CHECK_INT(audit_stream_checkpoint(st, &bad5, &err), KETEN_OK);
	CHECK_INT(stream(st, &l, 1, 5, &err), KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "newest roster record is 1, but it is 4");
	audit_stream_free(&st);
	party_new(&stranger);
	config_of(&c, &stranger);
	CHECK_INT(audit_stream_new(&st, &c, 1, NULL, &err), KETEN_OK);
	CHECK_INT(audit_stream_checkpoint(st, &cp5, &err), KETEN_OK);
	/* Every record and checkpoint verifies with the chain's own keys;
	 * only its end holds the config's key to them. */
	CHECK_INT(stream(st, &l, 1, 5, &err), KETEN_OK);
	CHECK_INT(audit_stream_end(st, &err), KETEN_E_CHAIN);
	CHECK_STR_HAS(err.message, "not one the log ever recorded");
	audit_stream_free(&st);
	log_free(&l);
}

/* merkle_path's subtrees, from the log's leaves. */
static int
subtree(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	const struct log *l = arg;
	uint8_t left[32], right[32];

	if (level == 0) {
		memcpy(out, l->leaf[index], 32);
		return 0;
	}
	CHECK_INT(subtree(arg, level - 1, 2 * index, left), 0);
	CHECK_INT(subtree(arg, level - 1, 2 * index + 1, right), 0);
	merkle_node(out, left, right);
	return 0;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/*
 * The extra of docs/PROTOCOL.md 10.7, written here from the spec (not
 * with bundle.c): be64 0, 1, be32 length and record seq's bytes, be32 n,
 * then each roster record rs[i] with its proof at size.
 */
static size_t
extra_of(uint8_t *out, const struct log *l, uint64_t seq, const uint64_t *rs,
         size_t n, uint64_t size)
{
	uint8_t path[MERKLE_PATH_MAX][32], *p = out;
	size_t n_path;

	memset(p, 0, 8);
	p[8] = 1;
	p = put32(p + 9, (uint32_t)l->len[seq - 1]);
	memcpy(p, l->rec[seq - 1], l->len[seq - 1]);
	p = put32(p + l->len[seq - 1], (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		p = put32(p, (uint32_t)l->len[rs[i] - 1]);
		memcpy(p, l->rec[rs[i] - 1], l->len[rs[i] - 1]);
		p += l->len[rs[i] - 1];
		CHECK_INT(merkle_path(path, &n_path, rs[i] - 1, size, subtree,
		                      (void *)l),
		          0);
		*p++ = (uint8_t)n_path;
		memcpy(p, path, 32 * n_path);
		p += 32 * n_path;
	}
	return (size_t)(p - out);
}

/* A bundle of record seq at l's checkpoint cp (signed by k), with extra. */
static int
bundle_of(const struct config *c, const struct log *l, uint64_t seq,
          const struct keten_checkpoint *cp, const struct party *k,
          const uint8_t *extra, size_t extra_len, struct keten_error *err)
{
	struct note_proof p = {.extra = extra, .extra_len = extra_len};
	struct note_key nk;
	struct bundle_info info;
	char note[NOTE_MAX], *b;
	size_t len;
	int rc;

	CHECK_INT(note_broker_key(&nk, REGION, k->k.sign), 0);
	p.index = seq - 1;
	CHECK_INT(merkle_path(p.path, &p.n_path, seq - 1, cp->size, subtree,
	                      (void *)l),
	          0);
	p.note = note;
	CHECK((p.note_len =
	           note_checkpoint_format(note, sizeof(note), &nk, cp)) > 0);
	CHECK_INT(note_proof_format(&b, &len, &p), KETEN_OK);
	rc = bundle_check(&info, c, b, len, err);
	if (rc == KETEN_OK) {
		CHECK_INT(info.rec.seq, seq);
		CHECK_INT(info.cp.size, cp->size);
	}
	free(b);
	return rc;
}

/* Record 2, signed with lt-almere's first key, rotated at record 3 and
 * the broker's at 5: its bundle carries roster records 1, 3 and 5 and
 * checks with a config that lists no agency, whichever broker key it
 * holds; without the roster records it does not. */
static void
test_bundle(void)
{
	struct log l = {0};
	struct config c;
	struct keten_error err;
	struct keten_checkpoint cp;
	struct roster_change rot = change(ROSTER_ROTATE, "lt-almere", &lt2);
	struct roster_change bro = change(ROSTER_BROKER, "", &b2);
	static uint8_t extra[1 << 16];
	const uint64_t rs[3] = {1, 3, 5};
	size_t n;

	log_genesis(&l);
	log_referral(&l, "lt-almere", lt1.sk, "vt-flevoland"); /* 2 */
	vouch(&rot, "lt-almere", &lt1);
	log_roster(&l, &rot, 1, b1.sk); /* 3 */
	free((void *)rot.rotation);
	log_referral(&l, "lt-almere", lt2.sk, "vt-flevoland"); /* 4 */
	memset(bro.keys.box, 0, 32);
	vouch(&bro, WIRE_BROKER_ID, &b1);
	log_roster(&l, &bro, 1, b2.sk); /* 5 */
	free((void *)bro.rotation);
	log_referral(&l, "vt-flevoland", vt1.sk, "lt-almere"); /* 6 */
	checkpoint(&cp, &l, &b2);

	n = extra_of(extra, &l, 2, rs, 3, cp.size);
	for (int i = 0; i < 2; i++) {
		config_of(&c, i == 0 ? &b1 : &b2);
		CHECK_INT(bundle_of(&c, &l, 2, &cp, &b2, extra, n, &err),
		          KETEN_OK);
	}
	/* The record alone (the form before rosters): the checkpoint says
	 * the roster goes up to record 5, the bundle carries none. */
	CHECK_INT(bundle_of(&c, &l, 2, &cp, &b2, l.rec[1], l.len[1], &err),
	          KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, "newest roster record is 5");
	/* The broker rotation left out: the checkpoint is by a key the
	 * roster it carries never recorded. */
	config_of(&c, &b1);
	n = extra_of(extra, &l, 2, rs, 2, cp.size);
	CHECK_INT(bundle_of(&c, &l, 2, &cp, &b2, extra, n, &err),
	          KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, "no signature by keten/flevoland");
	/* Record 6 after the rotation: signed by vt-flevoland's key. */
	n = extra_of(extra, &l, 6, rs, 3, cp.size);
	CHECK_INT(bundle_of(&c, &l, 6, &cp, &b2, extra, n, &err), KETEN_OK);
	/* A stranger's broker key in the config. */
	n = extra_of(extra, &l, 2, rs, 3, cp.size);
	{
		struct party stranger;
		party_new(&stranger);
		config_of(&c, &stranger);
	}
	CHECK_INT(bundle_of(&c, &l, 2, &cp, &b2, extra, n, &err),
	          KETEN_E_RECEIPT);
	CHECK_STR_HAS(err.message, "broker key is not one");
	log_free(&l);
}

int
main(void)
{
	CHECK(sodium_init() >= 0);
	party_new(&b1);
	party_new(&b2);
	party_new(&lt1);
	party_new(&lt2);
	party_new(&vt1);
	party_new(&gi1);
	test_rotate();
	test_leave();
	test_revoke();
	test_broker();
	test_bundle();
	return check_done("test_audit_roster");
}
