/*
 * Checkpoints and inclusion proofs on the client side (docs/PROTOCOL.md
 * 10.3): what makes a receipt or a delivery evidence that the broker
 * signed a log holding the record.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chain.h"
#include "client.h"
#include "clock.h"
#include "error.h"
#include "note.h"

/* client_checkpoint compares checkpoints with memcmp: no padding. */
_Static_assert(sizeof(struct keten_checkpoint) ==
                   8 + 32 + 32 + 8 + 32 + 8 + 8 + 64,
               "struct keten_checkpoint has padding");

/* How often the state file is replaced while the log grows: a file
 * write with two fsyncs per receipt would cost as much as the broker's
 * commit. A crash loses at most this much of the newest state, which
 * only shortens what a later check can see. */
#ifndef STATE_SAVE_EVERY_US /* -D for the benchmark's comparison */
#define STATE_SAVE_EVERY_US 1000000
#endif

int
client_state_flush(struct keten_client *c, struct keten_error *err)
{
	int rc;

	if (!c->state_dirty || c->state_path == NULL)
		return KETEN_OK;
	rc = state_store(c->state_path, &c->bkset, c->cfg, &c->state, err);
	if (rc == KETEN_E_FORKED)
		return client_poison(c, err);
	if (rc != KETEN_OK)
		return error_set(err, rc,
		                 "%s (the state file keeps the newest "
		                 "checkpoint; choose another with --state or "
		                 "keten_client_set_state)",
		                 err->message);
	c->state_dirty = false;
	c->state_saved_us = clock_mono_us();
	return KETEN_OK;
}

int
client_pending_flush(struct keten_client *c, struct keten_error *err)
{
	struct keten_checkpoint *linked;
	size_t n_linked = 0;
	int rc;

	if (c->state_path == NULL || (c->n_pending == 0 && c->n_loaded == 0))
		return KETEN_OK;
	/* Apart from c->loaded, which stays as it was if the merge fails. */
	if ((c->loaded == NULL &&
	     (c->loaded = calloc(STATE_PENDING_MAX, sizeof(*c->loaded))) ==
	         NULL) ||
	    (linked = calloc(c->n_loaded + 1, sizeof(*linked))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	/* Those loaded that are no longer held were linked. */
	for (size_t i = 0; i < c->n_loaded; i++) {
		bool held = false;
		for (size_t j = 0; j < c->n_pending && !held; j++)
			held = c->pending[j].size == c->loaded[i].size &&
			       memcmp(c->pending[j].root, c->loaded[i].root,
			              KETEN_HASH_LEN) == 0;
		if (!held)
			linked[n_linked++] = c->loaded[i];
	}
	rc = state_pending_merge(c->state_path, &c->bkset, c->cfg, c->pending,
	                         c->n_pending, linked, n_linked, err);
	free(linked);
	if (rc == KETEN_OK) { /* what is still held is in the file */
		memcpy(c->loaded, c->pending,
		       (c->n_pending < STATE_PENDING_MAX ? c->n_pending
		                                         : STATE_PENDING_MAX) *
		           sizeof(*c->loaded));
		c->n_loaded = c->n_pending < STATE_PENDING_MAX
		                  ? c->n_pending
		                  : STATE_PENDING_MAX;
	}
	return rc;
}

int
client_poison(struct keten_client *c, struct keten_error *err)
{
	c->forked = true;
	c->forked_err = *err;
	return err->code;
}

/* cp, signed, against the state: advances it along a proof from it,
 * holds it for linking if its reply's proof does not start at it; a
 * single call links at once (nothing else is in flight). */
static int
hold_to_state(struct keten_client *c, const struct keten_checkpoint *cp,
              const struct state_known *k, const struct consistency *proof,
              struct keten_error *err)
{
	enum state_link link;
	int rc;

	if ((rc = state_check(&link, &c->memo, &c->state, c->state_gen, k, cp,
	                      proof, err)) != KETEN_OK)
		return client_poison(c, err);
	if (link == STATE_UNLINKED) {
		if ((rc = link_hold(c, cp, err)) != KETEN_OK)
			return rc;
		return link_all(c, err);
	}
	if (link != STATE_ADVANCE)
		return KETEN_OK;
	c->state = *cp;
	c->state_gen++;
	c->state_dirty = true;
	link_settle(c);
	if (clock_mono_us() - c->state_saved_us < STATE_SAVE_EVERY_US)
		return KETEN_OK;
	return client_state_flush(c, err);
}

int
client_checkpoint(struct keten_client *c, const struct keten_checkpoint *cp,
                  const struct state_known *k, const struct consistency *proof,
                  struct keten_error *err)
{
	/* The same fields and signature verified before: the signature
	 * holds. */
	if (!c->has_cp_ok || memcmp(cp, &c->cp_ok, sizeof(*cp)) != 0) {
		int rc = client_cp_verify(c, cp, err);
		if (rc != KETEN_OK)
			return rc;
		c->cp_ok = *cp;
		c->has_cp_ok = true;
	}
	return hold_to_state(c, cp, k, proof, err);
}

int
client_proof(struct keten_proof *out, struct keten_client *c, uint64_t seq,
             const uint8_t record_hash[32], const struct keten_checkpoint *cp,
             const uint8_t (*path)[32], size_t n_path,
             const struct state_known *k, const struct consistency *proof,
             struct keten_error *err)
{
	int rc;

	if ((rc = client_checkpoint(c, cp, k, proof, err)) != KETEN_OK)
		return rc;
	if (n_path > KETEN_PATH_MAX ||
	    chain_inclusion_verify(seq, record_hash, cp, path, n_path) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the broker's proof that record %llu is in "
		                 "its signed log of %llu records does not "
		                 "hold",
		                 (unsigned long long)seq,
		                 (unsigned long long)cp->size);
	out->checkpoint = *cp;
	out->n_path = n_path;
	if (n_path > 0) /* a one-record log has an empty path, maybe NULL */
		memcpy(out->path, path, n_path * KETEN_HASH_LEN);
	return KETEN_OK;
}

int
keten_proof_check(const char *config_path, uint64_t seq,
                  const uint8_t record_hash[KETEN_HASH_LEN],
                  const struct keten_proof *p, struct keten_error *err)
{
	struct config *cfg;
	const struct keten_checkpoint *cp = &p->checkpoint;
	int rc;

	error_clear(err);
	if (config_path == NULL || record_hash == NULL || p == NULL)
		return error_set(err, KETEN_E_USAGE,
		                 "keten_proof_check needs a config path, a "
		                 "record hash and a proof");
	if (sodium_init() < 0)
		return error_set(err, KETEN_E_INTERNAL, "libsodium failed");
	if ((rc = config_load_client(&cfg, config_path, err)) != KETEN_OK)
		return rc;
	/* Only the config's key: a bare proof carries no roster, and
	 * nothing here reads the chain's broker key history (API.md). */
	if (note_checkpoint_verify(cp, &cfg->broker_key) != 0)
		rc =
		    error_set(err, KETEN_E_RECEIPT,
		              "the checkpoint of %llu records is not signed "
		              "by the broker key in %s: it is signed by "
		              "another broker key than the config's, or "
		              "forged; check it with a config holding that "
		              "key, or with a proof bundle (keten audit proof)",
		              (unsigned long long)cp->size, config_path);
	else if (p->n_path > KETEN_PATH_MAX ||
	         chain_inclusion_verify(seq, record_hash, cp,
	                                (const uint8_t(*)[32])p->path,
	                                p->n_path) != 0)
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the proof that record %llu is in the signed "
		               "log of %llu records does not hold",
		               (unsigned long long)seq,
		               (unsigned long long)cp->size);
	config_destroy(&cfg);
	return rc;
}
