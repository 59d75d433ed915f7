/*
 * Checkpoints and inclusion proofs on the client side (docs/PROTOCOL.md
 * 10.3): what makes a receipt or a delivery evidence that the broker
 * signed a log holding the record.
 */
#include <string.h>

#include <sodium.h>

#include "chain.h"
#include "client.h"
#include "error.h"
#include "note.h"

/* client_checkpoint compares checkpoints with memcmp: no padding. */
_Static_assert(sizeof(struct keten_checkpoint) == 8 + 32 + 32 + 8 + 32 + 8 + 64,
               "struct keten_checkpoint has padding");

int
client_checkpoint(struct keten_client *c, const struct keten_checkpoint *cp,
                  struct keten_error *err)
{
	/* The same fields and signature verified before: the signature
	 * holds. */
	if (c->has_cp_ok && memcmp(cp, &c->cp_ok, sizeof(*cp)) == 0)
		return KETEN_OK;
	if (note_checkpoint_verify(cp, &c->cfg->broker_key) != 0)
		return error_set(err, KETEN_E_RECEIPT,
		                 "the checkpoint of %llu records is not signed "
		                 "by the broker key in %s",
		                 (unsigned long long)cp->size, c->cfg->path);
	c->cp_ok = *cp;
	c->has_cp_ok = true;
	return KETEN_OK;
}

int
client_proof(struct keten_proof *out, struct keten_client *c, uint64_t seq,
             const uint8_t record_hash[32], const struct keten_checkpoint *cp,
             const uint8_t (*path)[32], size_t n_path, struct keten_error *err)
{
	int rc;

	if ((rc = client_checkpoint(c, cp, err)) != KETEN_OK)
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
	if ((rc = config_load(&cfg, config_path, err)) != KETEN_OK)
		return rc;
	if (note_checkpoint_verify(cp, &cfg->broker_key) != 0)
		rc = error_set(err, KETEN_E_RECEIPT,
		               "the checkpoint of %llu records is not signed "
		               "by the broker key in %s",
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
