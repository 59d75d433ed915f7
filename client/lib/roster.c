/*
 * libketen's roster: who belongs to the region with which keys, learnt
 * from the chain's roster records (docs/PROTOCOL.md 22.6), each proven in
 * a signed checkpoint. Never trusts a roster whose broker key history
 * lacks the configured broker key, nor a record it could not prove.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain.h"
#include "client.h"
#include "note.h"
#include "roster.h"

/* Whether a roster request may go out now: not inside another fetch,
 * and no pipelined reply that a nested call would skip. */
static bool
can_fetch(const struct keten_client *c)
{
	return !c->roster_fetching && c->n_inflight == 0 && !c->linking &&
	       c->link_ticket == 0;
}

/* The broker signing keys of r's history, oldest first, each once, in
 * out (NULL: only counted): the key in force after each roster record. */
static size_t
broker_history(const uint8_t **out, const struct roster *r)
{
	const uint64_t *seqs;
	const uint8_t *prev = NULL;
	size_t n = roster_records(r, &seqs), m = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *pk = roster_broker_key_for_size(r, seqs[i]);
		/* A key comes back only by a later rotation to it: compare
		 * with the one before. */
		if (pk == NULL || (prev != NULL && memcmp(prev, pk, 32) == 0))
			continue;
		if (out != NULL)
			out[m] = pk;
		prev = pk;
		m++;
	}
	return m;
}

/* c->bks: the broker keys of the roster's history as checkpoint keys,
 * then the configured one if it is not among them. */
static int
keys_rebuild(struct keten_client *c, struct keten_error *err)
{
	const uint8_t **pks = NULL;
	size_t n = 0, m = 0;
	struct note_key *k;
	bool have_cfg = false;

	if (c->roster != NULL) {
		const uint64_t *seqs;
		n = roster_records(c->roster, &seqs);
	}
	if ((pks = calloc(n + 1, sizeof(*pks))) == NULL ||
	    (k = calloc(n + 1, sizeof(*k))) == NULL) {
		free(pks);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	n = c->roster ? broker_history(pks, c->roster) : 0;
	for (size_t i = 0; i < n; i++) {
		if (note_broker_key(&k[m], c->cfg->region, pks[i]) != 0)
			continue;
		have_cfg |=
		    sodium_memcmp(pks[i], c->cfg->broker_sign_pk, 32) == 0;
		m++;
	}
	free(pks);
	c->bk_now = m > 0 ? k[m - 1] : c->cfg->broker_key;
	if (!have_cfg)
		k[m++] = c->cfg->broker_key;
	free(c->bks);
	c->bks = k;
	c->bkset.k = k;
	c->bkset.n = m;
	return KETEN_OK;
}

/* The broker key that signs a checkpoint of cp's size in r as a note
 * key, in *k: KETEN_OK or KETEN_E_RECEIPT. */
static int
key_for(struct note_key *k, const struct roster *r, const char *region,
        const struct keten_checkpoint *cp, struct keten_error *err)
{
	const uint8_t *pk = roster_broker_key_for_size(r, cp->size);

	if (pk == NULL || note_broker_key(k, region, pk) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the roster names no broker key for a "
		                 "checkpoint of %llu records",
		                 (unsigned long long)cp->size);
	return KETEN_OK;
}

static int
cp_check(const struct keten_client *c, const struct roster *r,
         const struct keten_checkpoint *cp, struct keten_error *err)
{
	struct note_key k;
	int rc;

	if ((rc = key_for(&k, r, c->cfg->region, cp, err)) != KETEN_OK)
		return rc;
	if (note_checkpoint_verify(cp, &k) != 0)
		return error_set(
		    err, KETEN_E_RECEIPT,
		    "the checkpoint of %llu records is not signed by the "
		    "broker key in force at that size (key ID "
		    "%02x%02x%02x%02x, from the chain's roster)",
		    (unsigned long long)cp->size, k.id[0], k.id[1], k.id[2],
		    k.id[3]);
	return KETEN_OK;
}

/* One roster record d of a roster reply: its hash, its proof in cp
 * (whose signature is checked once the roster is known), applied to r. */
static int
apply_one(struct roster *r, const struct delivered *d,
          const struct keten_checkpoint *cp, struct keten_error *err)
{
	struct record rec = {.seq = d->seq,
	                     .received_at_us = d->received_at_us,
	                     .envelope = d->envelope,
	                     .envelope_len = d->envelope_len};
	uint8_t hash[KETEN_HASH_LEN];

	if (d->seq <= roster_last_seq(r) || d->seq > cp->size)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker sent roster record %llu, which is "
		                 "not after record %llu or not in its log of "
		                 "%llu records",
		                 (unsigned long long)d->seq,
		                 (unsigned long long)roster_last_seq(r),
		                 (unsigned long long)cp->size);
	memcpy(rec.prev_hash, d->prev_hash, KETEN_HASH_LEN);
	chain_record_hash_of(hash, &rec);
	if (sodium_memcmp(hash, d->record_hash, KETEN_HASH_LEN) != 0 ||
	    d->n_path > KETEN_PATH_MAX ||
	    chain_inclusion_verify(d->seq, d->record_hash, cp,
	                           (const uint8_t(*)[32])d->path,
	                           d->n_path) != 0)
		return error_set(
		    err, KETEN_E_RECEIPT,
		    "the broker's proof that roster record %llu is "
		    "in its signed log of %llu records does not "
		    "hold",
		    (unsigned long long)d->seq, (unsigned long long)cp->size);
	return roster_apply(r, d->seq, d->received_at_us, d->envelope,
	                    d->envelope_len, err);
}

/* A fetch's pages must all carry one checkpoint, so that every record
 * is proven in the one tree that is held to the client's state: a broker
 * may not prove early pages in a tree of its own making (PROTOCOL.md
 * 22.6). Pages that straddle a commit are fetched again. */
#define FETCH_TRIES     4
#define FETCH_PAGES_MAX 1024 /* 64 Ki roster records: decades of changes */

struct fetch {
	struct keten_checkpoint cp; /* every page's */
	struct consistency proof;   /* the last reply's, from its known size */
	struct state_known k;       /* what that request was sent with */
	bool straddled;             /* a page carried another checkpoint */
};

static bool
same_cp(const struct keten_checkpoint *a, const struct keten_checkpoint *b)
{
	return a->size == b->size && a->roster_seq == b->roster_seq &&
	       memcmp(a->root, b->root, 32) == 0;
}

/* Fetches every roster record from the first into the empty roster r. */
static int
fetch_pages(struct fetch *f, struct keten_client *c, struct roster *r,
            struct keten_error *err)
{
	for (size_t page = 0;; page++) {
		struct request req = {.kind = WIRE_REQ_ROSTER};
		struct reply rep;
		bool more;
		int rc;

		if (page == FETCH_PAGES_MAX)
			return error_set(
			    err, KETEN_E_MALFORMED,
			    "the broker sent more than %d pages of "
			    "roster records",
			    FETCH_PAGES_MAX);
		req.after_seq = roster_last_seq(r);
		if ((rc = client_call(c, &rep, &req, err)) != KETEN_OK)
			return rc;
		if (rep.kind != WIRE_REP_ROSTER)
			rc = error_set(err, KETEN_E_MALFORMED,
			               "the broker answered a roster request "
			               "with something else");
		else if (!rep.roster.has_cp)
			rc = error_set(err, KETEN_E_RECEIPT,
			               "the broker sent roster records "
			               "without a signed checkpoint");
		else if (rep.roster.more && rep.roster.n == 0)
			rc = error_set(err, KETEN_E_MALFORMED,
			               "the broker promised more roster "
			               "records and sent none");
		else if (page > 0 && !same_cp(&f->cp, &rep.roster.cp) &&
		         rep.roster.cp.size <= f->cp.size)
			/* Not a commit between the pages: a log that did
			 * not grow cannot have another tree. */
			rc =
			    error_set(err, KETEN_E_RECEIPT,
			              "the broker's roster pages carry two "
			              "different checkpoints, of %llu and %llu "
			              "records; report this to your auditor",
			              (unsigned long long)f->cp.size,
			              (unsigned long long)rep.roster.cp.size);
		else if (page > 0 && !same_cp(&f->cp, &rep.roster.cp))
			f->straddled = true;
		if (page == 0 && rc == KETEN_OK)
			f->cp = rep.roster.cp;
		for (size_t i = 0;
		     rc == KETEN_OK && !f->straddled && i < rep.roster.n; i++)
			rc = apply_one(r, &rep.roster.records[i], &f->cp, err);
		more = rep.roster.more;
		f->proof = rep.consistency;
		f->k = c->sent;
		wire_reply_clear(&rep);
		if (rc != KETEN_OK || f->straddled || !more)
			return rc;
	}
}

/* The roster as fetched must descend from the broker key we trust. */
static int
trust_check(const struct keten_client *c, const struct roster *r,
            struct keten_error *err)
{
	size_t n;

	if (roster_last_seq(r) == 0)
		return error_set(err, KETEN_E_MALFORMED,
		                 "the broker at %s sent no roster record: it "
		                 "runs a keten from before the roster was "
		                 "recorded in the log (storage schema 5 or "
		                 "older); upgrade ketend, which records the "
		                 "roster at its next start",
		                 c->cfg->connect);
	if (roster_broker_trusted(r, c->cfg->broker_sign_pk))
		return KETEN_OK;
	n = broker_history(NULL, r);
	return error_set(
	    err, KETEN_E_CONFIG,
	    "broker.sign_key in %s is none of the %zu broker signing "
	    "key%s the log at %s records: this is not the broker of region "
	    "%s you trust, or the key in %s is wrong; ask the region's "
	    "operator for the broker's key",
	    c->cfg->path, n, n == 1 ? "" : "s", c->cfg->connect, c->cfg->region,
	    c->cfg->path);
}

/* The whole roster, in a new struct roster: every roster record the
 * checkpoint's roster line covers, each proven in it. */
static int
fetch_whole(struct roster **out, struct fetch *f, struct keten_client *c,
            struct keten_error *err)
{
	int rc = KETEN_OK;

	for (int tries = 0; tries < FETCH_TRIES; tries++) {
		memset(f, 0, sizeof(*f));
		if ((rc = roster_new(out, c->cfg->region, err)) != KETEN_OK)
			return rc;
		rc = fetch_pages(f, c, *out, err);
		if (rc == KETEN_OK && !f->straddled)
			break;
		roster_destroy(out);
		if (rc != KETEN_OK)
			return rc;
	}
	if (*out == NULL)
		return error_set(
		    err, KETEN_E_UNAVAILABLE,
		    "the broker's log kept growing while its roster "
		    "was read; try again");
	/* Nothing left out: the records end where the signed checkpoint
	 * says the roster does. */
	if (roster_last_seq(*out) != f->cp.roster_seq)
		rc =
		    error_set(err, KETEN_E_RECEIPT,
		              "the broker's roster records end at record %llu, "
		              "but its signed checkpoint of %llu records names "
		              "roster record %llu",
		              (unsigned long long)roster_last_seq(*out),
		              (unsigned long long)f->cp.size,
		              (unsigned long long)f->cp.roster_seq);
	if (rc == KETEN_OK)
		rc = trust_check(c, *out, err);
	if (rc == KETEN_OK)
		rc = cp_check(c, *out, &f->cp, err);
	if (rc != KETEN_OK)
		roster_destroy(out);
	return rc;
}

int
client_roster_fetch(struct keten_client *c, struct keten_error *err)
{
	struct fetch f;
	struct roster *r = NULL, **retired;
	struct state_known saved = c->sent;
	int rc;

	if (!can_fetch(c))
		return error_set(err, KETEN_E_USAGE,
		                 "the roster cannot be fetched while requests "
		                 "are in flight");
	c->roster_fetching = true;
	rc = fetch_whole(&r, &f, c, err);
	c->roster_fetching = false;
	/* The roster replaces the one before only whole and checked; the
	 * one before stays readable until the client goes (an audit stream
	 * or a caller may still hold it). */
	if (rc == KETEN_OK && c->roster != NULL) {
		retired = realloc(c->retired,
		                  (c->n_retired + 1) * sizeof(*c->retired));
		if (retired == NULL) {
			roster_destroy(&r);
			rc = error_set(err, KETEN_E_NOMEM, "out of memory");
		} else {
			c->retired = retired;
			c->retired[c->n_retired++] = c->roster;
		}
	}
	if (rc == KETEN_OK)
		c->roster = r;
	if (rc == KETEN_OK)
		rc = keys_rebuild(c, err);
	/* The state file is read with the chain's broker keys; the
	 * checkpoint every page carried is then held to it like any
	 * other. */
	if (rc == KETEN_OK)
		rc = client_state_ready(c, err);
	if (rc == KETEN_OK)
		rc = client_checkpoint(c, &f.cp, &f.k, &f.proof, err);
	c->sent = saved;
	return rc;
}

int
client_roster_sync(struct keten_client *c, struct keten_error *err)
{
	/* In a pipeline, the roster it was prepared with stands until the
	 * pipeline drains. */
	if (c->roster != NULL &&
	    (c->roster_want <= roster_last_seq(c->roster) || !can_fetch(c)))
		return KETEN_OK;
	return client_roster_fetch(c, err);
}

bool
client_roster_newer(struct keten_client *c)
{
	uint64_t before = c->roster ? roster_last_seq(c->roster) : 0;
	struct keten_error ignored;

	if (!can_fetch(c) || client_roster_fetch(c, &ignored) != KETEN_OK)
		return false;
	return roster_last_seq(c->roster) > before;
}

int
client_cp_verify(struct keten_client *c, const struct keten_checkpoint *cp,
                 struct keten_error *err)
{
	struct note_key k;
	int rc;

	if (cp->roster_seq > c->roster_want)
		c->roster_want = cp->roster_seq;
	if (can_fetch(c) && (rc = client_roster_sync(c, err)) != KETEN_OK)
		return rc;
	if (c->roster != NULL)
		return cp_check(c, c->roster, cp, err);
	/* Inside the first fetch: the key we trust, until the roster
	 * says which key signs which size. */
	k = c->cfg->broker_key;
	if (note_checkpoint_verify(cp, &k) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint of %llu records is not "
		                 "signed by the broker key in %s",
		                 (unsigned long long)cp->size, c->cfg->path);
	return KETEN_OK;
}

const struct agency *
client_roster_now(struct keten_client *c, const char *id, const char *what,
                  struct keten_error *err)
{
	const struct agency *a;
	struct keten_error why;

	if (client_roster_sync(c, err) != KETEN_OK)
		return NULL;
	error_clear(&why);
	if ((a = roster_find(c->roster, id, UINT64_MAX, &why)) != NULL)
		return a;
	error_set(err, KETEN_E_RECIPIENT,
	          "%s '%s' cannot be sent to: %s (the region's roster at "
	          "record %llu)",
	          what, id, why.message[0] ? why.message : "not a member",
	          (unsigned long long)roster_last_seq(c->roster));
	return NULL;
}

int
client_me_check(struct keten_client *c, struct keten_error *err)
{
	const struct roster_keyset *ks;
	const struct agency *a;
	struct keten_error why;
	int rc;

	if ((rc = client_roster_sync(c, err)) != KETEN_OK)
		return rc;
	error_clear(&why);
	if ((a = roster_find(c->roster, c->self.id, UINT64_MAX, &why)) == NULL)
		return error_set(
		    err, KETEN_E_SIGNER,
		    "%s cannot sign for the region: %s (the "
		    "region's roster at record %llu)",
		    c->self.id, why.message[0] ? why.message : "not a member",
		    (unsigned long long)roster_last_seq(c->roster));
	if (sodium_memcmp(a->sign_pk, c->keys->sign_pk, 32) == 0 &&
	    sodium_memcmp(a->box_pk, c->keys->box_pk, 32) == 0 &&
	    sodium_memcmp(a->curve_pk, c->keys->curve_pk, 32) == 0)
		return KETEN_OK;
	if ((ks = roster_keyset_of(c->roster, a->id, c->keys->sign_pk)) !=
	        NULL &&
	    ks->until_seq != 0)
		return error_set(err, KETEN_E_KEYFILE,
		                 "%s's key in %s was replaced at record %llu: "
		                 "use the new key file made by keten keygen "
		                 "--rotate",
		                 a->id, c->keys_path,
		                 (unsigned long long)ks->until_seq);
	ks = roster_keyset_of(c->roster, a->id, a->sign_pk);
	return error_set(err, KETEN_E_KEYFILE,
	                 "%s's key in force since record %llu is not the one "
	                 "in %s: use the new key file made by keten keygen "
	                 "--rotate",
	                 a->id, ks ? (unsigned long long)ks->from_seq : 0ULL,
	                 c->keys_path);
}
