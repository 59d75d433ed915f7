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
#include "roster.h"

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

/* One record to prove: its seq, the subtrees its proof needs, its stored
 * bytes (malloc'd) and, once the walk is done, its proof. */
struct proof {
	uint64_t seq;
	struct want_level *want; /* [MERKLE_LEVELS] */
	uint8_t *rec;
	size_t rec_len;
	size_t n_path;
	uint8_t path[MERKLE_PATH_MAX][32];
};

/* proofs[0] is the record's; the others the roster records' up to the
 * checkpoint's size (docs/PROTOCOL.md 10.7), in seq order. */
struct build {
	uint64_t size; /* the checkpoint's */
	struct proof *proofs;
	size_t n;
	struct merkle_frontier tree;
};

/* A non-keten value: the walk is past the checkpoint's size. */
#define BUILD_DONE (-1)

static int
want_note(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
	struct want_level *l = &((struct proof *)arg)->want[level];

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
	const struct want_level *l = &((struct proof *)arg)->want[level];

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
	const struct build *b = arg;

	for (size_t k = 0; k < b->n; k++) {
		struct want_level *l = &b->proofs[k].want[level];
		for (size_t i = 0; i < l->n; i++)
			if (l->index[i] == index) {
				memcpy(l->hash[i], hash, 32);
				l->got[i] = true;
			}
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
	for (size_t k = 0; k < b->n; k++) {
		struct proof *p = &b->proofs[k];
		if (key != p->seq || p->rec != NULL)
			continue;
		if ((p->rec = malloc(len ? len : 1)) == NULL)
			return KETEN_E_NOMEM;
		memcpy(p->rec, val, len);
		p->rec_len = len;
	}
	chain_record_hash(h, val, len);
	merkle_leaf(leaf, h);
	return merkle_frontier_push(&b->tree, leaf, want_done, b);
}

/* The checkpoint's note: the broker's signature line, then the
 * cosignature lines of the witnesses that signed this very note, from the
 * directory's witness database. Its length, 0 if it cannot be written. */
static size_t
bundle_note(char *out, size_t cap, const struct config *c,
            const struct roster *r, const char *dir,
            const struct keten_checkpoint *cp)
{
	const uint8_t *pk =
	    r != NULL ? roster_broker_key_for_size(r, cp->size) : NULL;
	struct note_key k = c->broker_key;
	size_t len;

	if (pk != NULL && note_broker_key(&k, c->region, pk) != 0)
		return 0;
	len = note_checkpoint_format(out, cap, &k, cp);
	return len ? audit_witness_lines(out, len, cap, c, r, dir) : 0;
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

/* be32 / be64 into p. */
static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
	return p + 4;
}

/*
 * The bundle's extra (docs/PROTOCOL.md 10.7): the record's stored bytes
 * alone when no roster record is at or below the checkpoint's size; else
 * be64 0, the form byte 1, be32 length and the record's bytes, be32 n,
 * and n times (be32 length, a roster record's stored bytes, one byte k,
 * its inclusion proof at the checkpoint's size: k hashes of 32 bytes).
 * *out is malloc'd.
 */
static int
extra_encode(uint8_t **out, size_t *len, const struct build *b)
{
	size_t n = 8 + 1 + 4 + b->proofs[0].rec_len + 4;
	uint8_t *p;

	if (b->n == 1) {
		*out = b->proofs[0].rec;
		*len = b->proofs[0].rec_len;
		return KETEN_OK;
	}
	for (size_t k = 1; k < b->n; k++)
		n += 4 + b->proofs[k].rec_len + 1 + 32 * b->proofs[k].n_path;
	if ((*out = p = malloc(n)) == NULL)
		return KETEN_E_NOMEM;
	memset(p, 0, 8);
	p[8] = 1;
	p = put32(p + 9, (uint32_t)b->proofs[0].rec_len);
	memcpy(p, b->proofs[0].rec, b->proofs[0].rec_len);
	p = put32(p + b->proofs[0].rec_len, (uint32_t)(b->n - 1));
	for (size_t k = 1; k < b->n; k++) {
		const struct proof *q = &b->proofs[k];
		p = put32(p, (uint32_t)q->rec_len);
		memcpy(p, q->rec, q->rec_len);
		p += q->rec_len;
		*p++ = (uint8_t)q->n_path;
		memcpy(p, q->path, 32 * q->n_path);
		p += 32 * q->n_path;
	}
	*len = n;
	return KETEN_OK;
}

static void
build_free(struct build *b)
{
	for (size_t k = 0; k < b->n; k++) {
		free(b->proofs[k].rec);
		free(b->proofs[k].want);
	}
	free(b->proofs);
}

/* The proofs to make: record seq's, and every roster record's of r up to
 * the checkpoint's size, each with the subtrees it needs noted. */
static int
build_plan(struct build *b, const struct roster *r, uint64_t seq,
           struct keten_error *err)
{
	const uint64_t *seqs = NULL;
	size_t n = r != NULL ? roster_records(r, &seqs) : 0, m = 1;

	while (n > 0 && seqs[n - 1] > b->size)
		n--;
	if ((b->proofs = calloc(n + 1, sizeof(*b->proofs))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	b->proofs[0].seq = seq;
	for (size_t i = 0; i < n; i++)
		b->proofs[m++].seq = seqs[i];
	b->n = m;
	for (size_t k = 0; k < b->n; k++) {
		struct proof *p = &b->proofs[k];
		if ((p->want = calloc(MERKLE_LEVELS, sizeof(*p->want))) == NULL)
			return error_set(err, KETEN_E_NOMEM, "out of memory");
		if (merkle_path(p->path, &p->n_path, p->seq - 1, b->size,
		                want_note, p) != 0)
			return error_set(err, KETEN_E_INTERNAL,
			                 "the proof of record %llu needs too "
			                 "many subtrees",
			                 (unsigned long long)p->seq);
	}
	return KETEN_OK;
}

int
bundle_build(char **out, size_t *len, const struct config *c,
             const struct roster *r, const char *dir,
             const struct keten_checkpoint *cp, uint64_t seq,
             struct keten_error *err)
{
	struct build b = {.size = cp->size};
	struct note_proof p = {0};
	struct ledger *l = NULL;
	struct bundle_info info;
	char note[NOTE_MAX], region[KETEN_ID_MAX + 1];
	uint8_t head[32], *extra = NULL;
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
	if ((rc = build_plan(&b, r, seq, err)) != KETEN_OK)
		goto done;
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
	for (size_t k = 0; k < b.n; k++)
		if (b.proofs[k].rec == NULL || b.tree.size != cp->size ||
		    merkle_path(b.proofs[k].path, &b.proofs[k].n_path,
		                b.proofs[k].seq - 1, cp->size, want_give,
		                &b.proofs[k]) != 0) {
			rc = error_set(err, KETEN_E_CHAIN,
			               "the log no longer holds the %llu "
			               "records of the checkpoint",
			               (unsigned long long)cp->size);
			goto done;
		}
	if ((rc = extra_encode(&extra, &p.extra_len, &b)) != KETEN_OK) {
		error_set(err, rc, "out of memory");
		goto done;
	}
	p.extra = extra;
	p.index = seq - 1;
	p.n_path = b.proofs[0].n_path;
	memcpy(p.path, b.proofs[0].path, sizeof(p.path));
	p.note = note;
	if ((p.note_len = bundle_note(note, sizeof(note), c, r, dir, cp)) ==
	    0) {
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
	if (b.n > 0 && extra != b.proofs[0].rec)
		free(extra);
	build_free(&b);
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

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* A roster record the extra carries: its stored bytes and proof. */
struct extra_roster {
	const uint8_t *rec;
	size_t len;
	size_t n_path;
	const uint8_t (*path)[32];
};

/* The extra's parts (extra_encode's form), pointing into x: 0 or -1. */
static int
extra_decode(const uint8_t **rec, size_t *rec_len, struct extra_roster **rs,
             size_t *n, const uint8_t *x, size_t len)
{
	static const uint8_t zero[8];
	size_t at = 13, m;

	*rs = NULL;
	*n = 0;
	if (len < 8 || memcmp(x, zero, 8) != 0) { /* a record alone */
		*rec = x;
		*rec_len = len;
		return 0;
	}
	if (len < 13 || x[8] != 1 || get32(x + 9) > len - 13)
		return -1;
	*rec = x + 13;
	*rec_len = get32(x + 9);
	at += *rec_len;
	if (len - at < 4)
		return -1;
	/* Each takes at least 5 bytes: a count the extra cannot hold is
	 * refused before anything is allocated for it. */
	if ((m = get32(x + at)) > (len - at - 4) / 5)
		return -1;
	at += 4;
	if (m > 0 && (*rs = calloc(m, sizeof(**rs))) == NULL)
		return -1;
	for (size_t i = 0; i < m; i++) {
		struct extra_roster *e = &(*rs)[i];
		if (len - at < 4 || get32(x + at) > len - at - 4 - 1)
			goto bad;
		e->len = get32(x + at);
		e->rec = x + at + 4;
		at += 4 + e->len;
		e->n_path = x[at++];
		if (e->n_path > MERKLE_PATH_MAX || (len - at) / 32 < e->n_path)
			goto bad;
		e->path = (const uint8_t(*)[32])(x + at);
		at += 32 * e->n_path;
	}
	if (at != len)
		goto bad;
	*n = m;
	return 0;
bad:
	free(*rs);
	*rs = NULL;
	return -1;
}

/* Applies the extra's roster records to r, in order, with the rules of
 * roster.c: a sentence in err if one does not. */
static int
roster_rebuild(struct roster *r, const struct extra_roster *rs, size_t n,
               struct keten_error *err)
{
	struct record rec;
	struct keten_error why;

	for (size_t i = 0; i < n; i++) {
		if (chain_record_decode(&rec, rs[i].rec, rs[i].len) != 0)
			return refuse(err,
			              "a roster record the bundle carries "
			              "is not a stored record (PROTOCOL.md "
			              "9.1)");
		if (roster_apply(r, rec.seq, rec.received_at_us, rec.envelope,
		                 rec.envelope_len, &why) != KETEN_OK)
			return error_set(err, KETEN_E_RECEIPT,
			                 "the roster record %llu the bundle "
			                 "carries does not apply: %s",
			                 (unsigned long long)rec.seq,
			                 why.message);
	}
	return KETEN_OK;
}

/* Each roster record of the extra is in the checkpoint's tree. */
static int
roster_included(const struct extra_roster *rs, size_t n,
                const struct keten_checkpoint *cp, struct keten_error *err)
{
	struct record rec;
	uint8_t hash[32], leaf[32];

	for (size_t i = 0; i < n; i++) {
		if (chain_record_decode(&rec, rs[i].rec, rs[i].len) != 0)
			return refuse(err, "a roster record is not whole");
		chain_record_hash(hash, rs[i].rec, rs[i].len);
		merkle_leaf(leaf, hash);
		if (rec.seq == 0 || rec.seq > cp->size ||
		    merkle_verify(leaf, rec.seq - 1, cp->size, rs[i].path,
		                  rs[i].n_path, cp->root) != 0)
			return error_set(
			    err, KETEN_E_RECEIPT,
			    "the inclusion proof of roster record "
			    "%llu does not lead to the root of the "
			    "checkpoint of %llu records",
			    (unsigned long long)rec.seq,
			    (unsigned long long)cp->size);
	}
	return KETEN_OK;
}

/* The checkpoint of note, signed by the broker key in force at its size
 * in r (or the config's, without roster records), whose history holds
 * the config's key; with the roster records up to its size, no fewer. */
static int
bundle_checkpoint(struct keten_checkpoint *cp, const struct config *c,
                  const struct roster *r, const char *note, size_t len,
                  struct keten_error *err)
{
	bool has_roster = roster_last_seq(r) > 0;
	struct keten_error why;
	struct note_key k;

	audit_witness_broker_key(&k, c, r, note, len);
	if (note_checkpoint_parse(cp, note, len, &k, &why) != KETEN_OK)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint is not one of region %s's "
		                 "broker: %s",
		                 c->region, why.message);
	if (note_checkpoint_verify(cp, &k) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint of %llu records is not signed "
		                 "by the broker key %s",
		                 (unsigned long long)cp->size,
		                 has_roster ? "in force at its size"
		                            : "in the region config");
	if (has_roster && !roster_broker_trusted(r, c->broker_sign_pk))
		return refuse(err, "the region config's broker key is not one "
		                   "the roster records of the bundle recorded");
	if (cp->roster_seq != roster_last_seq(r))
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint's newest roster record is "
		                 "%llu but the bundle carries the roster up to "
		                 "%llu",
		                 (unsigned long long)cp->roster_seq,
		                 (unsigned long long)roster_last_seq(r));
	return KETEN_OK;
}

int
bundle_check(struct bundle_info *out, const struct config *c, const char *buf,
             size_t len, struct keten_error *err)
{
	struct note_proof p;
	struct note n;
	struct record r;
	struct signed_record o;
	struct record_roster door = record_roster_config(c);
	struct roster *ro = NULL;
	struct extra_roster *rs = NULL;
	struct keten_error why;
	uint8_t *extra = NULL, hash[32], leaf[32];
	const uint8_t *rec;
	size_t rec_len, n_rs;
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
	if (extra_decode(&rec, &rec_len, &rs, &n_rs, extra, p.extra_len) != 0 ||
	    chain_record_decode(&r, rec, rec_len) != 0) {
		rc = refuse(err, "the extra line is not a stored record "
		                 "(PROTOCOL.md 9.1), nor one with the roster "
		                 "records (10.7)");
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
	if ((rc = roster_new(&ro, c->region, err)) != KETEN_OK ||
	    (rc = roster_rebuild(ro, rs, n_rs, err)) != KETEN_OK ||
	    (rc = bundle_checkpoint(&out->cp, c, ro, p.note, p.note_len,
	                            err)) != KETEN_OK ||
	    (rc = roster_included(rs, n_rs, &out->cp, err)) != KETEN_OK)
		goto done;
	chain_record_hash(hash, rec, rec_len);
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
	if (roster_last_seq(ro) > 0)
		door = roster_record_roster(ro);
	if (record_open(&o, &door, r.seq, r.envelope, r.envelope_len,
	                RECORD_SIG_CHECK, &why) != KETEN_OK) {
		rc = error_set(err, KETEN_E_RECEIPT,
		               "record %llu is in the signed log, but its "
		               "envelope does not open with %s: %s",
		               seq,
		               roster_last_seq(ro) > 0
		                   ? "the key in force at its seq"
		                   : "the region config's keys",
		               why.message);
		goto done;
	}
	bundle_info_fill(&out->rec, &r, &o, hash);
	if (note_split(&n, p.note, p.note_len, &why) == KETEN_OK)
		bundle_cosigners(out, c, &n);
	rc = KETEN_OK;
done:
	roster_destroy(&ro);
	free(rs);
	free(extra);
	return rc;
}
