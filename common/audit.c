/*
 * Chain verification for auditors: offline over a data directory (through
 * ledger.c only), or record by record as a stream from the broker. Trusts
 * nothing it is given: every link, hash and signature is recomputed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "audit_witness.h"
#include "casebook.h"
#include "chain.h"
#include "ledger.h"
#include "merkle.h"
#include "note.h"
#include "record.h"
#include "roster.h"
#include "structwalk.h"
#include "text.h"
#include "wire.h"

struct walk {
	const struct config *c;
	struct record_roster roster; /* the config's keys */
	/* The roster of the chain (docs/PROTOCOL.md 22.4), built in order
	 * as the walk applies roster records (res->roster, owned there);
	 * NULL for a stream from N > 1. given: a roster from elsewhere (the
	 * offline pre-pass's, or the stream caller's), for records before
	 * the first roster record, from N > 1, and the verify threads; it
	 * is never written while the walk runs. */
	struct roster *chain;
	const struct roster *given;
	bool review_on;   /* given revokes a key: list what it signed */
	bool cp_unsigned; /* the pending checkpoint's signature is unchecked */
	struct audit_result *res;
	struct keten_error *err;
	uint8_t prev[32];
	bool trust_first; /* a stream from N > 1 with no hash for N - 1 */
	bool cases_on;    /* the case rules need the log from record 1 */
	struct audit_info *info; /* the stream's out-parameter, or NULL */
	struct audit_result own; /* a stream's result */
	struct casebook *book;   /* the cases, when cases_on */
	/* Every message id seen, with its record: a message is recorded
	 * once (PROTOCOL.md 10.4), so a repeat is a forged record. Message
	 * ids are chosen by clients, so the index hashes them with a secret
	 * key: ids made to collide cannot make the walk quadratic. */
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct seen *ids;
	size_t n_ids, n_id_slots;
	/* The Merkle tree of the records walked (from record 1 only), and
	 * a signed checkpoint to hold the log to when the walk reaches its
	 * size. */
	bool tree_on;
	struct merkle_frontier tree;
	bool cp_pending;
	struct keten_checkpoint cp;
	/* An outside checkpoint: the tree at its size must have its root. */
	bool anchor_pending;
	struct keten_checkpoint anchor;
	/* The size of the next witness's cosigned checkpoint to hold the
	 * tree to (audit_witness.h); 0 or UINT64_MAX: none. */
	uint64_t wit_next;
};

struct seen {
	uint8_t id[KETEN_MSG_ID_LEN];
	uint64_t seq; /* 0: a free slot */
};

/* The slot of id in t (n a power of two): its own or a free one. */
static size_t
seen_slot(const struct walk *w, const struct seen *t, size_t n,
          const uint8_t *id)
{
	uint8_t h8[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(h8, id, KETEN_MSG_ID_LEN, w->key);
	memcpy(&h, h8, sizeof(h));
	for (h &= n - 1;
	     t[h].seq != 0 && memcmp(t[h].id, id, KETEN_MSG_ID_LEN) != 0;
	     h = (h + 1) & (n - 1))
		;
	return h;
}

/* Records id as seq's; 0 if new, the earlier record if seen, or
 * UINT64_MAX if out of memory. */
static uint64_t
seen_add(struct walk *w, const uint8_t *id, uint64_t seq)
{
	size_t h;

	if (2 * (w->n_ids + 1) > w->n_id_slots) {
		size_t n = w->n_id_slots ? 2 * w->n_id_slots : 4096;
		struct seen *t = calloc(n, sizeof(*t));
		if (t == NULL)
			return UINT64_MAX;
		for (size_t i = 0; i < w->n_id_slots; i++)
			if (w->ids[i].seq != 0)
				t[seen_slot(w, t, n, w->ids[i].id)] = w->ids[i];
		free(w->ids);
		w->ids = t;
		w->n_id_slots = n;
	}
	h = seen_slot(w, w->ids, w->n_id_slots, id);
	if (w->ids[h].seq != 0)
		return w->ids[h].seq;
	memcpy(w->ids[h].id, id, KETEN_MSG_ID_LEN);
	w->ids[h].seq = seq;
	w->n_ids++;
	return 0;
}

/* The roster a record at the walk's next seq is verified with: the
 * chain's once it has a roster record, else the given one, else NULL
 * (the config's agencies: a log without roster records). */
static const struct roster *
walk_roster(const struct walk *w)
{
	if (w->chain != NULL && roster_last_seq(w->chain) > 0)
		return w->chain;
	if (w->given != NULL && roster_last_seq(w->given) > 0)
		return w->given;
	return NULL;
}

/* A door's roster that also notes the signing key it gave (pk), so the
 * walk can tell whether the verify threads used the same. */
struct capture {
	struct record_roster inner;
	uint8_t *pk;
};

static const struct agency *
capture_find(const void *arg, const char *signer, uint64_t seq,
             struct keten_error *err)
{
	const struct capture *c = arg;
	const struct agency *a = c->inner.find(c->inner.arg, signer, seq, err);

	if (a != NULL)
		memcpy(c->pk, a->sign_pk, 32);
	return a;
}

/* A door's roster of one agency with one key: an earlier key of the
 * roster's, to say why a signature does not verify. */
static const struct agency *
onekey_find(const void *arg, const char *signer, uint64_t seq,
            struct keten_error *err)
{
	(void)signer, (void)seq, (void)err;
	return arg;
}

/* The stream's handle: a walk with nothing else. */
struct audit_stream {
	struct walk w;
};

static int broken(struct walk *w, uint64_t seq, const char *what);

/* Replays one verified record's body through the case rules. */
static int
replay(struct walk *w, uint64_t seq, int64_t at_us, const struct body *b)
{
	struct case_state st;
	size_t at;
	struct case_msg m;
	struct keten_error why;
	char what[KETEN_ERROR_MAX + 64];

	casebook_get(w->book, b->h.case_id, &st, &at);
	case_msg_of(&m, b, seq, at_us);
	if (case_step(&st, &m, &why) != KETEN_OK) {
		snprintf(what, sizeof(what),
		         "breaks the case rules, so the broker should have "
		         "refused it: %s",
		         why.message);
		return broken(w, seq, what);
	}
	if (casebook_put(w->book, at, &st) != 0)
		return error_set(w->err, KETEN_E_NOMEM,
		                 "out of memory replaying the cases");
	return 0;
}

void
audit_result_free(struct audit_result *res)
{
	casebook_free(&res->cases);
	res->n_cases = 0;
	roster_destroy(&res->roster);
	free(res->roster_events);
	res->roster_events = NULL;
	res->n_roster_events = 0;
	free(res->review);
	res->review = NULL;
	res->n_review = 0;
	res->n_review_all = 0;
}

static int
broken(struct walk *w, uint64_t seq, const char *what)
{
	w->res->bad_seq = seq;
	return error_set(w->err, KETEN_E_CHAIN, "record %llu: %s",
	                 (unsigned long long)seq, what);
}

/* cp's broker signature with the key in force at its size in r (NULL:
 * the config's), and the config's key held to the chain's history. */
static int
cp_signed(const struct config *c, const struct roster *r,
          const struct keten_checkpoint *cp, const char *which, bool trust,
          struct keten_error *err)
{
	struct note_key k;

	if (r != NULL && roster_last_seq(r) == 0)
		r = NULL;
	if (roster_note_key_for_size(&k, r, cp->size, &c->broker_key) != 0 ||
	    note_checkpoint_verify(cp, &k) != 0)
		return error_set(err, KETEN_E_CHAIN,
		                 "%s of %llu records is not signed by the "
		                 "broker key %s",
		                 which, (unsigned long long)cp->size,
		                 r != NULL ? "in force at its size"
		                           : "in the region config");
	if (trust && r != NULL && !roster_broker_trusted(r, c->broker_sign_pk))
		return error_set(
		    err, KETEN_E_CHAIN,
		    "the region config's broker key is not one the "
		    "log ever recorded");
	return KETEN_OK;
}

/* The pending checkpoint against the walk, which has just reached its
 * size: the same head and, from record 1, the same Merkle root; and its
 * signature, if it came before the walk knew the key for its size. */
static int
cp_holds(struct walk *w)
{
	uint8_t root[32];
	char what[200];
	int rc;

	w->cp_pending = false;
	if (w->cp_unsigned) {
		w->cp_unsigned = false;
		if ((rc = cp_signed(w->c, walk_roster(w), &w->cp,
		                    "the checkpoint", false, w->err)) !=
		    KETEN_OK)
			return rc;
	}
	if (w->tree_on)
		merkle_frontier_root(&w->tree, root);
	/* Its roster line names the newest roster record up to its size
	 * (docs/PROTOCOL.md 10.2): a client fetches the roster by it. */
	if (w->chain != NULL && w->cp.roster_seq != roster_last_seq(w->chain)) {
		snprintf(what, sizeof(what),
		         "the broker signed a log of %llu records whose newest "
		         "roster record is %llu, but it is %llu",
		         (unsigned long long)w->cp.size,
		         (unsigned long long)w->cp.roster_seq,
		         (unsigned long long)roster_last_seq(w->chain));
		return broken(w, w->cp.size ? w->cp.size : 1, what);
	}
	if (sodium_memcmp(w->cp.head_hash, w->prev, 32) == 0 &&
	    (!w->tree_on || sodium_memcmp(w->cp.root, root, 32) == 0))
		return 0;
	snprintf(what, sizeof(what),
	         "the broker signed a log of %llu records that ends "
	         "differently (this log was altered after it was signed)",
	         (unsigned long long)w->cp.size);
	return broken(w, w->cp.size ? w->cp.size : 1, what);
}

/* The log against an outside checkpoint it has reached (or fallen short
 * of, at its end): PROTOCOL.md 10.x, what a witness or client keeps. */
static int
anchor_holds(struct walk *w, bool reached)
{
	uint8_t root[32];
	unsigned long long n = w->anchor.size, have = w->res->records;

	w->anchor_pending = false;
	if (reached) {
		merkle_frontier_root(&w->tree, root);
		if (sodium_memcmp(w->anchor.root, root, 32) == 0) {
			w->res->anchor = AUDIT_ANCHOR_OK;
			return 0;
		}
		w->res->anchor = AUDIT_ANCHOR_DIFFERS;
		w->res->bad_seq = n ? n : 1;
		return error_set(w->err, KETEN_E_CHAIN,
		                 "the log is not an extension of the outside "
		                 "checkpoint of %llu records: its tree root at "
		                 "%llu records differs from the checkpoint's "
		                 "(records up to %llu were altered, removed or "
		                 "reordered after it was signed)",
		                 n, n, n);
	}
	w->res->anchor = AUDIT_ANCHOR_SHORTER;
	w->res->bad_seq = have + 1;
	return error_set(w->err, KETEN_E_CHAIN,
	                 "the log is not an extension of the outside "
	                 "checkpoint of %llu records: it holds only %llu "
	                 "(shorter: records removed at the end)",
	                 n, have);
}

/* The witnesses' checkpoints of the size the walk has just reached
 * against its tree; a fault is reported once the whole log verified. */
static void
witness_holds(struct walk *w)
{
	uint8_t root[32];

	merkle_frontier_root(&w->tree, root);
	audit_witness_reached(w->res, w->tree.size, w->prev, root);
	w->wit_next = audit_witness_next(w->res);
}

/* What the walk says when record_open refuses a record. */
static const char *const refusal[RECORD_N_FAULTS] = {
    [RECORD_UNDECODABLE] = "the envelope does not decode (altered)",
    [RECORD_UNKNOWN_SIGNER] = "signed by an agency not in the region config",
    [RECORD_BADSIG] = "the envelope signature does not verify (altered)",
    [RECORD_BADBODY] = "the body is invalid or its sender is not its signer",
    [RECORD_NOT_SENDER] = "the body is invalid or its sender is not its signer",
};

/* Keeps the changes of the roster record env at seq for the report. */
static int
events_add(struct walk *w, uint64_t seq, const uint8_t *env, size_t len)
{
	struct audit_result *res = w->res;
	struct envelope e;
	struct wire_roster wr;
	struct audit_roster_event *ev;
	struct keten_error why;

	/* roster_apply took it, so it decodes. */
	if (wire_envelope_decode(&e, env, len, &why) != KETEN_OK)
		return 0;
	if (wire_roster_decode(&wr, e.body, e.body_len, &why) != KETEN_OK) {
		wire_envelope_clear(&e);
		return 0;
	}
	ev = realloc(res->roster_events,
	             (res->n_roster_events + wr.n) * sizeof(*ev));
	if (ev == NULL) {
		wire_roster_clear(&wr);
		wire_envelope_clear(&e);
		return error_set(w->err, KETEN_E_NOMEM,
		                 "out of memory keeping the roster history");
	}
	res->roster_events = ev;
	for (size_t i = 0; i < wr.n; i++) {
		ev = &res->roster_events[res->n_roster_events++];
		ev->seq = seq;
		ev->change = wr.changes[i];
		ev->change.rotation = NULL;
		ev->change.rotation_len = 0;
	}
	wire_roster_clear(&wr);
	wire_envelope_clear(&e);
	return 0;
}

/* A roster record at seq: applied to the chain's roster (the rules are
 * roster.c's); from N > 1, it must be one the given roster holds. */
static int
walk_roster_record(struct walk *w, uint64_t key, const struct record *r)
{
	struct keten_error why;
	char what[KETEN_ERROR_MAX + 64];
	const uint64_t *seqs;
	size_t n;

	if (w->chain == NULL) {
		n = w->given != NULL ? roster_records(w->given, &seqs) : 0;
		for (size_t i = 0; i < n; i++)
			if (seqs[i] == key)
				return 0;
		return broken(w, key,
		              "a roster record the roster given to this "
		              "replay does not hold (fetch the roster up to "
		              "it first)");
	}
	if (roster_apply(w->chain, key, r->received_at_us, r->envelope,
	                 r->envelope_len, &why) != KETEN_OK) {
		snprintf(what, sizeof(what),
		         "a roster record the roster's rules refuse: %s",
		         why.message);
		return broken(w, key, what);
	}
	return events_add(w, key, r->envelope, r->envelope_len);
}

/* Why a record the chain's roster r gave a key for does not verify: a
 * key that a roster record had replaced before it (named), or altered. */
static int
badsig(struct walk *w, uint64_t key, const struct roster *r,
       const struct signed_record *o, const struct record *rec)
{
	const struct roster_member *m = roster_member_find(r, o->signer);
	char what[KETEN_ERROR_MAX + 64];

	for (size_t i = 0; m != NULL && i < m->n_keysets; i++) {
		const struct roster_keyset *ks = m->keysets[i];
		struct agency a = m->now;
		struct record_roster one = {.find = onekey_find, .arg = &a};
		if (ks->until_seq == 0 || ks->until_seq >= key)
			continue;
		memcpy(a.sign_pk, ks->keys.sign, 32);
		if (record_verify(&one, key, rec->envelope,
		                  rec->envelope_len) != RECORD_SIG_GOOD)
			continue;
		snprintf(what, sizeof(what),
		         "signed with %s's key that roster record %llu "
		         "replaced (a replaced key signs nothing after its "
		         "rotation)",
		         o->signer, (unsigned long long)ks->until_seq);
		return broken(w, key, what);
	}
	return broken(w, key,
	              "the envelope signature does not verify with "
	              "its signer's key in force (altered)");
}

/* A record record_open refused: the sentence for it. */
static int
refused(struct walk *w, uint64_t key, const struct signed_record *o,
        const struct record *rec, const struct keten_error *why)
{
	const struct roster *r = walk_roster(w);
	char what[KETEN_ERROR_MAX + KETEN_ID_MAX + 64];

	if (r == NULL)
		return broken(w, key, refusal[o->fault]);
	if (o->fault == RECORD_UNKNOWN_SIGNER) {
		snprintf(what, sizeof(what),
		         "signed by '%s', which has no key in force here: %s",
		         o->signer, why->message);
		return broken(w, key, what);
	}
	if (o->fault == RECORD_BADSIG)
		return badsig(w, key, r, o, rec);
	return broken(w, key, refusal[o->fault]);
}

/* A record signed with a key the chain later revoked, at or after the
 * stated compromise: listed for review. */
static int
review_add(struct walk *w, uint64_t key, const char *signer,
           const uint8_t pk[32], int64_t at_us)
{
	struct audit_result *res = w->res;
	const struct roster_keyset *ks = roster_keyset_of(w->given, signer, pk);
	struct audit_review *v;

	if (ks == NULL || ks->revoked_seq == 0 || at_us < ks->compromised_at_us)
		return 0;
	res->n_review_all++;
	if (res->n_review == AUDIT_REVIEW_MAX)
		return 0;
	if (res->review == NULL &&
	    (res->review = calloc(AUDIT_REVIEW_MAX, sizeof(*v))) == NULL)
		return error_set(w->err, KETEN_E_NOMEM,
		                 "out of memory listing records to review");
	v = &res->review[res->n_review++];
	v->seq = key;
	snprintf(v->signer, sizeof(v->signer), "%s", signer);
	v->received_at_us = at_us;
	v->revoked_seq = ks->revoked_seq;
	v->compromised_at_us = ks->compromised_at_us;
	snprintf(v->reason, sizeof(v->reason), "%s", ks->reason);
	return 0;
}

/* pre_pk: the key the verify threads checked sig with (NULL: none). */
static int
check_record_pre(struct walk *w, uint64_t key, const uint8_t *val, size_t len,
                 enum record_sig sig, const uint8_t *pre_pk)
{
	uint64_t expect = w->res->records + 1;
	struct record r;
	struct signed_record o;
	const struct body *b = &o.body;
	const struct roster *ro = walk_roster(w);
	uint8_t used[32] = {0};
	struct capture cap = {.pk = used};
	struct record_roster door = {.find = capture_find, .arg = &cap};
	struct keten_error why;
	bool is_roster = false;
	int bad = 0, rc;

	if (key != expect)
		return broken(w, expect,
		              key > expect
		                  ? "missing: the log skips from the record "
		                    "before it to a later one (record removed)"
		                  : "the log's keys are out of order");
	if (chain_record_decode(&r, val, len) != 0)
		return broken(w, key, "too short to be a record (altered)");
	if (r.seq != key)
		return broken(
		    w, key,
		    "stored under the wrong sequence number (records moved "
		    "or swapped)");
	if (w->trust_first) { /* the stream's first link, on trust */
		memcpy(w->prev, r.prev_hash, 32);
		w->trust_first = false;
	}
	if (sodium_memcmp(r.prev_hash, w->prev, 32) != 0)
		return broken(
		    w, key == 1 ? 1 : key - 1,
		    key == 1 ? "does not start from this region's genesis hash"
		             : "its hash differs from the prev_hash the next "
		               "record links to (this record or the next "
		               "was altered, removed or reordered)");
	cap.inner = ro != NULL ? roster_record_roster(ro) : w->roster;
	rc = record_open(&o, &door, key, r.envelope, r.envelope_len, sig, &why);
	/* The verify threads ran ahead with a roster that may not have
	 * known this record's key in force: then check it here. */
	if (sig != RECORD_SIG_CHECK && o.agency != NULL && pre_pk != NULL &&
	    sodium_memcmp(used, pre_pk, 32) != 0)
		rc = record_open(&o, &door, key, r.envelope, r.envelope_len,
		                 RECORD_SIG_CHECK, &why);
	if (rc == KETEN_E_UNKNOWN_TYPE && o.fault == RECORD_UNDECODABLE &&
	    (o.type == KETEN_MSG_ROSTER || o.type == KETEN_MSG_ROTATION)) {
		if ((bad = walk_roster_record(w, key, &r)) != 0)
			return bad;
		is_roster = true;
	} else if (rc != KETEN_OK) {
		return refused(w, key, &o, &r, &why);
	} else if (w->review_on && (bad = review_add(w, key, o.signer, used,
	                                             r.received_at_us)) != 0) {
		return bad;
	}
	if (!is_roster) {
		uint64_t first = seen_add(w, b->h.message_id, key);
		char what[128];
		if (first == UINT64_MAX)
			return error_set(w->err, KETEN_E_NOMEM,
			                 "out of memory checking message ids");
		if (first != 0) {
			snprintf(what, sizeof(what),
			         "repeats the message already recorded as "
			         "record %llu (a message is recorded once)",
			         (unsigned long long)first);
			return broken(w, key, what);
		}
	}
	if (!is_roster && w->cases_on &&
	    (bad = replay(w, key, r.received_at_us, b)) != 0)
		return bad;
	chain_record_hash(w->prev, val, len);
	w->res->records = key;
	if (w->tree_on) {
		uint8_t leaf[32];
		merkle_leaf(leaf, w->prev);
		if (merkle_frontier_push(&w->tree, leaf, NULL, NULL) != 0)
			return broken(w, key, "the log is too long for a tree");
	}
	if (w->tree_on && key == w->wit_next)
		witness_holds(w);
	if (w->cp_pending && key == w->cp.size && (bad = cp_holds(w)) != 0)
		return bad;
	if (w->anchor_pending && key == w->anchor.size &&
	    (bad = anchor_holds(w, true)) != 0)
		return bad;
	if (w->info != NULL) {
		struct audit_info *i = w->info;
		i->seq = key;
		i->received_at_us = r.received_at_us;
		memcpy(i->prev_hash, r.prev_hash, 32);
		memcpy(i->record_hash, w->prev, 32);
		if (is_roster) { /* the broker's: no case, no message */
			memset(i->case_id, 0, KETEN_CASE_ID_LEN);
			memset(i->message_id, 0, KETEN_MSG_ID_LEN);
			i->type = KETEN_MSG_ROSTER;
			snprintf(i->sender, sizeof(i->sender), "%s",
			         WIRE_BROKER_ID);
			i->recipient[0] = '\0';
			i->sent_at_us = r.received_at_us;
			return 0;
		}
		i->type = b->type;
		snprintf(i->sender, sizeof(i->sender), "%s", b->h.sender);
		snprintf(i->recipient, sizeof(i->recipient), "%s",
		         b->h.recipient);
		memcpy(i->case_id, b->h.case_id, KETEN_CASE_ID_LEN);
		memcpy(i->message_id, b->h.message_id, KETEN_MSG_ID_LEN);
		i->sent_at_us = b->h.sent_at_us;
	}
	return 0;
}

static int
check_record(void *arg, uint64_t key, const uint8_t *val, size_t len)
{
	return check_record_pre(arg, key, val, len, RECORD_SIG_CHECK, NULL);
}

/*
 * The offline audit's signature checks run ahead of the walk on every core
 * (Ed25519 verify is nearly all of its cost): records are gathered in
 * chunks, verify threads check the signatures of one chunk while the walk
 * does everything else, in order, for the chunk before. Only the signature
 * result crosses over; every other check stays in check_record_pre.
 */
#define PAR_CHUNK   1024
#define PAR_THREADS 64

struct slot {
	uint64_t key;
	const uint8_t *val; /* in the walk's snapshot, valid until its end */
	size_t len;
	uint8_t pre;
	uint8_t pk[32]; /* the signing key pre was checked with */
};

struct par {
	struct walk *w;
	struct slot *buf[2];
	size_t n[2];
	int fill;  /* the buffer being filled; the other is the work */
	bool busy; /* the verify threads have the other buffer */
	pthread_t th[PAR_THREADS];
	unsigned n_threads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;      /* bumped for each chunk handed out */
	unsigned finished; /* threads done with this generation */
	bool quit;
	atomic_size_t next; /* the next slot of the work to claim */
};

/* The signature, checked ahead of the walk with the walk's given roster
 * (the pre-pass's: never written while they run) or the config's: a
 * record_sig, as a byte, and in pk the key it used. */
static uint8_t
presign(const struct walk *w, const uint8_t *val, size_t len, uint8_t pk[32])
{
	struct record r;
	struct capture cap = {.inner = w->roster, .pk = pk};
	struct record_roster door = {.find = capture_find, .arg = &cap};

	if (chain_record_decode(&r, val, len) != 0)
		return RECORD_SIG_CHECK; /* the walk says why */
	if (w->given != NULL && roster_last_seq(w->given) > 0)
		cap.inner = roster_record_roster(w->given);
	return (uint8_t)record_verify(&door, r.seq, r.envelope, r.envelope_len);
}

static void *
par_thread(void *arg)
{
	struct par *p = arg;
	uint64_t seen = 0;

	for (;;) {
		struct slot *work;
		size_t n, i;

		pthread_mutex_lock(&p->mu);
		while (!p->quit && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		work = p->buf[!p->fill];
		n = p->n[!p->fill];
		pthread_mutex_unlock(&p->mu);
		while ((i = atomic_fetch_add(&p->next, 1)) < n)
			work[i].pre =
			    presign(p->w, work[i].val, work[i].len, work[i].pk);
		pthread_mutex_lock(&p->mu);
		if (++p->finished == p->n_threads)
			pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

/* Waits until the verify threads are done with the work buffer. */
static void
par_wait(struct par *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->busy && p->finished < p->n_threads)
		pthread_cond_wait(&p->done, &p->mu);
	p->busy = false;
	pthread_mutex_unlock(&p->mu);
}

/* Walks the verified work buffer, in order. */
static int
par_walk(struct par *p, int b)
{
	for (size_t i = 0; i < p->n[b]; i++) {
		const struct slot *s = &p->buf[b][i];
		int rc = check_record_pre(p->w, s->key, s->val, s->len,
		                          (enum record_sig)s->pre, s->pk);
		if (rc != 0)
			return rc;
	}
	p->n[b] = 0;
	return 0;
}

/* The filled buffer goes to the verify threads; the one they verified
 * before is walked meanwhile. */
static int
par_rotate(struct par *p)
{
	int verified;

	par_wait(p);
	verified = !p->fill;
	p->fill = verified; /* fill the walked one next... */
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->next, 0);
	p->finished = 0;
	p->busy = p->n[!p->fill] > 0;
	if (p->busy) { /* ...while they verify the one just filled */
		p->gen++;
		pthread_cond_broadcast(&p->go);
	}
	pthread_mutex_unlock(&p->mu);
	return par_walk(p, verified);
}

static int
par_record(void *arg, uint64_t key, const uint8_t *val, size_t len)
{
	struct par *p = arg;
	struct slot *s = &p->buf[p->fill][p->n[p->fill]++];

	s->key = key;
	s->val = val;
	s->len = len;
	s->pre = RECORD_SIG_CHECK;
	memset(s->pk, 0, sizeof(s->pk));
	return p->n[p->fill] == PAR_CHUNK ? par_rotate(p) : 0;
}

/* The end of the walk, still in its snapshot: the last two chunks; or,
 * if the walk failed, only the verify threads' last pointers into it. */
static int
par_end(void *arg, int status)
{
	struct par *p = arg;
	int rc;

	if (status != 0) {
		par_wait(p);
		return status;
	}
	rc = par_rotate(p); /* hands out the partial chunk */
	par_wait(p);
	if (rc == 0)
		rc = par_walk(p, !p->fill);
	return rc;
}

static int
par_start(struct par *p, struct walk *w)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(p, 0, sizeof(*p));
	p->w = w;
	p->n_threads = cpus < 1             ? 1
	               : cpus > PAR_THREADS ? PAR_THREADS
	                                    : (unsigned)cpus;
	if ((p->buf[0] = calloc(PAR_CHUNK, sizeof(struct slot))) == NULL ||
	    (p->buf[1] = calloc(PAR_CHUNK, sizeof(struct slot))) == NULL) {
		free(p->buf[0]);
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (unsigned i = 0; i < p->n_threads; i++)
		if (pthread_create(&p->th[i], NULL, par_thread, p) != 0) {
			p->n_threads = i; /* fewer threads will do */
			break;
		}
	if (p->n_threads == 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->go);
		pthread_cond_destroy(&p->done);
		free(p->buf[0]);
		free(p->buf[1]);
		return -1;
	}
	return 0;
}

static void
par_stop(struct par *p)
{
	par_wait(p);
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->buf[0]);
	free(p->buf[1]);
}

int
audit_stream_new(struct audit_stream **out, const struct config *c,
                 uint64_t from_seq, const uint8_t *prev_hash,
                 struct keten_error *err)
{
	struct audit_stream *st = calloc(1, sizeof(*st));
	struct walk *w;

	if (st == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	w = &st->w;
	w->c = c;
	w->roster = record_roster_config(c);
	w->res = &w->own;
	if (from_seq <= 1) {
		int rc;
		chain_genesis(w->prev, c->region);
		if ((rc = roster_new(&w->own.roster, c->region, err)) !=
		    KETEN_OK) {
			free(st);
			return rc;
		}
		w->chain = w->own.roster;
		if ((w->book = casebook_new()) == NULL) {
			roster_destroy(&w->own.roster);
			free(st);
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		}
		w->cases_on = true;
		w->tree_on = true;
	} else {
		w->own.records = from_seq - 1;
		if (prev_hash != NULL)
			memcpy(w->prev, prev_hash, 32);
		else
			w->trust_first = true;
	}
	randombytes_buf(w->key, sizeof(w->key));
	*out = st;
	return KETEN_OK;
}

int
audit_stream_record(struct audit_stream *st, struct audit_info *info,
                    uint64_t seq, const uint8_t *rec, size_t len,
                    struct keten_error *err)
{
	struct walk *w = &st->w;
	int rc;

	w->err = err;
	w->info = info;
	rc = check_record(w, seq, rec, len);
	w->info = NULL;
	return rc == 0 ? KETEN_OK : rc;
}

int
audit_stream_checkpoint(struct audit_stream *st,
                        const struct keten_checkpoint *cp,
                        struct keten_error *err)
{
	struct walk *w = &st->w;
	/* From record 1 the key for a size the walk has not reached is
	 * not known yet: a roster record before it may rotate it. */
	bool ahead = w->chain != NULL && cp->size > w->own.records;
	int rc;

	w->err = err;
	if (!ahead &&
	    (rc = cp_signed(w->c, walk_roster(w), cp, "the checkpoint", false,
	                    err)) != KETEN_OK)
		return rc;
	/* Passed, or at a record whose hash the stream does not know (a
	 * replay from N > 1 with nothing yet): its signature is all that
	 * can be checked. */
	if (cp->size < w->own.records ||
	    (cp->size == w->own.records && w->trust_first))
		return KETEN_OK;
	w->cp = *cp;
	w->cp_pending = true;
	w->cp_unsigned = ahead;
	if (cp->size == w->own.records && (rc = cp_holds(w)) != 0)
		return rc;
	return KETEN_OK;
}

/* Whether r revokes any key set: then the walk lists what it signed. */
static bool
any_revoked(const struct roster *r)
{
	for (size_t i = 0; i < roster_members(r); i++) {
		const struct roster_member *m = roster_member(r, i);
		for (size_t k = 0; k < m->n_keysets; k++)
			if (m->keysets[k]->revoked_seq != 0)
				return true;
	}
	return false;
}

void
audit_stream_roster(struct audit_stream *st, const struct roster *r)
{
	st->w.given = r;
	st->w.review_on = r != NULL && any_revoked(r);
}

int
audit_stream_end(struct audit_stream *st, struct keten_error *err)
{
	const struct roster *r = walk_roster(&st->w);

	if (r != NULL && !roster_broker_trusted(r, st->w.c->broker_sign_pk))
		return error_set(
		    err, KETEN_E_CHAIN,
		    "the region config's broker key is not one the "
		    "log ever recorded");
	return KETEN_OK;
}

const struct audit_result *
audit_stream_result(const struct audit_stream *st)
{
	return &st->w.own;
}

uint64_t
audit_stream_last(const struct audit_stream *st, uint8_t hash[32])
{
	memcpy(hash, st->w.prev, 32);
	return st->w.own.records;
}

uint64_t
audit_stream_bad(const struct audit_stream *st)
{
	return st->w.own.bad_seq;
}

void
audit_stream_free(struct audit_stream **st)
{
	if (st == NULL || *st == NULL)
		return;
	casebook_free(&(*st)->w.book);
	audit_result_free(&(*st)->w.own);
	free((*st)->w.ids);
	free(*st);
	*st = NULL;
}

/* The pre-pass: every roster record of the log applied to r, in a read
 * snapshot of its own, with no chain or signature check of the other
 * records (their envelopes are decoded, nothing more). It stops at the
 * first record that is not whole or a roster record the rules refuse:
 * the walk, which is authoritative, will say why. */
static int
prepass_record(void *arg, uint64_t key, const uint8_t *val, size_t len)
{
	struct record rec;
	struct keten_error why;
	int rc;

	if (chain_record_decode(&rec, val, len) != 0 || rec.seq != key)
		return 1;
	rc = roster_apply(arg, key, rec.received_at_us, rec.envelope,
	                  rec.envelope_len, &why);
	return rc == KETEN_OK || rc == KETEN_E_UNKNOWN_TYPE ? 0 : 1;
}

int
audit_prepass(struct roster **out, struct ledger *l, const char *region,
              struct keten_error *err)
{
	struct keten_error why;
	uint64_t seq;
	uint8_t hash[32];
	char found[KETEN_ID_MAX + 1];
	int rc;

	if ((rc = roster_new(out, region, err)) != KETEN_OK)
		return rc;
	/* A fault stops it with the roster so far: the walk, which is
	 * authoritative, will say what is wrong. */
	rc = ledger_walk(l, prepass_record, *out, &seq, hash, found, &why);
	return KETEN_OK;
}

/* The stored checkpoint, parsed with the broker key whose signature line
 * it carries: the config's, or any of r's broker key history (newest
 * first; the config key's sentence if none parses it); then its signature
 * with the key in force at its size, and (trust) the config's key held to
 * r's history. */
static int
stored_checkpoint(struct keten_checkpoint *cp, bool *has, struct ledger *l,
                  const struct config *c, const struct roster *r, bool start,
                  bool trust, struct keten_error *err)
{
	struct roster_keyset *const *ks;
	size_t n = r != NULL ? roster_broker_keys(r, &ks) : 0;
	struct keten_error again;
	struct note_key k;
	int rc;

	rc = ledger_checkpoint(l, cp, has, &c->broker_key, start, err);
	while (rc == KETEN_E_CHAIN && n-- > 0)
		if (note_broker_key(&k, c->region, ks[n]->keys.sign) == 0 &&
		    ledger_checkpoint(l, cp, has, &k, start, &again) ==
		        KETEN_OK) {
			error_clear(err);
			rc = KETEN_OK;
		}
	if (rc == KETEN_OK && *has)
		rc = cp_signed(c, r, cp, "the stored checkpoint", trust, err);
	return rc;
}

int
audit_checkpoint_load(struct keten_checkpoint *cp, bool *has, struct ledger *l,
                      const struct config *c, const struct roster *r,
                      struct keten_error *err)
{
	return stored_checkpoint(cp, has, l, c, r, false, true, err);
}

/* Once the walk verified: drops what the chain's roster does not revoke
 * (a revocation the pre-pass saw beyond the walk's snapshot). */
static void
review_end(struct audit_result *res)
{
	size_t n = 0;

	for (size_t i = 0; i < res->n_review; i++) {
		const struct audit_review *v = &res->review[i];
		const struct roster_member *m =
		    roster_member_find(res->roster, v->signer);
		bool held = false;
		for (size_t k = 0; m != NULL && k < m->n_keysets; k++)
			held |= m->keysets[k]->revoked_seq == v->revoked_seq &&
			        v->revoked_seq <= res->records;
		if (held)
			res->review[n++] = *v;
		else
			res->n_review_all--;
	}
	res->n_review = n;
}

/* audit_verify_dir_from; start: ketend's (audit_verify_dir_start), which
 * leaves a checkpoint of an older schema to the upgrade and skips witness
 * entries that prove nothing. */
static int
verify_dir_in(struct audit_result *res, const struct config *c, const char *dir,
              const struct keten_checkpoint *anchor, bool start,
              struct roster **prep, struct keten_error *err)
{
	struct walk w = {
	    .c = c, .roster = record_roster_config(c), .res = res, .err = err};
	struct par par;
	struct ledger *l = NULL;
	struct roster *pre;
	uint64_t meta_seq;
	uint8_t meta_hash[32];
	char region[KETEN_ID_MAX + 1];
	int rc;

	memset(res, 0, sizeof(*res));
	/* First the file's pages, in a child: a damaged page must not
	 * crash the audit, or the broker that runs it at start. */
	if ((rc = structwalk_check(dir, err)) != KETEN_OK ||
	    (rc = ledger_open(&l, dir, err)) != KETEN_OK)
		return rc;
	/* The chain's roster, built by the walk; and the pre-pass's, for
	 * the verify threads, records before the first roster record, and
	 * the checkpoints' keys before the walk reaches them. */
	if ((rc = roster_new(&res->roster, c->region, err)) != KETEN_OK ||
	    (rc = audit_prepass(prep, l, c->region, err)) != KETEN_OK) {
		ledger_close(&l);
		return rc;
	}
	pre = *prep;
	w.chain = res->roster;
	w.given = pre;
	w.review_on = any_revoked(pre);
	chain_genesis(w.prev, c->region);
	w.cases_on = true;
	w.tree_on = true;
	randombytes_buf(w.key, sizeof(w.key));
	if ((rc = stored_checkpoint(&w.cp, &w.cp_pending, l, c, pre, start,
	                            !start, err)) != KETEN_OK) {
		ledger_close(&l);
		if (rc == KETEN_E_CHAIN && w.cp_pending)
			res->bad_seq = w.cp.size ? w.cp.size : 1;
		return rc;
	}
	res->has_cp = w.cp_pending;
	res->cp = w.cp;
	if ((rc = audit_witness_load(res, c, pre, l, err)) != KETEN_OK) {
		ledger_close(&l);
		return rc;
	}
	if ((w.wit_next = audit_witness_next(res)) == 0)
		witness_holds(&w); /* the empty log's: genesis, empty tree */
	/* A checkpoint of the empty log: genesis and the empty tree, now,
	 * since the walk never reaches a record 0. */
	if (w.cp_pending && w.cp.size == 0 && (rc = cp_holds(&w)) != 0) {
		ledger_close(&l);
		return rc;
	}
	if (anchor != NULL) {
		w.anchor = *anchor;
		w.anchor_pending = true;
		if (anchor->size == 0 && (rc = anchor_holds(&w, true)) != 0) {
			ledger_close(&l);
			return rc;
		}
	}
	if ((w.book = casebook_new()) == NULL) {
		ledger_close(&l);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	if (par_start(&par, &w) == 0) {
		rc = ledger_walk_end(l, par_record, par_end, &par, &meta_seq,
		                     meta_hash, region, err);
		par_stop(&par);
	} else { /* no threads: one record at a time */
		rc = ledger_walk(l, check_record, &w, &meta_seq, meta_hash,
		                 region, err);
	}
	ledger_close(&l);
	/* Hand the cases over, in the order they were opened, even on
	 * failure. */
	free(w.ids);
	res->cases = w.book;
	res->n_cases = casebook_count(w.book);
	if (rc != KETEN_OK)
		return rc;
	if (strcmp(region, c->region) != 0)
		return error_set(
		    err, KETEN_E_CHAIN,
		    "the data directory belongs to region '%s', the config to "
		    "'%s'",
		    region, c->region);
	res->head_seq = res->records;
	memcpy(res->head_hash, w.prev, 32);
	if (w.cp_pending) {
		res->bad_seq = res->records + 1;
		return error_set(
		    err, KETEN_E_CHAIN,
		    "record %llu: the broker signed a log of %llu records, "
		    "but this one ends at %llu (records removed at the end)",
		    (unsigned long long)res->bad_seq,
		    (unsigned long long)w.cp.size,
		    (unsigned long long)res->records);
	}
	if (w.anchor_pending)
		return anchor_holds(&w, false);
	/* No head stored yet: a broker that has recorded nothing. */
	if (meta_seq == 0 && res->records == 0)
		return audit_witness_end(res, c, start, err);
	if (meta_seq != res->records ||
	    sodium_memcmp(meta_hash, w.prev, 32) != 0) {
		res->bad_seq =
		    res->records < meta_seq ? res->records + 1 : meta_seq;
		if (res->bad_seq == 0)
			res->bad_seq = 1;
		if (meta_seq < res->records)
			return error_set(
			    err, KETEN_E_CHAIN,
			    "record %llu: the broker's recorded head is record "
			    "%llu, behind the log's end at %llu (a head rolled "
			    "back: written by another broker on the same "
			    "directory, or restored from an older copy)",
			    (unsigned long long)res->bad_seq,
			    (unsigned long long)meta_seq,
			    (unsigned long long)res->records);
		if (meta_seq == res->records)
			return error_set(
			    err, KETEN_E_CHAIN,
			    "record %llu: the broker's recorded head has the "
			    "log's length but another hash (a head from "
			    "another copy of the log, or this record altered)",
			    (unsigned long long)res->bad_seq);
		return error_set(
		    err, KETEN_E_CHAIN,
		    "record %llu: the broker's recorded head is record %llu "
		    "but the log ends at %llu (records removed at the end)",
		    (unsigned long long)res->bad_seq,
		    (unsigned long long)meta_seq,
		    (unsigned long long)res->records);
	}
	return audit_witness_end(res, c, start, err);
}

/* verify_dir_in, then what only the whole walk knows: the config's
 * broker key held to the chain's history (not at ketend's start: it may
 * be about to record a rotation to it, which roster_apply judges), the
 * review list held to the chain's revocations, and whether the log had
 * a roster at all. */
static int
verify_dir(struct audit_result *res, const struct config *c, const char *dir,
           const struct keten_checkpoint *anchor, bool start,
           struct keten_error *err)
{
	struct roster *pre = NULL;
	int rc = verify_dir_in(res, c, dir, anchor, start, &pre, err);

	roster_destroy(&pre);
	if (res->roster != NULL && roster_last_seq(res->roster) == 0)
		roster_destroy(&res->roster);
	res->roster_none = res->records > 0 && res->roster == NULL;
	if (rc != KETEN_OK)
		return rc;
	if (res->roster != NULL)
		review_end(res);
	if (!start && res->roster != NULL &&
	    !roster_broker_trusted(res->roster, c->broker_sign_pk))
		return error_set(
		    err, KETEN_E_CHAIN,
		    "the region config's broker key is not one the "
		    "log ever recorded");
	return KETEN_OK;
}

int
audit_verify_dir(struct audit_result *res, const struct config *c,
                 const char *dir, struct keten_error *err)
{
	return verify_dir(res, c, dir, NULL, false, err);
}

int
audit_verify_dir_from(struct audit_result *res, const struct config *c,
                      const char *dir, const struct keten_checkpoint *anchor,
                      struct keten_error *err)
{
	return verify_dir(res, c, dir, anchor, false, err);
}

int
audit_verify_dir_start(struct audit_result *res, const struct config *c,
                       const char *dir, struct keten_error *err)
{
	return verify_dir(res, c, dir, NULL, true, err);
}
