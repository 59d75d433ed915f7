/*
 * Proof bundles of one record (bundle.h; docs/PROTOCOL.md 10.7): the
 * inclusion proof is recomputed from the log's own bytes, never taken from
 * the stored tree, and every bundle is checked before it leaves. Reads
 * the data directory only through ledger.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit_witness.h"
#include "bundle.h"
#include "chain.h"
#include "ledger.h"
#include "merkle.h"
#include "note.h"
#include "record.h"

/*
 * The complete subtrees the inclusion proof needs, found by asking
 * merkle_path once with a recorder, then filled in by one walk of the log
 * as the tree grows. A proof needs at most one subtree per level for each
 * of its siblings, so MERKLE_PATH_MAX per level.
 */
struct want_level {
	size_t n;
	uint64_t index[MERKLE_PATH_MAX];
	uint8_t hash[MERKLE_PATH_MAX][32];
	bool got[MERKLE_PATH_MAX];
};

struct build {
	uint64_t seq, size;      /* the record, the checkpoint's size */
	struct want_level *want; /* [MERKLE_LEVELS] */
	struct merkle_frontier tree;
	uint8_t *rec; /* record seq's stored bytes, malloc'd */
	size_t rec_len;
};

/* A non-keten value: the walk is past the checkpoint's size. */
#define BUILD_DONE (-1)

static int
want_note(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct want_level *l = &((struct build *)arg)->want[level];

	memset(out, 0, 32);
	for (size_t i = 0; i < l->n; i++)
		if (l->index[i] == index)
			return 0;
	if (l->n == MERKLE_PATH_MAX)
		return -1;
	l->index[l->n++] = index;
	return 0;
}

static int
want_give(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	const struct want_level *l = &((struct build *)arg)->want[level];

	for (size_t i = 0; i < l->n; i++)
		if (l->index[i] == index && l->got[i]) {
			memcpy(out, l->hash[i], 32);
			return 0;
		}
	return -1;
}

static int
want_done(void *arg, unsigned level, uint64_t index, const uint8_t hash[32])
{
	struct want_level *l = &((struct build *)arg)->want[level];

	for (size_t i = 0; i < l->n; i++)
		if (l->index[i] == index) {
			memcpy(l->hash[i], hash, 32);
			l->got[i] = true;
		}
	return 0;
}

static int
build_record(void *arg, uint64_t key, const uint8_t *val, size_t len)
{
	struct build *b = arg;
	uint8_t h[32], leaf[32];

	if (key > b->size)
		return BUILD_DONE;
	if (key == b->seq) {
		if ((b->rec = malloc(len ? len : 1)) == NULL)
			return KETEN_E_NOMEM;
		memcpy(b->rec, val, len);
		b->rec_len = len;
	}
	chain_record_hash(h, val, len);
	merkle_leaf(leaf, h);
	return merkle_frontier_push(&b->tree, leaf, want_done, b);
}

/* The checkpoint's note: the broker's signature line, then the
 * cosignature lines of the witnesses that signed this very note, from the
 * directory's witness database. Its length, 0 if it cannot be written. */
static size_t
bundle_note(char *out, size_t cap, const struct config *c, const char *dir,
            const struct keten_checkpoint *cp)
{
	size_t len = note_checkpoint_format(out, cap, &c->broker_key, cp);

	return len ? audit_witness_lines(out, len, cap, c, dir) : 0;
}

static bool
newer(const struct keten_checkpoint *a, const struct keten_checkpoint *than)
{
	return than == NULL || a->size > than->size ||
	       (a->size == than->size && a->signed_at_us > than->signed_at_us);
}

enum bundle_source
bundle_pick(struct keten_checkpoint *cp, const struct audit_result *res,
            const struct config *c, uint64_t seq)
{
	const struct keten_checkpoint *quorum = NULL, *any = NULL;

	for (size_t i = 0; i < res->n_cosigned; i++) {
		const struct keten_checkpoint *e = &res->cosigned[i].cp;
		unsigned n = 0;
		if (res->cosigned[i].state != AUDIT_COSIG_HELD || e->size < seq)
			continue;
		/* The bundle carries the cosignatures of this very note. */
		for (size_t j = 0; j < res->n_cosigned; j++)
			n += res->cosigned[j].state == AUDIT_COSIG_HELD &&
			     note_checkpoint_same(e, &res->cosigned[j].cp);
		if (c->witness_quorum > 0 && n >= c->witness_quorum &&
		    newer(e, quorum))
			quorum = e;
		if (newer(e, any))
			any = e;
	}
	*cp = quorum ? *quorum : any ? *any : res->cp;
	return quorum ? BUNDLE_QUORUM : any ? BUNDLE_COSIGNED : BUNDLE_STORED;
}

int
bundle_build(char **out, size_t *len, const struct config *c, const char *dir,
             const struct keten_checkpoint *cp, uint64_t seq,
             struct keten_error *err)
{
	struct build b = {.seq = seq, .size = cp->size};
	struct note_proof p = {0};
	struct ledger *l = NULL;
	struct bundle_info info;
	char note[NOTE_MAX], region[KETEN_ID_MAX + 1];
	uint8_t head[32];
	uint64_t head_seq;
	int rc;

	*out = NULL;
	*len = 0;
	if (seq == 0 || seq > cp->size)
		return error_set(err, KETEN_E_USAGE,
		                 "record %llu is not in the checkpoint of %llu "
		                 "records",
		                 (unsigned long long)seq,
		                 (unsigned long long)cp->size);
	if ((b.want = calloc(MERKLE_LEVELS, sizeof(*b.want))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	if (merkle_path(p.path, &p.n_path, seq - 1, cp->size, want_note, &b) !=
	    0) {
		rc = error_set(err, KETEN_E_INTERNAL,
		               "the proof of record %llu needs too many "
		               "subtrees",
		               (unsigned long long)seq);
		goto done;
	}
	if ((rc = ledger_open(&l, dir, err)) != KETEN_OK)
		goto done;
	rc = ledger_walk(l, build_record, &b, &head_seq, head, region, err);
	ledger_close(&l);
	if (rc == BUILD_DONE)
		rc = KETEN_OK;
	if (rc == KETEN_E_NOMEM)
		error_set(err, rc, "out of memory");
	if (rc != KETEN_OK)
		goto done;
	if (b.rec == NULL || b.tree.size != cp->size ||
	    merkle_path(p.path, &p.n_path, seq - 1, cp->size, want_give, &b) !=
	        0) {
		rc = error_set(err, KETEN_E_CHAIN,
		               "the log no longer holds the %llu records of "
		               "the checkpoint",
		               (unsigned long long)cp->size);
		goto done;
	}
	p.extra = b.rec;
	p.extra_len = b.rec_len;
	p.index = seq - 1;
	p.note = note;
	if ((p.note_len = bundle_note(note, sizeof(note), c, dir, cp)) == 0) {
		rc = error_set(err, KETEN_E_INTERNAL,
		               "cannot write the checkpoint's note");
		goto done;
	}
	if ((rc = note_proof_format(out, len, &p)) != KETEN_OK) {
		error_set(err, rc, "cannot write the proof bundle");
		goto done;
	}
	/* What leaves must check: a log changed between the audit's walk
	 * and this one would not. */
	if ((rc = bundle_check(&info, c, *out, *len, err)) != KETEN_OK) {
		free(*out);
		*out = NULL;
		*len = 0;
		rc = KETEN_E_CHAIN;
	}
done:
	free(b.rec);
	free(b.want);
	return rc;
}

/* The witnesses the config names whose cosignature of the checkpoint
 * note verifies, in the config's order. */
static void
bundle_cosigners(struct bundle_info *out, const struct config *c,
                 const struct note *n)
{
	struct note_cosig cs;
	const struct note_sig *line;

	out->n_cosigners = 0;
	for (size_t i = 0;
	     i < c->n_witnesses && out->n_cosigners < BUNDLE_COSIGNERS_MAX; i++)
		if (audit_witness_cosig(&cs, &line, n, &c->witnesses[i]) == 0) {
			out->cosigner[out->n_cosigners] = line->name;
			out->cosigner_len[out->n_cosigners++] = line->name_len;
		}
}

static int
refuse(struct keten_error *err, const char *what)
{
	return error_set(err, KETEN_E_RECEIPT, "%s", what);
}

/* Fills out->rec from the opened record. */
static void
bundle_info_fill(struct audit_info *i, const struct record *r,
                 const struct signed_record *o, const uint8_t hash[32])
{
	const struct body *b = &o->body;

	memset(i, 0, sizeof(*i));
	i->seq = r->seq;
	i->received_at_us = r->received_at_us;
	i->sent_at_us = b->h.sent_at_us;
	memcpy(i->record_hash, hash, 32);
	memcpy(i->prev_hash, r->prev_hash, 32);
	i->type = b->type;
	snprintf(i->sender, sizeof(i->sender), "%s", b->h.sender);
	snprintf(i->recipient, sizeof(i->recipient), "%s", b->h.recipient);
	memcpy(i->case_id, b->h.case_id, KETEN_CASE_ID_LEN);
	memcpy(i->message_id, b->h.message_id, KETEN_MSG_ID_LEN);
}

int
bundle_check(struct bundle_info *out, const struct config *c, const char *buf,
             size_t len, struct keten_error *err)
{
	struct note_proof p;
	struct note n;
	struct record r;
	struct signed_record o;
	struct record_roster roster = record_roster_config(c);
	struct keten_error why;
	uint8_t *extra = NULL, hash[32], leaf[32];
	unsigned long long seq;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = note_proof_parse(&p, &extra, buf, len, &why);
	if (rc == KETEN_E_NOMEM)
		return error_set(err, rc, "out of memory");
	if (rc != KETEN_OK)
		return error_set(err, KETEN_E_RECEIPT,
		                 "not a c2sp.org/tlog-proof@v1 bundle: %s",
		                 why.message);
	seq = (unsigned long long)p.index + 1;
	if (extra == NULL) {
		rc = refuse(err, "the bundle carries no record (no extra "
		                 "line), so it proves nothing about one");
		goto done;
	}
	if (chain_record_decode(&r, extra, p.extra_len) != 0) {
		rc = refuse(err, "the extra line is not a stored record "
		                 "(PROTOCOL.md 9.1)");
		goto done;
	}
	if (r.seq != p.index + 1) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the record is number %llu but the bundle's "
		               "index %llu stands for record %llu",
		               (unsigned long long)r.seq,
		               (unsigned long long)p.index, seq);
		goto done;
	}
	if (note_checkpoint_parse(&out->cp, p.note, p.note_len, &c->broker_key,
	                          &why) != KETEN_OK) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the checkpoint is not one of region %s's "
		               "broker: %s",
		               c->region, why.message);
		goto done;
	}
	if (note_checkpoint_verify(&out->cp, &c->broker_key) != 0) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the checkpoint of %llu records is not signed "
		               "by the broker key in the region config",
		               (unsigned long long)out->cp.size);
		goto done;
	}
	chain_record_hash(hash, extra, p.extra_len);
	merkle_leaf(leaf, hash);
	if (p.index >= out->cp.size ||
	    merkle_verify(leaf, p.index, out->cp.size,
	                  (const uint8_t(*)[32])p.path, p.n_path,
	                  out->cp.root) != 0) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the inclusion proof does not lead from record "
		               "%llu to the root of the checkpoint of %llu "
		               "records (the record, a proof hash or the index "
		               "was altered)",
		               seq, (unsigned long long)out->cp.size);
		goto done;
	}
	if (record_open(&o, &roster, r.seq, r.envelope, r.envelope_len,
	                RECORD_SIG_CHECK, &why) != KETEN_OK) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "record %llu is in the signed log, but its "
		               "envelope does not open with the region "
		               "config's keys: %s",
		               seq, why.message);
		goto done;
	}
	bundle_info_fill(&out->rec, &r, &o, hash);
	if (note_split(&n, p.note, p.note_len, &why) == KETEN_OK)
		bundle_cosigners(out, c, &n);
	rc = KETEN_OK;
done:
	free(extra);
	return rc;
}
